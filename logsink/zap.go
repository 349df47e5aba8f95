package logsink

import (
	"context"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ZapSink logs each record as one structured entry with the message "run".
//
// The field keys are stable: job, tick, shard, instance, status, trigger,
// attempt, token, started, finished, duration, exit_code, and error and
// output when they are not empty (mirroring the JSON form of [Record]).
// Succeeded and skipped runs are logged at Info level, every other status at
// Warn. ZapSink is safe for concurrent use; Write never fails.
type ZapSink struct {
	l *zap.Logger
}

var _ Sink = (*ZapSink)(nil)

// NewZap returns a sink that logs records to l. A nil l logs nowhere
// (zap.NewNop). The logger is used as given: name it or add fields with
// l.Named / l.With before passing it in.
func NewZap(l *zap.Logger) *ZapSink {
	if l == nil {
		l = zap.NewNop()
	}
	return &ZapSink{l: l}
}

// Write logs every record of batch and returns nil. It does not call Sync
// and ignores ctx; it blocks only as long as the logger's core does.
func (s *ZapSink) Write(_ context.Context, batch []Record) error {
	var f []zap.Field // allocated once per batch, reused per record
	for i := range batch {
		r := &batch[i]
		ce := s.l.Check(zapLevel(r.Status), "run")
		if ce == nil {
			continue
		}
		if f == nil {
			f = make([]zap.Field, 0, 15)
		}
		f = append(f[:0],
			zap.String("job", r.Job),
			zap.Time("tick", r.Tick),
			zap.Int("shard", r.Shard),
			zap.String("instance", r.Instance),
			zap.String("status", string(r.Status)),
			zap.String("trigger", string(r.Trigger)),
			zap.Int("attempt", r.Attempt),
			zap.Int64("token", r.Token),
			zap.Time("started", r.Started),
			zap.Time("finished", r.Finished),
			zap.Duration("duration", r.Duration),
			zap.Int("exit_code", r.ExitCode),
		)
		if r.Error != "" {
			f = append(f, zap.String("error", r.Error))
		}
		if r.Output != "" {
			f = append(f, zap.String("output", r.Output))
		}
		ce.Write(f...)
	}
	return nil
}

func zapLevel(s Status) zapcore.Level {
	switch s {
	case StatusSucceeded, StatusSkipped:
		return zapcore.InfoLevel
	default:
		return zapcore.WarnLevel
	}
}
