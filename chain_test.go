package distcron

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/notify"
)

// smtpSink is a minimal SMTP server for tests: it accepts every message
// and keeps the DATA of each.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	io.WriteString(c, "220 test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			io.WriteString(c, "250 test\r\n")
		case cmd == "DATA":
			io.WriteString(c, "354 go ahead\r\n")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			io.WriteString(c, "250 queued\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default: // MAIL, RCPT, RSET, NOOP
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func (s *smtpSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func TestPipelineFailureChainsAndNotifiesOnce(t *testing.T) {
	tc := newTestCluster(t)
	var hookMu sync.Mutex
	var hooked []logsink.Record
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rec logsink.Record
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		hookMu.Lock()
		hooked = append(hooked, rec)
		hookMu.Unlock()
	}))
	defer hook.Close()
	mail := newSMTPSink(t)
	webhook, err := notify.NewWebhook(hook.URL)
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := notify.NewMail(notify.MailConfig{Addr: mail.ln.Addr().String(), From: "cron@example.com", To: []string{"ops@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var third, cleanups atomic.Int32
	ss := threeNodes(t, tc, func(s *Scheduler) {
		steps := executor.Pipeline(
			executor.Step{Name: "prepare", Exec: executor.Shell("echo preparing")},
			executor.Step{Name: "load", Exec: executor.Shell("echo loading; exit 3")},
			executor.Step{Name: "publish", Exec: executor.Func(func(context.Context) error { third.Add(1); return nil })},
		)
		if err := s.Register("etl", "@yearly", steps, OnFailure("cleanup")); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterFunc("cleanup", "@yearly", func(ctx context.Context) error {
			cleanups.Add(1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}, WithNotifier(webhook, nil), WithNotifier(mailer, nil))
	if err := ss[1].Trigger(context.Background(), "etl"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the cleanup run", func() bool { return len(recordsOf(tc.sink, "cleanup")) >= 1 })
	waitFor(t, 5*time.Second, "webhook and mail", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hooked) >= 1 && len(mail.messages()) >= 1
	})
	time.Sleep(500 * time.Millisecond) // room for wrong duplicates
	etl := recordsOf(tc.sink, "etl")
	if len(etl) != 1 {
		t.Fatalf("%d etl records", len(etl))
	}
	r := etl[0]
	if r.Status != logsink.StatusFailed || len(r.Steps) != 2 || r.Steps[0].Status != logsink.StatusSucceeded ||
		r.Steps[1].Name != "load" || r.Steps[1].Status != logsink.StatusFailed || r.Steps[1].ExitCode != 3 ||
		!strings.Contains(r.Steps[1].Output, "loading") || !strings.Contains(r.Error, "load") {
		t.Fatalf("pipeline record %+v", r)
	}
	if third.Load() != 0 {
		t.Fatal("the step after the failing one ran")
	}
	if n := cleanups.Load(); n != 1 {
		t.Fatalf("on-failure job ran %d times, want 1", n)
	}
	if c := recordsOf(tc.sink, "cleanup")[0]; c.Trigger != logsink.TriggerChain || !c.Tick.Equal(r.Tick) {
		t.Fatalf("chained record %+v", c)
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if len(hooked) != 1 || hooked[0].Job != "etl" || hooked[0].Status != logsink.StatusFailed {
		t.Fatalf("webhook got %+v; want the one failure (success is not notified by default)", hooked)
	}
	msgs := mail.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "etl") || !strings.Contains(msgs[0], "failed") {
		t.Fatalf("mail got %q", msgs)
	}
}
