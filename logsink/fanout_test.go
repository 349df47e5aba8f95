package logsink

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestFanout(t *testing.T) {
	tests := []struct {
		name string
		fail []bool // which sinks fail
	}{
		{"all succeed", []bool{false, false}},
		{"first fails", []bool{true, false}},
		{"second fails", []bool{false, true}},
		{"both fail", []bool{true, true}},
		{"no sinks", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sinks []Sink
			var tss []*testSink
			wantErr := false
			for _, f := range tt.fail {
				ts := &testSink{failing: f}
				tss = append(tss, ts)
				sinks = append(sinks, ts)
				wantErr = wantErr || f
			}
			sinks = append(sinks, nil) // ignored
			batch := []Record{rec("j", 1), rec("j", 2)}
			err := Fanout(sinks...).Write(context.Background(), batch)
			if got := errors.Is(err, errSinkDown); got != wantErr {
				t.Errorf("Write = %v, want an error: %v", err, wantErr)
			}
			if !wantErr && err != nil {
				t.Errorf("Write = %v, want nil", err)
			}
			for i, ts := range tss {
				if ts.calls != 1 {
					t.Errorf("sink %d called %d times, want 1", i, ts.calls)
				}
				if wantRecs := map[bool]int{true: 0, false: 2}[tt.fail[i]]; len(ts.records()) != wantRecs {
					t.Errorf("sink %d got %d records, want %d", i, len(ts.records()), wantRecs)
				}
			}
		})
	}
}

func TestDiscard(t *testing.T) {
	var d Discard
	_ = d.Write(context.Background(), make([]Record, 3))
	_ = d.Write(context.Background(), make([]Record, 4))
	if d.Records() != 7 {
		t.Errorf("Records = %d, want 7", d.Records())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Issue 12: a fanout error said "distcron: " again inside, after the sink
// it names.
func TestFanoutErrorReadsOnce(t *testing.T) {
	err := Fanout(NewJSON(failingWriter{})).Write(context.Background(), []Record{rec("j", 1)})
	if err == nil {
		t.Fatal("Write = nil, want the JSON sink's error")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "distcron: fanout sink 0 (") || strings.Count(msg, "distcron: ") != 1 ||
		!strings.HasSuffix(msg, ": json sink: disk full") {
		t.Errorf("Write = %q, want \"distcron: fanout sink 0 (<type>): json sink: disk full\"", msg)
	}
}
