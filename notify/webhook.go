package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/distcron/distcron/logsink"
)

// DefaultWebhookTimeout bounds one [Webhook.Notify] call unless
// [WithTimeout] says otherwise.
const DefaultWebhookTimeout = 10 * time.Second

// errorBodyLimit is how much of an error response's body goes into the
// error message.
const errorBodyLimit = 512

// Webhook is a [Notifier] that POSTs each record as JSON to a URL. Create it
// with [NewWebhook]; it is safe for concurrent use.
type Webhook struct {
	url     string
	header  http.Header
	timeout time.Duration
	client  *http.Client
}

var _ Notifier = (*Webhook)(nil)

type webhookConfig struct {
	header  http.Header
	timeout time.Duration
	client  *http.Client
	errs    []error
}

// WebhookOption configures [NewWebhook].
type WebhookOption func(*webhookConfig)

// WithHeader adds a header field to every request, for example
// WithHeader("Authorization", "Bearer "+token). It may be given several
// times; values of the same key are all sent. By default only Content-Type
// (application/json) and User-Agent (distcron) are set; WithHeader can
// replace User-Agent but not Content-Type.
func WithHeader(key, value string) WebhookOption {
	return func(c *webhookConfig) {
		switch {
		case !httpguts.ValidHeaderFieldName(key):
			c.errs = append(c.errs, fmt.Errorf("bad header field name %q", key))
		case strings.ContainsAny(value, "\r\n\x00"):
			c.errs = append(c.errs, fmt.Errorf("header field %q has a value with a line break or NUL", key))
		default:
			c.header.Add(key, value)
		}
	}
}

// WithTimeout bounds each Notify call: connecting, sending and reading the
// response. It must be positive; the default is [DefaultWebhookTimeout]
// (10s). A deadline of the ctx given to Notify that comes first wins.
func WithTimeout(d time.Duration) WebhookOption {
	return func(c *webhookConfig) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("timeout %v is not positive", d))
			return
		}
		c.timeout = d
	}
}

// WithHTTPClient sends the requests with client, for example one with a
// custom TLS configuration or proxy. The default is a client using
// http.DefaultTransport that does not follow redirects (a redirect is
// reported as a non-2xx status); a client given here follows its own
// redirect policy.
func WithHTTPClient(client *http.Client) WebhookOption {
	return func(c *webhookConfig) {
		if client == nil {
			c.errs = append(c.errs, errors.New("nil HTTP client"))
			return
		}
		c.client = client
	}
}

// NewWebhook returns a Webhook that POSTs records to rawURL, an absolute
// http or https URL. It validates the URL and the options and does no I/O.
// Every error matches [ErrInvalidConfig].
func NewWebhook(rawURL string, opts ...WebhookOption) (*Webhook, error) {
	invalid := func(err error) error { return fmt.Errorf("%w: webhook: %w", ErrInvalidConfig, err) }
	if rawURL == "" {
		return nil, invalid(errors.New("empty URL"))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, invalid(err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalid(fmt.Errorf("URL %q is not an http or https URL", u.Redacted()))
	}
	if u.Host == "" {
		return nil, invalid(fmt.Errorf("URL %q has no host", u.Redacted()))
	}
	c := webhookConfig{header: http.Header{}, timeout: DefaultWebhookTimeout}
	for _, o := range opts {
		o(&c)
	}
	if len(c.errs) > 0 {
		return nil, invalid(errors.Join(c.errs...))
	}
	if c.client == nil {
		c.client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.header.Get("User-Agent") == "" {
		c.header.Set("User-Agent", "distcron")
	}
	c.header.Set("Content-Type", "application/json")
	return &Webhook{url: u.String(), header: c.header, timeout: c.timeout, client: c.client}, nil
}

// redactURL hides the path and query of the webhook URL in a transport
// error (they often carry the hook's secret), keeping scheme and host.
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil {
		redacted := *ue
		redacted.URL = u.Scheme + "://" + u.Host + "/..."
		return &redacted
	}
	return err
}

// Notify POSTs rec, encoded as JSON like the logsink JSON sink encodes it
// (encoding/json on [logsink.Record]), and blocks until the response
// arrives, the timeout passes or ctx is done. A status other than 2xx is an
// error wrapping [ErrWebhookStatus]; when ctx or the timeout ends the call,
// the error wraps context.Canceled or context.DeadlineExceeded.
func (w *Webhook) Notify(ctx context.Context, rec logsink.Record) error {
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("distcron: webhook: encoding the record: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("distcron: webhook: %w", err)
	}
	req.Header = w.header.Clone()
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("distcron: webhook: %w", redactURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Read a little of the body so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	msg := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "\uFFFD"))
	if msg == "" {
		return fmt.Errorf("%w: %s", ErrWebhookStatus, resp.Status)
	}
	return fmt.Errorf("%w: %s: %q", ErrWebhookStatus, resp.Status, msg)
}
