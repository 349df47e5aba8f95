// Package etcdtest gives tests a real etcd: an embedded server or cluster
// on 127.0.0.1 in t.TempDir(), and clients that are closed on cleanup.
package etcdtest

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/embedetcd"
)

// Start starts a single-node etcd for the test and stops it on cleanup.
func Start(t testing.TB) *embedetcd.Cluster { return StartCluster(t, 1) }

// StartCluster starts an n-member etcd cluster for the test.
func StartCluster(t testing.TB, n int) *embedetcd.Cluster {
	t.Helper()
	c, err := embedetcd.StartCluster(t.TempDir(), n, embedetcd.Options{})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Client returns a new client to the cluster, closed on cleanup.
func Client(t testing.TB, c *embedetcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
