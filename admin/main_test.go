package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/embedetcd"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

// etcdEndpoints is one embedded etcd shared by the package's tests; each
// test works under its own namespace.
var etcdEndpoints []string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "distcron-admin-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	etcd, err := embedetcd.Start(dir, embedetcd.Options{NoFsync: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	etcdEndpoints = etcd.Endpoints()
	code := m.Run()
	etcd.Close()
	if code == 0 {
		if err := goleak.Find(
			// etcd's embedded server and gRPC leave these behind briefly after Close.
			goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
			goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

var namespaces atomic.Int64

// cluster is a set of schedulers under one fresh namespace, sharing one
// in-memory history store.
type cluster struct {
	t       *testing.T
	ns      string
	history *sinktest.Memory
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, ns: fmt.Sprintf("/distcron-admin-test/%d-%s/", namespaces.Add(1), t.Name()), history: new(sinktest.Memory)}
}

func etcdClient(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// node makes a scheduler of the cluster (not started), with its own client.
func (c *cluster) node(id string, opts ...distcron.Option) *distcron.Scheduler {
	c.t.Helper()
	return c.nodeOn(etcdClient(c.t), id, opts...)
}

// nodeOn makes a scheduler of the cluster (not started) on cli.
func (c *cluster) nodeOn(cli *clientv3.Client, id string, opts ...distcron.Option) *distcron.Scheduler {
	c.t.Helper()
	base := []distcron.Option{
		distcron.WithNamespace(c.ns), distcron.WithInstanceID(id), distcron.WithSinks(c.history),
		distcron.WithLogger(zaptest.NewLogger(c.t, zaptest.Level(zap.WarnLevel)).Named(id)),
		distcron.WithSessionTTL(2 * time.Second), distcron.WithStopGrace(2 * time.Second),
		distcron.WithPipelineOptions(logsink.WithFlushInterval(20 * time.Millisecond)),
		distcron.WithRemoteScheduleFloor(10 * time.Millisecond), // the tests define fast jobs
	}
	s, err := distcron.New(cli, append(base, opts...)...)
	if err != nil {
		c.t.Fatalf("New(%s): %v", id, err)
	}
	return s
}

// start starts s and stops it at cleanup.
func (c *cluster) start(s *distcron.Scheduler) *distcron.Scheduler {
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// server serves the admin handler of s under /cron/, as a host app would.
type server struct {
	t    *testing.T
	base string // http://127.0.0.1:port/cron/
}

func serve(t *testing.T, s *distcron.Scheduler, opts ...admin.Option) *server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/cron/", http.StripPrefix("/cron", admin.NewHandler(s, opts...)))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &server{t: t, base: ts.URL + "/cron/"}
}

// response is what call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends method path (relative to the mount point) with body (JSON
// unless a Content-Type header says otherwise) and extra headers as
// "Name: value" strings ("Host: name" sets the request's Host).
func (s *server) call(method, path, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if k = strings.TrimSpace(k); strings.EqualFold(k, "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// ok calls and fails the test unless the status is want; it decodes the
// JSON answer into v (when not nil).
func (s *server) ok(want int, method, path, body string, v any, headers ...string) response {
	s.t.Helper()
	r := s.call(method, path, body, headers...)
	if r.status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			s.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
		}
	}
	return r
}

// errorText returns the "error" of a JSON error answer, failing the test
// unless the body is exactly such an object (with a "request_id" for
// server-side failures).
func (r response) errorText(t testing.TB) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q: %s", ct, r.body)
	}
	var e struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error answer (%v): %s", err, r.body)
	}
	return e.Error
}

// expectError fails t unless r has status want and a JSON error whose
// text matches pattern (a regexp).
func expectError(t testing.TB, r response, want int, pattern string) {
	t.Helper()
	msg := r.errorText(t)
	if r.status != want {
		t.Errorf("status %d, want %d (error %q)", r.status, want, msg)
	}
	if !regexp.MustCompile(pattern).MatchString(msg) {
		t.Errorf("error %q does not match %q", msg, pattern)
	}
}

// allow is an authorizer that accepts requests carrying the test token.
func allow(r *http.Request) error {
	if r.Header.Get("Authorization") != "Bearer sesame" {
		return fmt.Errorf("missing or wrong token")
	}
	return nil
}

const auth = "Authorization: Bearer sesame"
