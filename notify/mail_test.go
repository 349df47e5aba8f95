package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// smtpMessage is what the test SMTP server received in one transaction.
type smtpMessage struct {
	helo string
	auth string // decoded AUTH PLAIN response
	from string
	to   []string
	data string
}

// smtpServer is a minimal SMTP server on 127.0.0.1 for tests.
type smtpServer struct {
	addr      string
	offerAuth bool
	reject    string // RCPT address answered with 550
	hang      bool   // accept connections but never greet
	msgs      chan smtpMessage
	cmds      chan string // every command line received

	l     net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startSMTP starts s listening and stops it at cleanup.
func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.l, s.addr = l, l.Addr().String()
	s.msgs = make(chan smtpMessage, 10)
	s.cmds = make(chan string, 100)
	s.conns = map[net.Conn]bool{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	if s.hang {
		io.Copy(io.Discard, c) // until the client or the cleanup closes it
		return
	}
	tc := textproto.NewConn(c)
	reply := func(format string, args ...any) bool { return tc.PrintfLine(format, args...) == nil }
	if !reply("220 test.local ESMTP ready") {
		return
	}
	var msg smtpMessage
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		s.cmds <- line
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			msg.helo = arg
			if s.offerAuth {
				reply("250-test.local\r\n250-8BITMIME\r\n250 AUTH PLAIN")
			} else {
				reply("250-test.local\r\n250 8BITMIME")
			}
		case "HELO":
			msg.helo = arg
			reply("250 test.local")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			if !s.offerAuth || mech != "PLAIN" || err != nil {
				reply("504 5.5.4 unrecognized authentication type")
				continue
			}
			msg.auth = string(b)
			reply("235 2.7.0 authenticated")
		case "MAIL":
			msg.from = envelopeAddr(arg)
			reply("250 2.1.0 ok")
		case "RCPT":
			to := envelopeAddr(arg)
			if to == s.reject {
				reply("550 5.1.1 no such user")
				continue
			}
			msg.to = append(msg.to, to)
			reply("250 2.1.5 ok")
		case "DATA":
			reply("354 go ahead")
			b, err := tc.ReadDotBytes()
			if err != nil {
				return
			}
			msg.data = string(b)
			reply("250 2.0.0 queued")
			s.msgs <- msg
			msg = smtpMessage{helo: msg.helo}
		case "RSET":
			msg = smtpMessage{helo: msg.helo}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 5.5.2 command not implemented")
		}
	}
}

// envelopeAddr returns the address in "FROM:<a@b> BODY=8BITMIME".
func envelopeAddr(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

// readMail parses a received message and decodes its body.
func readMail(t *testing.T, data string) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	if m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", m.Header.Get("Content-Transfer-Encoding"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestMailSends(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, &smtpServer{})
	m, err := NewMail(MailConfig{
		Addr:      srv.addr,
		From:      "Cron Bot <cron@example.com>",
		To:        []string{"ops@example.com", "Dev Team <dev@example.org>"},
		LocalName: "node-2.example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := failedRecord()
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("output line %02d", i))
	}
	rec.Output = strings.Join(append(lines, ".", "last"), "\n") + "\n"
	rec.Steps = []logsink.StepRecord{
		{Name: "dump", Status: logsink.StatusSucceeded, Duration: time.Second},
		{Name: "upload", Status: logsink.StatusFailed, Duration: 500 * time.Millisecond, ExitCode: 3, Error: "exit status 3\nmore"},
	}
	before := time.Now().Add(-time.Second)
	if err := m.Notify(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	got := <-srv.msgs
	if got.helo != "node-2.example.com" || got.from != "cron@example.com" ||
		strings.Join(got.to, ",") != "ops@example.com,dev@example.org" || got.auth != "" {
		t.Errorf("envelope: HELO %q, MAIL FROM %q, RCPT TO %q, auth %q", got.helo, got.from, got.to, got.auth)
	}
	msg, body := readMail(t, got.data)
	h := msg.Header
	if h.Get("From") != `"Cron Bot" <cron@example.com>` {
		t.Errorf("From = %q", h.Get("From"))
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 || to[0].Address != "ops@example.com" ||
		to[1].Address != "dev@example.org" || to[1].Name != "Dev Team" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if want := "[distcron] nightly-backup: failed on node-2"; h.Get("Subject") != want {
		t.Errorf("Subject = %q, want %q", h.Get("Subject"), want)
	}
	if d, err := h.Date(); err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	if !strings.HasSuffix(h.Get("Message-ID"), "@example.com>") || h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Message-ID = %q, Auto-Submitted = %q", h.Get("Message-ID"), h.Get("Auto-Submitted"))
	}
	for _, want := range []string{
		"Job:       nightly-backup\n",
		"Status:    failed\n",
		"Tick:      2026-03-29 02:30:00.000 UTC\n",
		"Instance:  node-2\n",
		"Trigger:   schedule\n",
		"Attempt:   2\n",
		"Duration:  1.5s\n",
		"Exit code: 3\n",
		"Token:     4711\n",
		"Error:\n    distcron: command failed: exit status 3\n",
		"    2. upload: failed in 500ms, exit code 3\n       exit status 3 ...\n",
		"    output line 13\n",
		"    output line 30\n    .\n    last\n", // a lone "." survives dot-stuffing
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "output line 12") || strings.Contains(body, "Shard:") {
		t.Errorf("body has more than the last 20 lines, or a zero shard:\n%s", body)
	}
}

func TestMailSubjectEncoding(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, &smtpServer{})
	m, err := NewMail(MailConfig{Addr: srv.addr, From: "cron@example.com", To: []string{"ops@example.com"},
		SubjectPrefix: "[prod]", OutputLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := logsink.Record{Job: "rapport-journalier-é", Status: logsink.StatusSucceeded, Shard: 2, Output: "secret output"}
	if err := m.Notify(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	msg, body := readMail(t, (<-srv.msgs).data)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[prod] rapport-journalier-é: succeeded" {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if !strings.Contains(body, "Job:       rapport-journalier-é\n") || !strings.Contains(body, "Shard:     2\n") ||
		strings.Contains(body, "secret output") || !strings.Contains(body, "Instance:  -\n") {
		t.Errorf("body:\n%s", body)
	}
}

func TestMailAuth(t *testing.T) {
	t.Parallel()
	cfg := func(addr string) MailConfig {
		return MailConfig{Addr: addr, From: "cron@example.com", To: []string{"ops@example.com"},
			Username: "cron", Password: "pa55"}
	}

	srv := startSMTP(t, &smtpServer{offerAuth: true})
	m, err := NewMail(cfg(srv.addr)) // 127.0.0.1: net/smtp allows PLAIN without TLS
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Notify(context.Background(), failedRecord()); err != nil {
		t.Fatal(err)
	}
	if got := (<-srv.msgs).auth; got != "\x00cron\x00pa55" {
		t.Errorf("AUTH PLAIN = %q", got)
	}

	noAuth := startSMTP(t, &smtpServer{})
	m, err = NewMail(cfg(noAuth.addr))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Notify(context.Background(), failedRecord())
	if err == nil || !strings.Contains(err.Error(), "does not offer AUTH") {
		t.Errorf("server without AUTH: err = %v", err)
	}
	if len(noAuth.msgs) != 0 {
		t.Error("a message was sent without the required authentication")
	}
}

func TestMailRejectedRecipient(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, &smtpServer{reject: "nobody@example.com"})
	m, err := NewMail(MailConfig{Addr: srv.addr, From: "cron@example.com", To: []string{"ops@example.com", "nobody@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Notify(context.Background(), failedRecord())
	var tpErr *textproto.Error
	if !errors.As(err, &tpErr) || tpErr.Code != 550 || !strings.Contains(err.Error(), "recipient nobody@example.com") {
		t.Errorf("err = %v, want a 550 for nobody@example.com", err)
	}
	if len(srv.msgs) != 0 {
		t.Error("the message was sent")
	}
}

func TestMailContext(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, &smtpServer{hang: true})
	cfg := MailConfig{Addr: srv.addr, From: "cron@example.com", To: []string{"ops@example.com"}}

	cfg.Timeout = 50 * time.Millisecond
	m, err := NewMail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Notify(context.Background(), failedRecord()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Timeout: err = %v, want DeadlineExceeded", err)
	}

	cfg.Timeout = 0 // the default 30s is not reached
	m, err = NewMail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.Notify(ctx, failedRecord()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx deadline: err = %v, want DeadlineExceeded", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := m.Notify(ctx, failedRecord()); !errors.Is(err, context.Canceled) {
		t.Errorf("ctx canceled: err = %v, want Canceled", err)
	}
}

func TestNewMailValidation(t *testing.T) {
	t.Parallel()
	ok := MailConfig{Addr: "smtp.example.com:587", From: "cron@example.com", To: []string{"ops@example.com"}}
	tests := []struct {
		name   string
		change func(*MailConfig)
		msg    string
	}{
		{"no addr", func(c *MailConfig) { c.Addr = "" }, "is not host:port"},
		{"no port", func(c *MailConfig) { c.Addr = "smtp.example.com" }, "is not host:port"},
		{"no host", func(c *MailConfig) { c.Addr = ":25" }, "has no host"},
		{"bad port", func(c *MailConfig) { c.Addr = "smtp.example.com:smtp" }, "bad port"},
		{"no from", func(c *MailConfig) { c.From = "" }, "empty From"},
		{"bad from", func(c *MailConfig) { c.From = "not an address" }, `From "not an address"`},
		{"header injection", func(c *MailConfig) { c.From = "a@example.com\r\nBcc: x@example.com" }, "From"},
		{"no to", func(c *MailConfig) { c.To = nil }, "no To address"},
		{"bad to", func(c *MailConfig) { c.To = []string{"ops@example.com", "ops"} }, `To "ops"`},
		{"password only", func(c *MailConfig) { c.Password = "x" }, "Password without Username"},
		{"bad prefix", func(c *MailConfig) { c.SubjectPrefix = "a\nb" }, "line break"},
		{"negative timeout", func(c *MailConfig) { c.Timeout = -time.Second }, "negative Timeout"},
	}
	for _, tt := range tests {
		cfg := ok
		cfg.To = append([]string(nil), ok.To...)
		tt.change(&cfg)
		m, err := NewMail(cfg)
		if m != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: NewMail = %v, %v; want ErrInvalidConfig containing %q", tt.name, m, err, tt.msg)
		}
	}
	if _, err := NewMail(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestLastLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 3, "a\nb\nc"},
		{"a\nb\nc\n\n", 5, "a\nb\nc"},
		{"only", 1, "only"},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
