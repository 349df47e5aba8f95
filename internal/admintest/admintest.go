// Package admintest is what the admin handler's tests share (those beside
// the package and the browser tests in the tests module): one etcd for a
// test binary, clusters of schedulers under fresh namespaces with an
// in-memory history, and the handler served as a host app would serve it.
package admintest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

// endpoints is the etcd that Main started.
var endpoints []string

// Main starts one etcd for the test binary, runs its tests, stops etcd and
// checks for leaked goroutines; a TestMain passes its result to os.Exit.
func Main(m *testing.M) int {
	etcd, err := etcdtest.New("", 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	endpoints = etcd.Endpoints()
	code := m.Run()
	etcd.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

var namespaces atomic.Int64

// Cluster is a set of schedulers under one fresh namespace, sharing one
// in-memory history store.
type Cluster struct {
	t       *testing.T
	ns      string
	History *sinktest.Memory
}

// NewCluster returns an empty cluster for t.
func NewCluster(t *testing.T) *Cluster {
	return &Cluster{t: t, ns: fmt.Sprintf("/distcron-admin-test/%d-%s/", namespaces.Add(1), t.Name()), History: new(sinktest.Memory)}
}

// EtcdClient returns a client of Main's etcd, closed on cleanup.
func EtcdClient(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Node makes a scheduler of the cluster (not started), with its own client.
func (c *Cluster) Node(id string, opts ...distcron.Option) *distcron.Scheduler {
	c.t.Helper()
	return c.NodeOn(EtcdClient(c.t), id, opts...)
}

// NodeOn makes a scheduler of the cluster (not started) on cli.
func (c *Cluster) NodeOn(cli *clientv3.Client, id string, opts ...distcron.Option) *distcron.Scheduler {
	c.t.Helper()
	base := []distcron.Option{
		distcron.WithNamespace(c.ns), distcron.WithInstanceID(id), distcron.WithSinks(c.History),
		distcron.WithLogger(zaptest.NewLogger(c.t, zaptest.Level(zap.WarnLevel)).Named(id)),
		distcron.WithSessionTTL(2 * time.Second), distcron.WithStopGrace(2 * time.Second),
		distcron.WithDeliveryOptions(logsink.WithFlushInterval(20 * time.Millisecond)),
		distcron.WithRemoteScheduleFloor(10 * time.Millisecond), // the tests define fast jobs
	}
	s, err := distcron.New(cli, append(base, opts...)...)
	if err != nil {
		c.t.Fatalf("New(%s): %v", id, err)
	}
	return s
}

// Start starts s and stops it at cleanup.
func (c *Cluster) Start(s *distcron.Scheduler) *distcron.Scheduler {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		c.t.Fatalf("Start: %v", err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil && err != distcron.ErrNotStarted {
			c.t.Logf("Stop(%s): %v", s.InstanceID(), err)
		}
	})
	return s
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Serve serves the admin handler of s under /cron/, as a host app would,
// until cleanup, and returns the handler's base URL (http://host:port/cron/).
func Serve(t *testing.T, s *distcron.Scheduler, opts ...admin.Option) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/cron/", http.StripPrefix("/cron", admin.NewHandler(s, opts...)))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL + "/cron/"
}

// Token is what Allow accepts, as an Authorization header value.
const Token = "Bearer sesame"

// Allow is an authorizer that accepts requests carrying Token.
func Allow(r *http.Request) error {
	if r.Header.Get("Authorization") != Token {
		return fmt.Errorf("missing or wrong token")
	}
	return nil
}

// Namespace is the cluster's etcd key prefix.
func (c *Cluster) Namespace() string { return c.ns }
