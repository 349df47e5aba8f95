package executor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer starts an httptest server that counts its requests and
// closes it at cleanup.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// hostOf returns the host (without port) of srv.
func hostOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}

func TestHTTPRequestAndSuccess(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, ua, body string
		header                 http.Header
	}
	got := make(chan seen, 1)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.RequestURI(), r.UserAgent(), string(b), r.Header.Clone()}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created it")
	})
	h := &HTTP{
		Method: http.MethodPut,
		URL:    srv.URL + "/items/7?x=1",
		Header: http.Header{
			"Authorization": {"Bearer s3cret"},
			"X-Multi":       {"a", "b"},
			"Content-Type":  {"application/json"},
		},
		Body: `{"n":1}`,
	}
	res := h.Execute(context.Background())
	if res.Err != nil || res.ExitCode != http.StatusCreated || string(res.Output) != "created it" {
		t.Fatalf("Result = %v, %d, %q; want nil, 201, %q", res.Err, res.ExitCode, res.Output, "created it")
	}
	if res.Steps != nil {
		t.Errorf("Steps = %v, want nil", res.Steps)
	}
	s := <-got
	if s.method != "PUT" || s.path != "/items/7?x=1" || s.body != `{"n":1}` {
		t.Errorf("server saw %s %s body %q", s.method, s.path, s.body)
	}
	if s.header.Get("Authorization") != "Bearer s3cret" || s.header.Get("Content-Type") != "application/json" ||
		strings.Join(s.header.Values("X-Multi"), ",") != "a,b" {
		t.Errorf("server saw header %v", s.header)
	}
	if s.ua != "distcron" {
		t.Errorf("User-Agent = %q, want distcron", s.ua)
	}

	// Defaults: GET, no body, the caller's User-Agent kept.
	res = (&HTTP{URL: srv.URL, Header: http.Header{"User-Agent": {"mine"}}}).Execute(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	s = <-got
	if s.method != "GET" || s.body != "" || s.ua != "mine" {
		t.Errorf("defaults: server saw %s body %q UA %q", s.method, s.body, s.ua)
	}
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/ok": 200, "/nocontent": 204, "/created": 201, "/fail": 503, "/redirect": 302}[r.URL.Path]
		if code == 302 {
			w.Header().Set("Location", "/ok")
		}
		w.WriteHeader(code)
		if code != 204 {
			io.WriteString(w, "body of "+r.URL.Path)
		}
	})
	tests := []struct {
		path     string
		expect   int
		wantCode int
		wantErr  bool
		wantOut  string
	}{
		{path: "/ok", wantCode: 200, wantOut: "body of /ok"},
		{path: "/nocontent", wantCode: 204},
		{path: "/redirect", wantCode: 200, wantOut: "body of /ok"}, // followed
		{path: "/fail", wantCode: 503, wantErr: true, wantOut: "body of /fail"},
		{path: "/created", expect: 201, wantCode: 201, wantOut: "body of /created"},
		{path: "/ok", expect: 204, wantCode: 200, wantErr: true, wantOut: "body of /ok"},
	}
	for _, tt := range tests {
		res := (&HTTP{URL: srv.URL + tt.path, ExpectStatus: tt.expect}).Execute(context.Background())
		if res.ExitCode != tt.wantCode || string(res.Output) != tt.wantOut {
			t.Errorf("%s (expect %d): ExitCode, Output = %d, %q; want %d, %q",
				tt.path, tt.expect, res.ExitCode, res.Output, tt.wantCode, tt.wantOut)
		}
		if tt.wantErr != (res.Err != nil) || tt.wantErr && !errors.Is(res.Err, ErrHTTPStatus) {
			t.Errorf("%s (expect %d): Err = %v, want error %v", tt.path, tt.expect, res.Err, tt.wantErr)
		}
	}
	res := (&HTTP{URL: srv.URL + "/fail"}).Execute(context.Background())
	if want := "distcron: unexpected HTTP status: 503 Service Unavailable (want 2xx)"; res.Err == nil || res.Err.Error() != want {
		t.Errorf("Err = %v, want %q", res.Err, want)
	}
}

func TestHTTPBodyTail(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789abcdef"), MaxOutput/16+100) // 1600 bytes over
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	res := (&HTTP{URL: srv.URL}).Execute(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !bytes.Equal(res.Output, body[len(body)-MaxOutput:]) {
		t.Errorf("Output has %d bytes, want the last %d of %d", len(res.Output), MaxOutput, len(body))
	}
}

// hangServer starts a server whose handler reports each request's path on
// the returned channel and then waits for the client to go away. For
// /partial it first sends the headers and part of the body.
func hangServer(t *testing.T) (*httptest.Server, <-chan string) {
	started := make(chan string, 10)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/partial" {
			io.WriteString(w, "partial body")
			w.(http.Flusher).Flush()
		}
		started <- r.URL.Path
		<-r.Context().Done()
	})
	return srv, started
}

func TestHTTPContext(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		srv, _ := hangServer(t)
		res := withTimeout(&HTTP{URL: srv.URL + "/hang"}, 50*time.Millisecond).Execute(context.Background())
		if !errors.Is(res.Err, context.DeadlineExceeded) || !errors.Is(res.Err, ErrTimeout) || res.ExitCode != -1 {
			t.Errorf("Result = %v, %d; want DeadlineExceeded and ErrTimeout, -1", res.Err, res.ExitCode)
		}
	})
	t.Run("cancel waiting for headers", func(t *testing.T) {
		t.Parallel()
		srv, started := hangServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		res := (&HTTP{URL: srv.URL + "/hang"}).Execute(ctx)
		if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded) || res.ExitCode != -1 {
			t.Errorf("Result = %v, %d; want Canceled only, -1", res.Err, res.ExitCode)
		}
	})
	t.Run("cancel reading body", func(t *testing.T) {
		t.Parallel()
		srv, _ := hangServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Cancel once the executor has read some of the body.
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := defaultTransport().RoundTrip(r)
			if err == nil {
				resp.Body = &cancelOnRead{ReadCloser: resp.Body, cancel: cancel}
			}
			return resp, err
		})}
		res := (&HTTP{URL: srv.URL + "/partial", Client: client}).Execute(ctx)
		if !errors.Is(res.Err, context.Canceled) || res.ExitCode != 200 ||
			len(res.Output) == 0 || !strings.HasPrefix("partial body", string(res.Output)) {
			t.Errorf("Result = %v, %d, %q; want Canceled, 200, the partial body", res.Err, res.ExitCode, res.Output)
		}
	})
	t.Run("cause kept", func(t *testing.T) {
		t.Parallel()
		srv, started := hangServer(t)
		why := errors.New("operator kill")
		ctx, cancel := context.WithCancelCause(context.Background())
		go func() { <-started; cancel(why) }()
		res := (&HTTP{URL: srv.URL + "/hang"}).Execute(ctx)
		if !errors.Is(res.Err, context.Canceled) || !errors.Is(res.Err, why) {
			t.Errorf("Err = %v, want Canceled and the cause", res.Err)
		}
	})
}

func TestHTTPNotSentWhenDone(t *testing.T) {
	t.Parallel()
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := (&HTTP{URL: srv.URL}).Execute(ctx)
	if !errors.Is(res.Err, context.Canceled) || res.ExitCode != -1 {
		t.Errorf("Result = %v, %d; want Canceled, -1", res.Err, res.ExitCode)
	}
	if n.Load() != 0 {
		t.Errorf("%d requests sent, want none", n.Load())
	}
}

func TestHTTPConnectionError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	res := (&HTTP{URL: "http://" + addr + "/"}).Execute(context.Background())
	if res.Err == nil || res.ExitCode != -1 || !strings.HasPrefix(res.Err.Error(), "distcron: HTTP request failed: ") {
		t.Errorf("Result = %v, %d; want a request error, -1", res.Err, res.ExitCode)
	}
}

func TestHTTPAllowedHosts(t *testing.T) {
	t.Parallel()
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	host := hostOf(t, srv) // 127.0.0.1
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		allowed []string
		url     string
		ok      bool
	}{
		{allowed: nil, url: srv.URL, ok: true},
		{allowed: []string{"example.com", host}, url: srv.URL, ok: true},
		{allowed: []string{host + ":" + strconv.Itoa(port)}, url: srv.URL, ok: true},
		{allowed: []string{host + ":1"}, url: srv.URL},
		{allowed: []string{"example.com"}, url: srv.URL},
		{allowed: []string{"*.0.0.1"}, url: srv.URL, ok: true},
		{allowed: []string{"127.0.0.10"}, url: srv.URL},
		// userinfo does not fool the check: the host is 127.0.0.2.
		{allowed: []string{host}, url: "http://" + host + "@127.0.0.2:" + strconv.Itoa(port) + "/"},
	}
	for _, tt := range tests {
		before := n.Load()
		res := (&HTTP{URL: tt.url, AllowedHosts: tt.allowed}).Execute(context.Background())
		sent := n.Load() - before
		if tt.ok {
			if res.Err != nil || sent != 1 {
				t.Errorf("%v, %s: Err = %v, %d requests; want nil, 1", tt.allowed, tt.url, res.Err, sent)
			}
			continue
		}
		if !errors.Is(res.Err, ErrHostNotAllowed) || !errors.Is(res.Err, ErrInvalid) || res.ExitCode != -1 {
			t.Errorf("%v, %s: Result = %v, %d; want ErrHostNotAllowed, -1", tt.allowed, tt.url, res.Err, res.ExitCode)
		}
		if sent != 0 {
			t.Errorf("%v, %s: %d requests sent to a host not allowed", tt.allowed, tt.url, sent)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		url     string
		want    bool
	}{
		{"example.com", "http://example.com/", true},
		{"example.com", "https://EXAMPLE.com.:8443/", true},
		{"EXAMPLE.com.", "http://example.com/", true},
		{"example.com", "http://www.example.com/", false},
		{"example.com", "http://example.com.evil.net/", false},
		{"example.com", "http://badexample.com/", false},
		{"*.example.com", "http://www.example.com/", true},
		{"*.example.com", "http://a.b.example.com/", true},
		{"*.example.com", "http://example.com/", false},
		{"*.example.com", "http://wwwexample.com/", false},
		{"example.com:80", "http://example.com/", true},
		{"example.com:80", "https://example.com/", false},
		{"example.com:443", "https://example.com/", true},
		{"example.com:8080", "http://example.com:8080/", true},
		{"example.com:8080", "http://example.com:8081/", false},
		{"*.example.com:443", "https://api.example.com/", true},
		{"*.example.com:443", "http://api.example.com/", false},
		{"::1", "http://[::1]:9000/", true},
		{"[::1]", "http://[::1]/", true},
		{"[::1]:9000", "http://[::1]:9000/", true},
		{"[::1]:9000", "http://[::1]:9001/", false},
		{"10.0.0.7", "http://10.0.0.7/", true},
		{"10.0.0.7", "http://10.0.0.70/", false},
	}
	for _, tt := range tests {
		ps, err := parseHostPatterns([]string{tt.pattern})
		if err != nil {
			t.Errorf("parse %q: %v", tt.pattern, err)
			continue
		}
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(ps, u); got != tt.want {
			t.Errorf("%q allows %s = %v, want %v", tt.pattern, tt.url, got, tt.want)
		}
	}
	for _, bad := range []string{"", "*", "*.", "foo.*.com", "a*.com", "example.com:", "example.com:0",
		"example.com:99999", "[::1]:x", "ex ample.com", "example.com/path", "user@example.com"} {
		if _, err := parseHostPatterns([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestHTTPRedirectAllowList(t *testing.T) {
	t.Parallel()
	other, otherHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	otherPort := other.Listener.Addr().(*net.TCPAddr).Port
	// "localhost" is another host name for the allow-list, whatever it
	// resolves to; the request must not even be tried.
	foreign := "http://localhost:" + strconv.Itoa(otherPort) + "/"
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, foreign, http.StatusFound)
		case "/home":
			http.Redirect(w, r, "/done", http.StatusMovedPermanently)
		default:
			io.WriteString(w, "done")
		}
	})
	allowed := []string{hostOf(t, srv)}

	var ownPolicyCalls atomic.Int64
	clients := map[string]*http.Client{
		"default client": nil,
		"own client": {CheckRedirect: func(req *http.Request, via []*http.Request) error {
			ownPolicyCalls.Add(1)
			return nil
		}},
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			res := (&HTTP{URL: srv.URL + "/away", AllowedHosts: allowed, Client: c}).Execute(context.Background())
			if !errors.Is(res.Err, ErrHostNotAllowed) || errors.Is(res.Err, ErrInvalid) || res.ExitCode != http.StatusFound {
				t.Errorf("Result = %v, %d; want ErrHostNotAllowed (not ErrInvalid), 302", res.Err, res.ExitCode)
			}
			if otherHits.Load() != 0 {
				t.Errorf("the redirect to %s was followed", foreign)
			}
			res = (&HTTP{URL: srv.URL + "/home", AllowedHosts: allowed, Client: c}).Execute(context.Background())
			if res.Err != nil || res.ExitCode != 200 || string(res.Output) != "done" {
				t.Errorf("redirect to an allowed host: Result = %v, %d, %q", res.Err, res.ExitCode, res.Output)
			}
		})
	}
	if ownPolicyCalls.Load() != 1 {
		t.Errorf("the client's own CheckRedirect ran %d times, want once (for the allowed redirect)", ownPolicyCalls.Load())
	}

	// Without an allow-list, redirects anywhere are followed.
	res := (&HTTP{URL: srv.URL + "/away"}).Execute(context.Background())
	if res.Err != nil || otherHits.Load() != 1 {
		t.Errorf("no allow-list: Err = %v, other server hit %d times; want nil, 1", res.Err, otherHits.Load())
	}
}

func TestHTTPValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    HTTP
		msg  string // substring of the error; "" means valid
		host bool   // the error matches ErrHostNotAllowed
	}{
		{name: "valid", h: HTTP{URL: "https://example.com/x", Method: "POST", ExpectStatus: 202,
			Header: http.Header{"X-A": {"1"}}, AllowedHosts: []string{"*.com"}}},
		{name: "empty URL", h: HTTP{}, msg: "empty URL"},
		{name: "unparsable", h: HTTP{URL: "http://[::1"}, msg: "bad URL"},
		{name: "relative", h: HTTP{URL: "/just/a/path"}, msg: "not absolute"},
		{name: "scheme", h: HTTP{URL: "ftp://example.com/"}, msg: `scheme "ftp" is not http or https`},
		{name: "file scheme", h: HTTP{URL: "file:///etc/passwd"}, msg: `scheme "file"`},
		{name: "no host", h: HTTP{URL: "http:///path"}, msg: "has no host"},
		{name: "bad port", h: HTTP{URL: "http://example.com:99999/"}, msg: "bad port"},
		{name: "method", h: HTTP{URL: "http://example.com/", Method: "GE T"}, msg: `bad method "GE T"`},
		{name: "header name", h: HTTP{URL: "http://example.com/", Header: http.Header{"X A": {"1"}}}, msg: "bad header field name"},
		{name: "header value", h: HTTP{URL: "http://example.com/", Header: http.Header{"X-A": {"1\r\nEvil: 1"}}}, msg: "line break"},
		{name: "status", h: HTTP{URL: "http://example.com/", ExpectStatus: 42}, msg: "ExpectStatus 42"},
		{name: "pattern", h: HTTP{URL: "http://example.com/", AllowedHosts: []string{"ex*.com"}}, msg: "bad AllowedHosts entry"},
		{name: "host", h: HTTP{URL: "http://evil.example.net/", AllowedHosts: []string{"example.com"}},
			msg: "distcron: host not allowed: HTTP: evil.example.net is not in AllowedHosts", host: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid containing %q", err, tt.msg)
			}
			if errors.Is(err, ErrHostNotAllowed) != tt.host {
				t.Errorf("errors.Is(%v, ErrHostNotAllowed) = %v, want %v", err, !tt.host, tt.host)
			}
			if res := tt.h.Execute(context.Background()); res.Err == nil || res.Err.Error() != err.Error() || res.ExitCode != -1 {
				t.Errorf("Execute = %v, %d; want the Validate error, -1", res.Err, res.ExitCode)
			}
		})
	}
}

func TestHTTPConcurrent(t *testing.T) {
	t.Parallel()
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	h := &HTTP{URL: srv.URL + "/same", AllowedHosts: []string{hostOf(t, srv)}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := h.Execute(context.Background()); res.Err != nil || string(res.Output) != "/same" {
				t.Errorf("Result = %v, %q", res.Err, res.Output)
			}
		})
	}
	wg.Wait()
	if n.Load() != 8 {
		t.Errorf("%d requests, want 8", n.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cancelOnRead calls cancel after the first read that returns data.
type cancelOnRead struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnRead) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.cancel()
	}
	return n, err
}
