package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/admintest"
)

func TestMain(m *testing.M) { os.Exit(admintest.Main(m)) }

// The shared helpers live in internal/admintest, beside the browser tests
// of the tests module; these names keep the tests here short.
type cluster = admintest.Cluster

var (
	newCluster = admintest.NewCluster
	etcdClient = admintest.EtcdClient
	waitFor    = admintest.WaitFor
	allow      = admintest.Allow
)

// server serves the admin handler of s under /cron/, as a host app would.
type server struct {
	t    *testing.T
	base string // http://127.0.0.1:port/cron/
}

func serve(t *testing.T, s *distcron.Scheduler, opts ...admin.Option) *server {
	t.Helper()
	return &server{t: t, base: admintest.Serve(t, s, opts...)}
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

const auth = "Authorization: " + admintest.Token
