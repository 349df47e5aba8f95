package distcron

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/executor"
)

func TestNewRejectsBadOptions(t *testing.T) {
	cli := &clientv3.Client{} // New never touches the network
	if _, err := New(nil); !errors.Is(err, ErrNilClient) {
		t.Fatalf("nil client: %v", err)
	}
	cases := map[string]Option{
		"relative namespace": WithNamespace("distcron/x"),
		"bad instance id":    WithInstanceID("a/b"),
		"blank tag":          WithTags(""),
		"nil logger":         WithLogger(nil),
		"short ttl":          WithSessionTTL(500 * time.Millisecond),
		"negative cap":       WithMaxConcurrentRuns(-1),
		"nil location":       WithLocation(nil),
		"short retention":    WithClaimRetention(time.Millisecond),
		"huge lead":          WithClaimLead(time.Minute),
		"zero misfire grace": WithMisfireGrace(0),
		"nil clock":          WithClock(nil),
		"nil sink":           WithSinks(nil),
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cli, opt); !errors.Is(err, ErrInvalidOption) || !strings.HasPrefix(err.Error(), "distcron: ") {
				t.Fatalf("New = %v, want ErrInvalidOption", err)
			}
		})
	}
	s, err := New(cli, WithNamespace("/x"))
	if err != nil || s.keys.Prefix() != "/x/" || !strings.Contains(s.InstanceID(), "-") {
		t.Fatalf("defaults: %v %+v", err, s)
	}
}

func TestRegisterRejectsBadInputAndChangesNothing(t *testing.T) {
	s, err := New(&clientv3.Client{})
	if err != nil {
		t.Fatal(err)
	}
	noop := func(context.Context) error { return nil }
	if err := s.RegisterFunc("ok", "* * * * *", noop); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"bad spec", ErrInvalidSpec, func() error { return s.RegisterFunc("x", "61 * * * *", noop) }},
		{"reversed range", ErrInvalidSpec, func() error { return s.RegisterFunc("x", "5-2 * * * *", noop) }},
		{"too short every", ErrInvalidSpec, func() error { return s.RegisterFunc("x", "@every 1ms", noop) }},
		{"empty spec", ErrInvalidSpec, func() error { return s.RegisterFunc("x", "", noop) }},
		{"spec that never fires (issue 12)", ErrInvalidSpec, func() error { return s.RegisterFunc("x", "0 0 31 2 *", noop) }},
		{"duplicate", ErrDuplicateJob, func() error { return s.RegisterFunc("ok", "* * * * *", noop) }},
		{"empty name", ErrInvalidName, func() error { return s.RegisterFunc("", "* * * * *", noop) }},
		{"slash in name", ErrInvalidName, func() error { return s.RegisterFunc("a/b", "* * * * *", noop) }},
		{"space in name", ErrInvalidName, func() error { return s.RegisterFunc("a b", "* * * * *", noop) }},
		{"nil func", ErrInvalidOption, func() error { return s.RegisterFunc("x", "* * * * *", nil) }},
		{"empty command", ErrInvalidOption, func() error { return s.RegisterShell("x", "* * * * *", "") }},
		{"nil executor", ErrInvalidOption, func() error { return s.Register("x", "* * * * *", nil) }},
		{"nil schedule", ErrInvalidOption, func() error { return s.RegisterSchedule("x", nil, executor.Func(noop)) }},
		{"negative timeout", ErrInvalidOption, func() error { return s.RegisterFunc("x", "* * * * *", noop, Timeout(-1)) }},
		{"bad overlap", ErrInvalidOption, func() error { return s.RegisterFunc("x", "* * * * *", noop, Overlap(9)) }},
		{"nil zone", ErrInvalidOption, func() error { return s.RegisterFunc("x", "* * * * *", noop, InLocation(nil)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, c.err) || !strings.HasPrefix(err.Error(), "distcron: ") {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
	if got := s.Jobs(); len(got) != 1 || got[0] != "ok" {
		t.Fatalf("jobs after bad input: %v", got)
	}
	if !s.Unregister("ok") || s.Unregister("ok") || len(s.Jobs()) != 0 {
		t.Fatal("Unregister")
	}
}

func TestStartFailsClearlyWhenEtcdIsUnreachable(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := New(cli)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = s.Start(ctx)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Start = %v, want ErrUnreachable", err)
	}
	// Issue 12: the error names the endpoint and the cause.
	if !strings.Contains(err.Error(), "127.0.0.1:1: connection refused") {
		t.Errorf("Start = %v, want it to say 127.0.0.1:1 refused the connection", err)
	}
	if err := s.Stop(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Stop after failed Start = %v", err)
	}
}

// Issue 12: Start with context.Background() against an endpoint that
// accepts connections but never answers blocked for over a minute on
// main. It is bounded by default (DefaultStartTimeout) and says what the
// endpoint did.
func TestStartIsBoundedByDefault(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ln.Addr().String()}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := New(cli, WithLogger(zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Start(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(DefaultStartTimeout + 10*time.Second):
		t.Fatalf("Start(context.Background()) still blocked after %v", time.Since(start))
	}
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), ln.Addr().String()+": accepts connections, but etcd did not answer") {
		t.Errorf("Start = %v, want ErrUnreachable saying %s accepts connections but etcd did not answer", err, ln.Addr())
	}
	if elapsed := time.Since(start); elapsed < DefaultStartTimeout {
		t.Errorf("Start failed after %v, before the start timeout; err %v", elapsed, err)
	}
}
