package distcron

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/logsink"
)

// Issue 10: each Kill granted a lease of its own (200 kills left 200
// leases); a burst of kills now shares one.
func TestKillsShareOneLease(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	if err := s.RegisterFunc("k", "@yearly", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := s.Kill(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	after, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(after.Leases) - len(before.Leases); n > 1 {
		t.Fatalf("30 kills granted %d leases, want at most 1", n)
	}
}

// Issue 10: a run request that no instance can take expires, and leaves a
// skipped record saying so instead of vanishing. The leader's clock runs
// 11 minutes ahead, so the request is past its 10-minute expiry at once.
func TestUntakenRequestExpiresWithARecord(t *testing.T) {
	tc := newTestCluster(t)
	leader, _ := tc.newScheduler("leader", WithClock(skewedClock{11 * time.Minute}), WithClaimRetention(20*time.Second))
	tc.start(leader)
	waitFor(t, 10*time.Second, "leadership", leader.IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A shell job no instance runs (none enables remote shell).
	if err := leader.Define(ctx, Definition{Name: "nobody", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	caller, _ := tc.newScheduler("caller") // unskewed, not started
	if err := caller.Trigger(ctx, "nobody"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the expired request's record", func() bool {
		for _, r := range recordsOf(tc.sink, "nobody") {
			if r.Status == logsink.StatusSkipped && r.Trigger == logsink.TriggerManual && strings.Contains(r.Error, "expired") {
				return true
			}
		}
		return false
	})
	resp, err := leader.cli.Get(ctx, tc.ns+"control/requests/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Fatalf("requests left: %v %v", resp, err)
	}
}

// Issue 10: a definition is stored without JSON's HTML escaping ("<"
// would grow sixfold) and one above MaxDefinitionSize is refused with a
// clear error, not etcd's raw "message larger than max".
func TestDefinitionSizeIsBoundedAndNotEscaped(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	def := func(n int) Definition {
		return Definition{Name: "big", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "echo '" + strings.Repeat("<", n) + "'"}}
	}
	if err := s.Define(ctx, def(300<<10)); err != nil {
		t.Fatalf("a 300 KiB definition of '<': %v", err)
	}
	got, err := s.cli.Get(ctx, tc.ns+"defs/big")
	if err != nil || len(got.Kvs) != 1 || len(got.Kvs[0].Value) > 301<<10 {
		t.Fatalf("stored %d bytes for a 300 KiB definition: %v", len(got.Kvs[0].Value), err)
	}
	err = s.Define(ctx, def(MaxDefinitionSize))
	if !errors.Is(err, ErrInvalidDefinition) || strings.Contains(err.Error(), "rpc error") {
		t.Fatalf("an oversized definition: %v", err)
	}
}
