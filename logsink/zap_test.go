package logsink

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapSink(t *testing.T) {
	failed := rec("report", 9)
	failed.Shard = 1
	failed.Status = StatusFailed
	failed.Error = "boom"
	failed.ExitCode = 2
	failed.Output = "tail"
	tests := []struct {
		name      string
		rec       Record
		level     zapcore.Level
		withError bool
	}{
		{"succeeded", rec("backup", 4), zapcore.InfoLevel, false},
		{"skipped", func() Record { r := rec("backup", 5); r.Status = StatusSkipped; return r }(), zapcore.InfoLevel, false},
		{"failed", failed, zapcore.WarnLevel, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			if err := NewZap(zap.New(core)).Write(context.Background(), []Record{tt.rec}); err != nil {
				t.Fatal(err)
			}
			all := logs.All()
			if len(all) != 1 {
				t.Fatalf("%d entries, want 1", len(all))
			}
			e := all[0]
			if e.Message != "run" || e.Level != tt.level {
				t.Errorf("entry %q at %v, want \"run\" at %v", e.Message, e.Level, tt.level)
			}
			m := e.ContextMap()
			r := tt.rec
			want := map[string]any{
				"job": r.Job, "tick": r.Tick, "shard": int64(r.Shard), "instance": r.Instance,
				"status": string(r.Status), "trigger": string(r.Trigger), "attempt": int64(r.Attempt),
				"token": r.Token, "started": r.Started, "finished": r.Finished,
				"duration": r.Duration, "exit_code": int64(r.ExitCode),
			}
			if tt.withError {
				want["error"], want["output"] = r.Error, r.Output
			}
			for k, v := range want {
				got, ok := m[k]
				if !ok {
					t.Errorf("field %q missing", k)
					continue
				}
				if gt, ok := got.(time.Time); ok {
					if !gt.Equal(v.(time.Time)) {
						t.Errorf("%s = %v, want %v", k, gt, v)
					}
				} else if got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			for k := range m {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected field %q", k)
				}
			}
		})
	}
}

func TestZapSinkNilLogger(t *testing.T) {
	if err := NewZap(nil).Write(context.Background(), []Record{rec("j", 1)}); err != nil {
		t.Fatal(err)
	}
}
