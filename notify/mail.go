package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron/logsink"
)

// Defaults of [MailConfig].
const (
	DefaultMailTimeout       = 30 * time.Second
	DefaultMailSubjectPrefix = "[distcron]"
	DefaultMailOutputLines   = 20
)

// MailConfig configures [NewMail].
type MailConfig struct {
	// Addr is the SMTP server as host:port, for example
	// "smtp.example.com:587". Required.
	Addr string
	// From is the sender, an RFC 5322 address such as "cron@example.com"
	// or "Cron <cron@example.com>". Its address is the envelope sender
	// (MAIL FROM) and it fills the From header. Required.
	From string
	// To are the recipients, in the same syntax as From. At least one.
	To []string
	// Username and Password enable SMTP AUTH PLAIN when Username is set;
	// with an empty Username no authentication is tried. net/smtp sends
	// PLAIN credentials only over TLS (STARTTLS, see TLSConfig) or to a
	// server named localhost, 127.0.0.1 or ::1: to any other server
	// without STARTTLS, Notify fails before sending them.
	Username, Password string
	// SubjectPrefix starts every subject; empty means
	// DefaultMailSubjectPrefix ("[distcron]").
	SubjectPrefix string
	// LocalName is the host name sent with EHLO; empty means "localhost",
	// as in net/smtp.
	LocalName string
	// TLSConfig is used for STARTTLS, which is used whenever the server
	// offers it. Nil means the system roots and the host of Addr as the
	// server name. Implicit TLS (SMTPS, port 465) is not supported.
	TLSConfig *tls.Config
	// Timeout bounds one Notify call (connecting, the SMTP exchange and the
	// upload). Zero means DefaultMailTimeout (30s).
	Timeout time.Duration
	// OutputLines is how many of the last lines of the run's output the
	// mail shows. Zero means DefaultMailOutputLines (20); negative, none.
	OutputLines int
}

// Mail is a [Notifier] that sends one e-mail per record through an SMTP
// server with net/smtp. Create it with [NewMail]; it is safe for concurrent
// use (each Notify opens its own connection).
//
// The mail is plain text (UTF-8, quoted-printable) with the headers From,
// To, Subject, Date, Message-ID and Auto-Submitted: auto-generated. The
// subject reads "[distcron] <job>: <status> on <instance>"; the body lists
// the job, status, tick, shard, instance, trigger, attempt, times,
// duration, exit code and fencing token, then the error, the outcome of
// each pipeline step, and the last lines of the output.
type Mail struct {
	addr, host    string
	from          *mail.Address
	to            []*mail.Address
	username      string
	password      string
	subjectPrefix string
	localName     string
	tlsConfig     *tls.Config
	timeout       time.Duration
	outputLines   int
}

var _ Notifier = (*Mail)(nil)

// NewMail checks cfg and returns a Mail. It does no I/O: a wrong server or
// password shows up in Notify. Every error matches [ErrInvalidConfig].
func NewMail(cfg MailConfig) (*Mail, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: mail: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, invalid("Addr %q is not host:port: %v", cfg.Addr, err)
	}
	if host == "" {
		return nil, invalid("Addr %q has no host", cfg.Addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, invalid("Addr %q has a bad port", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, invalid("empty From")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, invalid("From %q: %v", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, invalid("no To address")
	}
	to := make([]*mail.Address, len(cfg.To))
	for i, s := range cfg.To {
		if to[i], err = mail.ParseAddress(s); err != nil {
			return nil, invalid("To %q: %v", s, err)
		}
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, invalid("Password without Username")
	}
	if strings.ContainsAny(cfg.Username+cfg.LocalName+cfg.SubjectPrefix, "\r\n\x00") {
		return nil, invalid("Username, LocalName or SubjectPrefix has a line break or NUL")
	}
	if cfg.Timeout < 0 {
		return nil, invalid("negative Timeout %v", cfg.Timeout)
	}
	m := &Mail{
		addr:          cfg.Addr,
		host:          host,
		from:          from,
		to:            to,
		username:      cfg.Username,
		password:      cfg.Password,
		subjectPrefix: orDefault(cfg.SubjectPrefix, DefaultMailSubjectPrefix),
		localName:     orDefault(cfg.LocalName, "localhost"),
		tlsConfig:     cfg.TLSConfig,
		timeout:       cfg.Timeout,
		outputLines:   cfg.OutputLines,
	}
	if m.timeout == 0 {
		m.timeout = DefaultMailTimeout
	}
	if m.outputLines == 0 {
		m.outputLines = DefaultMailOutputLines
	}
	return m, nil
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Notify sends one mail about rec and blocks until the server accepted it,
// refused it, or the timeout or ctx ended the exchange; in the last case the
// error wraps context.DeadlineExceeded or context.Canceled.
func (m *Mail) Notify(ctx context.Context, rec logsink.Record) error {
	msg := m.message(rec, time.Now())
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := m.send(ctx, msg); err != nil {
		if cerr := context.Cause(ctx); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return fmt.Errorf("distcron: mail to %s: %w", m.addr, err)
	}
	return nil
}

// send runs one SMTP transaction for msg.
func (m *Mail) send(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	// Unblock any read or write once ctx is done (not with a deadline of
	// its own: an I/O timeout must not beat ctx.Err() being set).
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(m.localName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{}
		if m.tlsConfig != nil {
			cfg = m.tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = m.host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if m.username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", m.username, m.password, m.host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return err
	}
	for _, to := range m.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message builds the mail for rec, headers and body, with CRLF line ends.
func (m *Mail) message(rec logsink.Record, now time.Time) []byte {
	subject := fmt.Sprintf("%s %s: %s", m.subjectPrefix, rec.Job, rec.Status)
	if rec.Instance != "" {
		subject += " on " + rec.Instance
	}
	to := make([]string, len(m.to))
	for i, a := range m.to {
		to[i] = a.String()
	}
	var b bytes.Buffer
	header := func(k, v string) {
		b.WriteString(k + ": " + strings.NewReplacer("\r", " ", "\n", " ").Replace(v) + "\r\n")
	}
	header("From", m.from.String())
	b.WriteString("To: " + strings.Join(to, ",\r\n ") + "\r\n") // folded; String() output is safe
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(m.from.Address))
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(m.summary(rec)))
	_ = qp.Close()
	return b.Bytes()
}

// messageID returns a unique Message-ID in the domain of from.
func messageID(from string) string {
	domain := "distcron.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	return "<" + hex.EncodeToString(r[:]) + ".distcron@" + domain + ">"
}

// summary is the text body describing rec.
func (m *Mail) summary(rec logsink.Record) string {
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%-10s %v\n", k+":", v) }
	line("Job", rec.Job)
	line("Status", rec.Status)
	line("Tick", formatTime(rec.Tick))
	if rec.Shard != 0 {
		line("Shard", rec.Shard)
	}
	line("Instance", orDefault(rec.Instance, "-"))
	line("Trigger", orDefault(string(rec.Trigger), "-"))
	line("Attempt", rec.Attempt)
	line("Started", formatTime(rec.Started))
	line("Finished", formatTime(rec.Finished))
	line("Duration", rec.Duration)
	line("Exit code", rec.ExitCode)
	if rec.Token != 0 {
		line("Token", rec.Token)
	}
	if rec.Error != "" {
		b.WriteString("\nError:\n")
		b.WriteString(indent(rec.Error))
	}
	if len(rec.Steps) > 0 {
		b.WriteString("\nSteps:\n")
		for i, s := range rec.Steps {
			fmt.Fprintf(&b, "    %d. %s: %s in %v, exit code %d\n", i+1, s.Name, s.Status, s.Duration, s.ExitCode)
			if s.Error != "" {
				first, _, more := strings.Cut(s.Error, "\n")
				if more {
					first += " ..."
				}
				fmt.Fprintf(&b, "       %s\n", first)
			}
		}
	}
	if out := lastLines(rec.Output, m.outputLines); out != "" {
		fmt.Fprintf(&b, "\nOutput (last %d lines at most):\n", m.outputLines)
		b.WriteString(indent(out))
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 MST")
}

// indent prefixes every line of s with four spaces and ends it with a
// newline.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

// lastLines returns the last n lines of s, without a final newline; "" when
// n <= 0.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if n <= 0 || s == "" {
		return ""
	}
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
