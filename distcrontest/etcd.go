package distcrontest

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/embedetcd"
)

// Etcd starts a single-member etcd server inside the test process, on
// free ports of 127.0.0.1 with its data in t.TempDir() (fsync on, as in
// production), and returns a client of it. The server is stopped and the
// client closed when the test ends. Each call starts its own server; give
// each scheduler its own client with [Client] when the test needs several.
func Etcd(t testing.TB) *clientv3.Client {
	t.Helper()
	srv, err := embedetcd.Start(t.TempDir(), embedetcd.Options{})
	if err != nil {
		t.Fatalf("distcrontest: start etcd: %v", err)
	}
	t.Cleanup(srv.Close)
	return Client(t, srv.Endpoints())
}

// Client returns a new client of the etcd at endpoints (for example
// Etcd(t).Endpoints()), closed when the test ends.
func Client(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("distcrontest: etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
