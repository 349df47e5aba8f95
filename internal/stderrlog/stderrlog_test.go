package stderrlog

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestWarningsAndErrorsOnly(t *testing.T) {
	var buf bytes.Buffer
	l := to(zapcore.AddSync(&buf)).Named("distcron")
	l.Info("quiet")
	l.Debug("quiet")
	l.Warn("sink write failed", zap.String("sink", "x"))
	l.Error("dropped")
	out := buf.String()
	if strings.Contains(out, "quiet") {
		t.Errorf("info or debug printed:\n%s", out)
	}
	if lines := strings.Count(out, "\n"); lines != 2 || !strings.Contains(out, "WARN\tdistcron\tsink write failed\t{\"sink\": \"x\"}") || !strings.Contains(out, "ERROR\tdistcron\tdropped") {
		t.Errorf("output:\n%s\nwant one WARN and one ERROR line, named", out)
	}
}
