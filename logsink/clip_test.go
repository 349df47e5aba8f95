package logsink

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// bigOutput is a shell step's output at executor.MaxOutput (64 KiB).
var bigOutput = strings.Repeat("0123456789abcdef output line\n", (64<<10)/29+1)[:64<<10]

// oversized returns the record of issue 10: a delivery job of n steps, each
// with 64 KiB of output (300 steps: about 19 MiB).
func oversized(n int) Record {
	r := rec("pipeline", 1)
	r.Status, r.Error, r.ExitCode, r.Output = StatusFailed, "step s299: exit status 1", 1, bigOutput
	for i := range n {
		r.Steps = append(r.Steps, StepRecord{Name: fmt.Sprintf("s%d", i), Status: StatusSucceeded,
			Started: r.Started.Add(time.Duration(i) * time.Second), Duration: time.Second, Output: bigOutput})
	}
	r.Steps[n-1].Status, r.Steps[n-1].Error, r.Steps[n-1].ExitCode = StatusFailed, "exit status 1", 1
	return r
}

// A 300-step record of 64 KiB outputs (issue 10) is clipped to the bounds
// every sink stores: the first and last steps, outputs cut at their start,
// a note in Error. The caller's record is left alone and clipping again
// changes nothing.
func TestClipOversizedPipelineRecord(t *testing.T) {
	r := oversized(300)
	orig := r
	origSteps := append([]StepRecord(nil), r.Steps...)
	if r.Size() < 18<<20 {
		t.Fatalf("test record is %d bytes, want about 19 MiB", r.Size())
	}
	c, clipped := r.Clip()
	if !clipped {
		t.Fatal("Clip reported nothing clipped")
	}
	if got := c.Size(); got > MaxRecordBytes || got < MaxRecordBytes*9/10 {
		t.Errorf("clipped Size = %d, want at most MaxRecordBytes (%d) and not much less", got, MaxRecordBytes)
	}
	if len(c.Steps) != MaxRecordSteps {
		t.Fatalf("clipped to %d steps, want %d", len(c.Steps), MaxRecordSteps)
	}
	for i, st := range c.Steps {
		want := i
		if i >= MaxRecordSteps/2 {
			want = 300 - MaxRecordSteps + i
		}
		if st.Name != fmt.Sprintf("s%d", want) {
			t.Fatalf("step %d is %s, want s%d (the first and last steps are kept)", i, st.Name, want)
		}
		if !strings.HasPrefix(st.Output, ClipMark) || !strings.HasSuffix(bigOutput, strings.TrimPrefix(st.Output, ClipMark)) {
			t.Fatalf("step %d output is not %q + a tail of the original", i, ClipMark)
		}
	}
	if last := c.Steps[len(c.Steps)-1]; last.Status != StatusFailed || last.Error != "exit status 1" {
		t.Errorf("the failed last step lost its status or error: %+v", last)
	}
	if !strings.HasPrefix(c.Error, "step s299: exit status 1\n"+ClipNote) || !strings.Contains(c.Error, "steps 51-250 of 300 omitted") {
		t.Errorf("Error = %q, want the original error, then a note on its own line", c.Error)
	}
	if c.ID() != orig.ID() || c.Status != orig.Status || c.Token != orig.Token || c.ExitCode != orig.ExitCode {
		t.Errorf("clipping changed the identity or outcome: %+v", c)
	}
	if !reflect.DeepEqual(r.Steps, origSteps) || r.Error != orig.Error {
		t.Error("Clip modified the caller's record")
	}
	if again, clipped := c.Clip(); clipped || !reflect.DeepEqual(again, c) {
		t.Error("clipping a clipped record changed it")
	}
}

func TestClip(t *testing.T) {
	big := strings.Repeat("é", 3<<20) // 6 MiB of two-byte characters
	tests := []struct {
		name    string
		rec     func() Record
		clipped bool
		check   func(t *testing.T, orig, c Record)
	}{
		{"small record unchanged", func() Record { r := rec("j", 1); r.Output = bigOutput; return r }, false, nil},
		{"at the step limit unchanged", func() Record { return withSteps(rec("j", 1), MaxRecordSteps, "out") }, false, nil},
		{"one step too many", func() Record { return withSteps(rec("j", 1), MaxRecordSteps+1, "out") }, true,
			func(t *testing.T, orig, c Record) {
				if len(c.Steps) != MaxRecordSteps || c.Steps[MaxRecordSteps-1].Name != orig.Steps[MaxRecordSteps].Name {
					t.Errorf("got %d steps ending with %q", len(c.Steps), c.Steps[len(c.Steps)-1].Name)
				}
				if c.Steps[0].Output != "out" {
					t.Errorf("a small output was cut: %q", c.Steps[0].Output)
				}
				if c.Error != ClipNote+"steps 51-51 of 101 omitted]" {
					t.Errorf("Error = %q", c.Error)
				}
			}},
		{"huge output keeps its tail", func() Record { r := rec("j", 1); r.Output = big + "THE END"; return r }, true,
			func(t *testing.T, orig, c Record) {
				if !strings.HasPrefix(c.Output, ClipMark) || !strings.HasSuffix(c.Output, "THE END") {
					t.Errorf("Output does not keep its tail after %q", ClipMark)
				}
				if !strings.HasPrefix(c.Error, ClipNote) {
					t.Errorf("a succeeded record's Error = %q, want the note", c.Error)
				}
			}},
		{"huge error keeps its head", func() Record {
			r := rec("j", 1)
			r.Status, r.Error, r.Output = StatusFailed, "panic: boom\n"+big, "small output"
			return r
		}, true,
			func(t *testing.T, orig, c Record) {
				head, note, ok := strings.Cut(c.Error, "\n"+ClipNote)
				if !ok || !strings.HasPrefix(head, "panic: boom\n") || !strings.HasSuffix(head, ClipMark) {
					t.Errorf("Error does not keep its head, then %q, then the note", ClipMark)
				}
				if !strings.HasSuffix(note, "]") || c.Output != "small output" {
					t.Errorf("note %q, output %q", note, c.Output)
				}
			}},
		{"fair share: small texts stay whole", func() Record {
			r := withSteps(rec("j", 1), 10, "small")
			r.Steps[3].Output = big
			r.Steps[7].Error = big
			return r
		}, true,
			func(t *testing.T, orig, c Record) {
				for i, st := range c.Steps {
					if i != 3 && st.Output != "small" {
						t.Errorf("step %d output cut to %d bytes", i, len(st.Output))
					}
				}
				if a, b := len(c.Steps[3].Output), len(c.Steps[7].Error); a < MaxRecordBytes/3 || b < MaxRecordBytes/3 {
					t.Errorf("the two big texts got %d and %d bytes, want about half the bound each", a, b)
				}
			}},
		{"huge names", func() Record {
			r := withSteps(rec(strings.Repeat("j", 2<<20), 1), 3, "out")
			r.Instance = strings.Repeat("i", 2<<20)
			r.Steps[1].Name = strings.Repeat("n", 2<<20)
			return r
		}, true,
			func(t *testing.T, orig, c Record) {
				if len(c.Job) != 1024 || len(c.Instance) != 1024 || len(c.Steps[1].Name) != 1024 {
					t.Errorf("names cut to %d, %d, %d bytes, want 1024", len(c.Job), len(c.Instance), len(c.Steps[1].Name))
				}
				if c.Steps[0].Output != "out" {
					t.Errorf("small output cut: %q", c.Steps[0].Output)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec()
			c, clipped := r.Clip()
			if clipped != tt.clipped {
				t.Fatalf("clipped = %v, want %v", clipped, tt.clipped)
			}
			checkClipped(t, r, c)
			if !clipped && !reflect.DeepEqual(c, r) {
				t.Fatal("unclipped record changed")
			}
			if tt.check != nil {
				tt.check(t, r, c)
			}
		})
	}
}

// Random records, large and small, always clip within the bounds, to
// valid UTF-8, and clipping is idempotent.
func TestClipRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(10, 10))
	texts := []string{"", "x", "ü日本", strings.Repeat("ab", 1000), bigOutput, strings.Repeat("日", 200_000)}
	pick := func() string { return texts[rnd.IntN(len(texts))] }
	for i := range 300 {
		r := rec(jobName(i), i)
		r.Error, r.Output = pick(), pick()
		for range rnd.IntN(3 * MaxRecordSteps) {
			r.Steps = append(r.Steps, StepRecord{Name: pick(), Status: StatusSucceeded, Error: pick(), Output: pick()})
		}
		c, _ := r.Clip()
		checkClipped(t, r, c)
		if t.Failed() {
			t.Fatalf("record %d: %d steps, %d bytes", i, len(r.Steps), r.Size())
		}
	}
}

// checkClipped checks what holds for every clipped record c of r.
func checkClipped(t *testing.T, r, c Record) {
	t.Helper()
	if c.Size() > MaxRecordBytes || len(c.Steps) > MaxRecordSteps {
		t.Errorf("clipped record has %d bytes and %d steps, want at most %d and %d", c.Size(), len(c.Steps), MaxRecordBytes, MaxRecordSteps)
	}
	valid := func(s, orig string) bool { return utf8.ValidString(s) || !utf8.ValidString(orig) }
	if !valid(c.Output, r.Output) || !valid(c.Error, r.Error) || !valid(c.Job, r.Job) {
		t.Error("clipping made text invalid UTF-8")
	}
	if again, clipped := c.Clip(); clipped || !reflect.DeepEqual(again, c) {
		t.Error("clipping a clipped record changed it")
	}
}

func withSteps(r Record, n int, out string) Record {
	for i := range n {
		r.Steps = append(r.Steps, StepRecord{Name: fmt.Sprintf("step-%d", i), Status: StatusSucceeded, Started: r.Started, Output: out})
	}
	return r
}

// Send clips: the sink gets the clipped record, and Stats counts it.
func TestPipelineSendClips(t *testing.T) {
	s := &testSink{}
	p := newTestPipeline(t, s, WithFlushInterval(time.Millisecond))
	big := oversized(300)
	p.Send(big)
	p.Send(rec("after", 2))
	stop(t, p)
	got := s.records()
	if len(got) != 2 {
		t.Fatalf("sink got %d records, want 2", len(got))
	}
	want, _ := big.Clip()
	if !reflect.DeepEqual(got[0], want) || got[0].Size() > MaxRecordBytes {
		t.Errorf("sink got a record of %d bytes and %d steps, want the clipped one (%d bytes)", got[0].Size(), len(got[0].Steps), want.Size())
	}
	if st := p.Stats(); st != (DeliveryStats{Written: 2, Clipped: 1}) {
		t.Errorf("Stats = %+v, want Written 2 Clipped 1", st)
	}
}
