package logsink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var alwaysKeys = []string{
	"job", "tick", "shard", "instance", "trigger", "attempt", "token",
	"started", "finished", "duration", "status", "exit_code",
}

func TestJSONSinkLines(t *testing.T) {
	full := rec("backup", 7)
	full.Shard = 2
	full.Status = StatusFailed
	full.Error = "exit status 3"
	full.ExitCode = 3
	full.Output = "line one\nline <two> & \"three\"\n"
	badTime := rec("far-future", 1)
	badTime.Tick = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name     string
		rec      Record
		keys     []string
		exact    bool // the line decodes back to rec
		errorHas string
	}{
		{"minimal", rec("j", 1), alwaysKeys, true, ""},
		{"full", full, append(slices.Clone(alwaysKeys), "error", "output"), true, ""},
		{"unencodable time", badTime, append(slices.Clone(alwaysKeys), "error"), false, "not encodable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := NewJSON(&buf)
			if err := s.Write(context.Background(), []Record{tt.rec, tt.rec}); err != nil {
				t.Fatalf("Write: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
			}
			for _, line := range lines {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				got := slices.Sorted(maps.Keys(m))
				if want := slices.Sorted(slices.Values(tt.keys)); !slices.Equal(got, want) {
					t.Errorf("keys = %v, want %v", got, want)
				}
				var back Record
				if err := json.Unmarshal([]byte(line), &back); err != nil {
					t.Fatal(err)
				}
				if tt.exact && !reflect.DeepEqual(back, tt.rec) {
					t.Errorf("decoded %+v, want %+v", back, tt.rec)
				}
				if !strings.Contains(back.Error, tt.errorHas) {
					t.Errorf("error field %q does not contain %q", back.Error, tt.errorHas)
				}
			}
			if strings.Contains(buf.String(), `\u003c`) {
				t.Errorf("HTML escaped: %s", buf.String())
			}
		})
	}
}

// trickleWriter hands each byte to the buffer separately, yielding between
// bytes, so unsynchronized writers would interleave mid-line.
type trickleWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *trickleWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		w.mu.Lock()
		w.buf.WriteByte(c)
		w.mu.Unlock()
		runtime.Gosched()
	}
	return len(p), nil
}

func TestJSONSinkConcurrentWritesDoNotInterleave(t *testing.T) {
	const writers, batches, perBatch = 6, 10, 4
	w := &trickleWriter{}
	s := NewJSON(w)
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]Record, perBatch)
				for i := range batch {
					batch[i] = rec(jobName(g), b*perBatch+i)
				}
				if err := s.Write(context.Background(), batch); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	sc := bufio.NewScanner(&w.buf)
	var got []Record
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("interleaved or broken line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	if len(got) != writers*batches*perBatch {
		t.Fatalf("got %d lines, want %d", len(got), writers*batches*perBatch)
	}
	for g, toks := range tokens(got) {
		if !slices.Equal(toks, seq(0, batches*perBatch)) {
			t.Errorf("%s: tokens %v out of order", g, toks)
		}
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestJSONSinkErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		w    errWriter
		want error
	}{
		{"writer error is returned", context.Background(), errWriter{errDisk}, errDisk},
		{"done context", cancelled, errWriter{nil}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewJSON(tt.w).Write(tt.ctx, []Record{rec("j", 1)})
			if !errors.Is(err, tt.want) {
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
		})
	}
}
