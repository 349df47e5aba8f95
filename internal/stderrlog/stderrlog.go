// Package stderrlog is the logger distcron uses when the host app passes
// none: warnings and errors, one line each, on the process's standard
// error, so that failures are never silent with default settings (as the
// etcd client does). Pass zap.NewNop() to the WithLogger options to quiet
// it.
package stderrlog

import (
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger of warnings and errors to os.Stderr.
func New() *zap.Logger { return to(zapcore.Lock(os.Stderr)) }

func to(w zapcore.WriteSyncer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), w, zapcore.WarnLevel))
}

// Or returns l, or New() when l is nil: what a WithLogger option applies.
func Or(l *zap.Logger) *zap.Logger {
	if l == nil {
		return New()
	}
	return l
}
