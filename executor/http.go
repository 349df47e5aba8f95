package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distcron/distcron/internal/errtext"
	"golang.org/x/net/http/httpguts"
)

// DefaultHTTPTimeout bounds a run of an [HTTP] executor whose Client is nil
// when the run's context has no deadline of its own (no [Timeout]).
// It covers the whole exchange: connecting, sending, and reading the
// response body.
const DefaultHTTPTimeout = 5 * time.Minute

// maxRedirects is the redirect limit of the default client, as in net/http.
const maxRedirects = 10

// HTTP is an Executor that sends one HTTP request. Create it as a literal
// and check it with [HTTP.Validate]. Do not change its fields while an
// Execute is in flight; Execute only reads them, so one HTTP is safe for
// concurrent use and may run several times at once.
//
// A run succeeds (Result.Err nil) when the final response has the
// expected status. Result.ExitCode is the HTTP status code of the final
// response (for example 200 or 503), or -1 when no response was received:
// an invalid definition, a connection error, or a context done before the
// response headers arrived. Result.Output is the last [MaxOutput] bytes of
// the response body; the body is read to its end, so a run also fails when
// reading it fails. When the run ends because ctx is done, Result.Err
// wraps ctx.Err(), as for the other executors.
//
// # Allowed hosts and addresses
//
// An HTTP with neither AllowedHosts nor Allow may send its request
// anywhere, as a program's own HTTP calls may: that suits a definition in
// the program's code. A definition from elsewhere (an HTTP job defined
// over the network) needs Allow, an [AllowList], which restricts both the
// host names in the URL and its redirects and the addresses they resolve
// to, and refuses loopback, link-local (cloud metadata) and private
// addresses unless listed by address or CIDR.
//
// AllowedHosts restricts host names only. When it is not empty, the URL's
// host must match one of its entries, or Execute fails with
// [ErrHostNotAllowed] without sending anything. Redirects are followed
// only to hosts that match too. Host names are compared as written (no DNS
// lookup, so the list restricts names, not addresses: a name it allows may
// resolve to any address), ignoring ASCII case and a trailing dot. An
// entry is one of:
//
//   - "example.com" or "10.0.0.7" or "::1": that host, on any port;
//   - "example.com:8443" or "[::1]:8080": that host on that port only (a
//     URL without a port has its scheme's default port, 80 or 443);
//   - "*.example.com": any host ending in ".example.com" (at any depth,
//     such as "a.b.example.com"), but not "example.com" itself; a port may
//     follow, as in "*.example.com:443".
type HTTP struct {
	// Method is the request method, such as "GET" or "POST"; empty means
	// GET. It is sent as written (methods are case-sensitive).
	Method string
	// URL is the absolute http or https URL to request.
	URL string
	// Header holds request header fields. No Content-Type is set unless
	// given here; the Host field is ignored, as by net/http.
	Header http.Header
	// Body is the request body; empty sends none.
	Body string
	// ExpectStatus is the status code that makes the run succeed; zero
	// means any 2xx status.
	ExpectStatus int
	// AllowedHosts restricts the host names the request and its
	// redirects may go to, not the addresses they resolve to; empty allows
	// any host. See the type's documentation for the entries' syntax, and
	// Allow for definitions the program does not trust.
	AllowedHosts []string
	// Client sends the request. Nil means a client that shares one
	// transport with the other HTTP executors (the settings of
	// http.DefaultTransport: 30s to connect, 10s for a TLS handshake,
	// proxies from the environment; with Allow, see there), follows at
	// most 10 redirects, and applies DefaultHTTPTimeout when the run's
	// context has no deadline. A Client given here is used as is, except
	// that its redirect policy is wrapped to refuse hosts outside
	// AllowedHosts and Allow, and that with Allow its Transport is
	// replaced as Allow says.
	Client *http.Client
	// Allow, when not nil, restricts the hosts the request and its
	// redirects may name and the addresses they may connect to, as
	// [AllowList] describes; an empty list allows nothing. AllowedHosts
	// still applies as well. With Allow, no proxy is used, and
	// Client.Transport must be nil (meaning a transport shared by the
	// executors with the same Allow, with the settings of
	// http.DefaultTransport) or an *http.Transport without dial functions
	// of its own, which each run then uses a restricted clone of.
	Allow *AllowList
}

var _ Executor = (*HTTP)(nil)

// defaultTransport is the transport of HTTP executors without a Client.
var defaultTransport = sync.OnceValue(func() *http.Transport {
	return http.DefaultTransport.(*http.Transport).Clone()
})

// Validate reports why h cannot run, or nil: an empty or unparsable URL,
// a scheme other than http or https, a URL without a host, a method or
// header field that is not valid HTTP, an ExpectStatus outside 100-599,
// a malformed AllowedHosts entry, a Client whose Transport Allow cannot
// restrict, or a URL host outside AllowedHosts or Allow. Every error
// matches [ErrInvalid]; the last ones also [ErrHostNotAllowed] (and
// [ErrAddressNotAllowed] for an IP address that Allow refuses).
// Execute calls Validate first. It does no I/O and is safe for concurrent
// use.
func (h *HTTP) Validate() error {
	_, err := h.validate()
	return err
}

// validate checks h and returns its parsed URL.
func (h *HTTP) validate() (*url.URL, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: HTTP: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if h.URL == "" {
		return nil, invalid("empty URL")
	}
	u, err := url.Parse(h.URL)
	if err != nil {
		return nil, invalid("bad URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return nil, invalid("URL %q is not absolute (want http:// or https://)", u.Redacted())
		}
		return nil, invalid("URL scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, invalid("URL %q has no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalid("URL %q has a bad port", u.Redacted())
		}
	}
	if h.Method != "" && !httpguts.ValidHeaderFieldName(h.Method) {
		return nil, invalid("bad method %q", h.Method)
	}
	for k, vs := range h.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, invalid("bad header field name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, invalid("header field %q has a value with a line break or NUL", k)
			}
		}
	}
	if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
		return nil, invalid("ExpectStatus %d is not an HTTP status code", h.ExpectStatus)
	}
	patterns, err := parseHostPatterns(h.AllowedHosts)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if !hostAllowed(patterns, u) {
		return nil, &multiError{
			msg:  fmt.Sprintf("%v: HTTP: %s is not in AllowedHosts", ErrHostNotAllowed, u.Host),
			errs: []error{ErrHostNotAllowed, ErrInvalid},
		}
	}
	if h.Allow != nil {
		if h.Client != nil {
			if err := checkTransport(h.Client.Transport); err != nil {
				return nil, invalid("%v", err)
			}
		}
		if err := h.Allow.checkURL(u); err != nil {
			return nil, &multiError{msg: fmt.Sprintf("%v (HTTP URL)", err), errs: []error{err, ErrInvalid}}
		}
	}
	return u, nil
}

// Execute validates h, sends the request and reads the response. It blocks
// until the response body has been read or ctx is done.
func (h *HTTP) Execute(ctx context.Context) Result {
	u, err := h.validate()
	if err != nil {
		return Result{Err: err, ExitCode: -1}
	}
	if err := contextError(ctx); err != nil {
		return Result{Err: errtext.Errorf("distcron: HTTP request not sent: %w", err), ExitCode: -1}
	}

	client, done := h.client()
	defer done()
	if h.Client == nil {
		if _, ok := ctx.Deadline(); !ok {
			cause := fmt.Errorf("distcron: HTTP request took longer than DefaultHTTPTimeout (%v): %w",
				DefaultHTTPTimeout, context.DeadlineExceeded)
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, DefaultHTTPTimeout, cause)
			defer cancel()
		}
	}

	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body) // NewRequest sets GetBody: 307/308 redirects resend it
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return Result{Err: errtext.Errorf("%w: HTTP: %w", ErrInvalid, err), ExitCode: -1}
	}
	for k, vs := range h.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "distcron")
	}

	resp, err := client.Do(req)
	if err != nil {
		res := Result{ExitCode: -1, Err: withContext(ctx, fmt.Errorf("distcron: HTTP request failed: %w", err))}
		if resp != nil { // a redirect was refused: resp is the redirect, its body closed
			res.ExitCode = resp.StatusCode
		}
		return res
	}
	defer resp.Body.Close()

	out := newTail(MaxOutput)
	_, readErr := io.Copy(out, resp.Body)
	res := Result{ExitCode: resp.StatusCode, Output: out.Bytes()}
	switch {
	case readErr != nil:
		res.Err = withContext(ctx, fmt.Errorf("distcron: reading HTTP response body (status %s): %w", resp.Status, readErr))
	case !h.statusOK(resp.StatusCode):
		res.Err = fmt.Errorf("%w: %s (want %s)", ErrHTTPStatus, resp.Status, h.wantStatus())
	}
	return res
}

func (h *HTTP) statusOK(code int) bool {
	if h.ExpectStatus == 0 {
		return code >= 200 && code <= 299
	}
	return code == h.ExpectStatus
}

func (h *HTTP) wantStatus() string {
	if h.ExpectStatus == 0 {
		return "2xx"
	}
	return strconv.Itoa(h.ExpectStatus)
}

// client returns the client for one run: h.Client or the default one,
// restricted by Allow, with a redirect policy that enforces AllowedHosts
// and Allow; and what to call when the run is over. h is valid.
func (h *HTTP) client() (client *http.Client, done func()) {
	var c http.Client
	done = func() {}
	if h.Client != nil {
		c = *h.Client
	}
	switch {
	case h.Allow != nil && c.Transport == nil:
		c.Transport = h.Allow.sharedTransport()
	case h.Allow != nil:
		t := h.Allow.restrict(c.Transport.(*http.Transport).Clone()) // checked by validate
		c.Transport, done = t, t.CloseIdleConnections
	case h.Client == nil:
		c.Transport = defaultTransport()
	}
	if len(h.AllowedHosts) == 0 && h.Allow == nil {
		return &c, done
	}
	patterns, _ := parseHostPatterns(h.AllowedHosts) // validated
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !hostAllowed(patterns, req.URL) {
			// http.Client puts the error in a *url.Error of its own,
			// which Execute wraps: no second "distcron: ".
			return errtext.Nested(fmt.Errorf("%w: redirect to %s", ErrHostNotAllowed, req.URL.Host))
		}
		if h.Allow != nil {
			if err := h.Allow.checkURL(req.URL); err != nil {
				return errtext.Errorf("redirect refused: %w", err)
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c, done
}

// hostPattern is one parsed AllowedHosts entry.
type hostPattern struct {
	host   string // lower case, without a trailing dot; the suffix after "*." when wildcard
	port   string // "" for any port
	suffix bool   // "*.host": subdomains of host
}

// parseHostPatterns parses AllowedHosts; nil when there are none.
func parseHostPatterns(entries []string) ([]hostPattern, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ps := make([]hostPattern, 0, len(entries))
	for _, e := range entries {
		p, err := parseHostPattern(e)
		if err != nil {
			return nil, fmt.Errorf("bad AllowedHosts entry %q: %v", e, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func parseHostPattern(s string) (hostPattern, error) {
	var p hostPattern
	host := s
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		h, port, err := net.SplitHostPort(s)
		if err != nil {
			return p, err
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return p, errors.New("bad port")
		}
		host, p.port = h, port
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, p.suffix = rest, true
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case host == "":
		return p, errors.New("empty host")
	case strings.Contains(host, "*"):
		return p, errors.New(`a wildcard is allowed only as a leading "*."`)
	case strings.ContainsAny(host, " \t\r\n/?#@[]"):
		return p, errors.New("not a host name")
	}
	p.host = host
	return p, nil
}

// hostAllowed reports whether u's host matches one of ps; any host does
// when ps is nil.
func hostAllowed(ps []hostPattern, u *url.URL) bool {
	if ps == nil {
		return true
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := urlPort(u)
	for _, p := range ps {
		if p.port != "" && p.port != port {
			continue
		}
		if (p.suffix && strings.HasSuffix(host, "."+p.host)) || (!p.suffix && host == p.host) {
			return true
		}
	}
	return false
}

// multiError is an error with its own message that matches several
// sentinels.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }
