package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

type received struct {
	method, path string
	header       http.Header
	body         []byte
}

// webhookServer starts a server that reports each request and answers with
// status and body.
func webhookServer(t *testing.T, status int, body string) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.URL.Path, r.Header.Clone(), b}
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestWebhookPostsRecord(t *testing.T) {
	t.Parallel()
	srv, got := webhookServer(t, http.StatusNoContent, "")
	w, err := NewWebhook(srv.URL+"/hooks/cron", WithHeader("Authorization", "Bearer t0ken"), WithHeader("X-Team", "ops"))
	if err != nil {
		t.Fatal(err)
	}
	rec := failedRecord()
	rec.Steps = []logsink.StepRecord{{Name: "dump", Status: logsink.StatusFailed, Started: rec.Started, Duration: time.Second, Error: "boom", ExitCode: 3}}
	if err := w.Notify(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.method != http.MethodPost || r.path != "/hooks/cron" {
		t.Errorf("request = %s %s, want POST /hooks/cron", r.method, r.path)
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("Authorization") != "Bearer t0ken" ||
		r.header.Get("X-Team") != "ops" || r.header.Get("User-Agent") != "distcron" {
		t.Errorf("header = %v", r.header)
	}
	want, _ := json.Marshal(rec)
	if string(r.body) != string(want) {
		t.Errorf("body =\n%s\nwant\n%s", r.body, want)
	}
	var decoded logsink.Record
	if err := json.Unmarshal(r.body, &decoded); err != nil || !reflect.DeepEqual(decoded, rec) {
		t.Errorf("decoded record = %+v, %v; want %+v", decoded, err, rec)
	}
}

func TestWebhookErrorStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{status: 500, body: "database locked\n", want: `distcron: webhook returned an error status: 500 Internal Server Error: "database locked"`},
		{status: 401, want: "distcron: webhook returned an error status: 401 Unauthorized"},
		{status: 302, want: "distcron: webhook returned an error status: 302 Found"}, // not followed
		{status: 413, body: strings.Repeat("x", 2000), want: `413 Request Entity Too Large: "` + strings.Repeat("x", errorBodyLimit) + `"`},
	}
	for _, tt := range tests {
		srv, got := webhookServer(t, tt.status, tt.body)
		w, err := NewWebhook(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Notify(context.Background(), failedRecord())
		if !errors.Is(err, ErrWebhookStatus) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("status %d: err = %v, want ErrWebhookStatus with %q", tt.status, err, tt.want)
		}
		if n := len(got); n != 1 {
			t.Errorf("status %d: %d requests, want 1", tt.status, n)
		}
	}
}

func TestWebhookTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices the client leaving only after the body
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)

	w, err := NewWebhook(srv.URL, WithTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Notify(context.Background(), failedRecord()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: err = %v, want DeadlineExceeded", err)
	}

	w, err = NewWebhook(srv.URL) // the default 10s timeout is not reached
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived // the timed-out request
		<-arrived // this one
		cancel()
	}()
	if err := w.Notify(ctx, failedRecord()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: err = %v, want Canceled", err)
	}
}

func TestNewWebhookValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		opts []WebhookOption
		msg  string
	}{
		{url: "", msg: "empty URL"},
		{url: "http://[::1", msg: "missing ']'"},
		{url: "ftp://example.com/x", msg: "not an http or https URL"},
		{url: "hooks/cron", msg: "not an http or https URL"},
		{url: "http:///x", msg: "has no host"},
		{url: "https://example.com", opts: []WebhookOption{WithHeader("Bad Name", "x")}, msg: `bad header field name "Bad Name"`},
		{url: "https://example.com", opts: []WebhookOption{WithHeader("X-A", "a\r\nInjected: 1")}, msg: "line break"},
		{url: "https://example.com", opts: []WebhookOption{WithTimeout(0)}, msg: "timeout 0s is not positive"},
		{url: "https://example.com", opts: []WebhookOption{WithHTTPClient(nil)}, msg: "nil HTTP client"},
	}
	for _, tt := range tests {
		w, err := NewWebhook(tt.url, tt.opts...)
		if w != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("NewWebhook(%q) = %v, %v; want ErrInvalidConfig containing %q", tt.url, w, err, tt.msg)
		}
	}
	if _, err := NewWebhook("https://user:pw@example.com/x", WithTimeout(time.Second), WithHTTPClient(&http.Client{})); err != nil {
		t.Errorf("valid webhook: %v", err)
	}
}

// Issue 10: transport errors must not carry the webhook URL's path and
// query (where hook services put their secret) into logs.
func TestWebhookErrorsHideTheURLsSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // connection refused from now on
	w, err := NewWebhook(base + "/hooks/SECRET-PATH?token=SECRET-QUERY")
	if err != nil {
		t.Fatal(err)
	}
	err = w.Notify(context.Background(), logsink.Record{Job: "j"})
	if err == nil {
		t.Fatal("a webhook to a closed port succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "SECRET") || !strings.Contains(msg, strings.TrimPrefix(base, "http://")) {
		t.Fatalf("error %q should name the host and hide the path and query", msg)
	}
}
