package distcron

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/logsink"
)

// defaultLogEnv makes the test binary a host app that uses the default
// logger: it runs a job whose records go to a sink that always fails, with
// a one-record buffer, for a second, against the etcd endpoint in the
// variable.
const defaultLogEnv = "DISTCRON_TEST_DEFAULT_LOGGER_ETCD"

func init() {
	if ep := os.Getenv(defaultLogEnv); ep != "" {
		os.Exit(defaultLoggerHost(ep))
	}
}

type refusingSink struct{}

func (refusingSink) Write(context.Context, []logsink.Record) error {
	return errors.New("dial tcp 127.0.0.1:9: connection refused")
}

func defaultLoggerHost(endpoint string) int {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 2
	}
	defer cli.Close()
	s, err := New(cli, WithNamespace("/default-logger/"), WithSinks(refusingSink{}),
		WithDeliveryOptions(logsink.WithBufferSize(1), logsink.WithBatchSize(1), logsink.WithFlushInterval(10*time.Millisecond)))
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 3
	}
	if err := s.RegisterFunc("tick", "@every 50ms", func(context.Context) error { return nil }); err != nil {
		return 4
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 5
	}
	time.Sleep(time.Second) // the host's lifetime, not an assertion
	stop, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_ = s.Stop(stop)
	return 0
}

// Issue 12: with the default logger, a failing sink and dropped records
// passed unseen (main discarded every message). A host that configures no
// logger now sees them on standard error.
func TestDefaultLoggerReportsFailuresOnStderr(t *testing.T) {
	etcd := etcdtest.Start(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), defaultLogEnv+"="+etcd.Endpoints()[0])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("host: %v\n%s", err, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"WARN\tdistcron.logsink\tsink write failed", "connection refused", "WARN\tdistcron.logsink\trun records dropped", "ERROR\tdistcron.logsink\tdelivery stopped with undelivered records"} {
		if !strings.Contains(out, want) {
			t.Errorf("standard error lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "INFO") {
		t.Errorf("standard error has info lines; the default shows warnings and errors only:\n%s", out)
	}
}
