package distcron

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/logsink"
)

// Issue 10: shell jobs defined over the network do not inherit the
// instance's environment: they get PATH, HOME, LANG, TZ, the names passed
// through with WithRemoteShellEnv, and their own entries.
func TestRemoteShellJobsGetAMinimalEnvironment(t *testing.T) {
	t.Setenv("SECRET_DB_PASSWORD", "hunter2")
	t.Setenv("PASSED_THROUGH", "visible")
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true), WithRemoteShellEnv("PASSED_THROUGH"))
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Define(ctx, Definition{Name: "env", Kind: "shell", Schedule: "@yearly",
		Shell: &ShellSpec{Command: "env", Env: []string{"OWN=entry"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition applied", func() bool { _, ok := s.JobInfo("env"); return ok })
	if err := s.Trigger(ctx, "env"); err != nil {
		t.Fatal(err)
	}
	var out string
	waitFor(t, 10*time.Second, "the run's output", func() bool {
		for _, r := range recordsOf(tc.sink, "env") {
			out = r.Output
			return true
		}
		return false
	})
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "PASSED_THROUGH=visible") ||
		!strings.Contains(out, "OWN=entry") || !strings.Contains(out, "PATH=") {
		t.Fatalf("environment of a remote shell job:\n%s", out)
	}
}

// Issue 10: remote HTTP jobs are checked on the resolved address: a
// loopback target is refused unless listed by address, and
// WithRemoteHTTP without hosts is an error rather than "any host".
func TestRemoteHTTPChecksTheResolvedAddress(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	tc := newTestCluster(t)
	if _, err := New(etcdClientOf(tc), WithRemoteHTTP()); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("WithRemoteHTTP() with no hosts: %v", err)
	}
	// "localhost" is allowed by name, but it resolves to loopback.
	byName, _ := tc.newScheduler("by-name", WithRemoteHTTP("localhost"))
	tc.start(byName)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := byName.Define(ctx, Definition{Name: "hook", Kind: "http", Schedule: "@yearly",
		HTTP: &HTTPSpec{URL: "http://localhost:" + port + "/"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition applied", func() bool { _, ok := byName.JobInfo("hook"); return ok })
	if err := byName.Trigger(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refused run's record", func() bool { return len(recordsOf(tc.sink, "hook")) > 0 })
	if r := recordsOf(tc.sink, "hook")[0]; r.Status != logsink.StatusFailed || hits.Load() != 0 {
		t.Fatalf("a loopback target was reached: %+v, %d requests", r, hits.Load())
	}
	stopNow(t, byName)
	// Listed by address, it is allowed.
	byAddr, _ := tc.newScheduler("by-addr", WithRemoteHTTP("127.0.0.1"))
	tc.start(byAddr)
	if err := byAddr.Define(ctx, Definition{Name: "hook2", Kind: "http", Schedule: "@yearly",
		HTTP: &HTTPSpec{URL: "http://127.0.0.1:" + port + "/"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition applied", func() bool { _, ok := byAddr.JobInfo("hook2"); return ok })
	if err := byAddr.Trigger(ctx, "hook2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the allowed run", func() bool {
		recs := recordsOf(tc.sink, "hook2")
		return len(recs) > 0 && recs[0].Status == logsink.StatusSucceeded && hits.Load() == 1
	})
}

// etcdClientOf returns a client of the test cluster (closed on cleanup).
func etcdClientOf(tc *testCluster) *clientv3.Client { _, cli := tc.newScheduler("probe"); return cli }
