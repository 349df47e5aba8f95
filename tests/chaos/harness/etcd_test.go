package harness

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdMemberProcesses drives a cluster of etcdmember processes through
// the faults the harness injects, with real signals: the leader SIGKILLed
// (the others elect a new one and take writes) and restarted from its data
// directory; two members SIGSTOPped (no write commits) and SIGCONTed; two
// members SIGKILLed and restarted (every acknowledged write survives).
func TestEtcdMemberProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcdmember and runs a 3-process etcd cluster")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin, err := build(ctx, t.TempDir(), "github.com/distcron/distcron/internal/embedetcd/cmd/etcdmember")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lost []string
	logDir := t.TempDir()
	c, err := startEtcd(bin, t.TempDir(), logDir, 3, func(m *member, err error) {
		mu.Lock()
		lost = append(lost, fmt.Sprintf("%s: %v", m.Name, err))
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("start: %v (logs in %s)", err, logDir)
	}
	defer c.close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	// put writes key=val, retrying every 100ms (a request to a member that
	// just died fails) until it commits or within is over.
	put := func(key string, within time.Duration) error {
		var err error
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = cli.Put(pctx, key, "x")
			cancel()
			if err == nil {
				return nil
			}
		}
		return err
	}
	written := []string{}
	mustPut := func(key string) {
		t.Helper()
		if err := put(key, 60*time.Second); err != nil {
			t.Fatalf("put %s: %v (logs in %s)", key, err, logDir)
		}
		written = append(written, key)
	}
	mustPut("before")

	// The leader, SIGKILLed: the other two elect a leader and take writes.
	lead, err := c.leader(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.members[lead].kill(); err != nil {
		t.Fatalf("kill the leader %s: %v", c.members[lead].Name, err)
	}
	mustPut("leader-down")
	if newLead, err := leaderWithin(ctx, c, cli, 30*time.Second); err != nil || newLead == lead {
		t.Fatalf("leader after %s was killed: %d, %v", c.members[lead].Name, newLead, err)
	}
	// Restarted from its data directory, on the same ports: it rejoins.
	if err := c.members[lead].startReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	mustPut("leader-back")
	waitServes(ctx, t, c.members[lead], "leader-back")

	// Two members SIGSTOPped: no write commits until they are SIGCONTed.
	frozen := []*member{c.members[0], c.members[1]}
	if err := each(frozen, (*member).freeze); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	if err := put("frozen", 2*time.Second); err == nil {
		t.Error("a write committed with two of three members stopped")
	}
	if err := each(frozen, (*member).thaw); err != nil {
		t.Fatal(err)
	}
	mustPut("thawed")

	// Two members SIGKILLed and restarted together: writes commit again,
	// and the ones acknowledged before are all there.
	killed := []*member{c.members[1], c.members[2]}
	if err := each(killed, (*member).kill); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := put("no-quorum", 2*time.Second); err == nil {
		t.Error("a write committed with two of three members killed")
	}
	if err := each(killed, func(m *member) error { return m.startReady(ctx, true) }); err != nil {
		t.Fatal(err)
	}
	mustPut("quorum-back")
	for _, m := range c.members {
		waitServes(ctx, t, m, "quorum-back")
	}
	resp, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	for _, k := range written {
		if !slices.Contains(keys, k) {
			t.Errorf("acknowledged write %q lost; keys now %q", k, keys)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lost) > 0 {
		t.Errorf("member processes exited on their own: %q", lost)
	}
}

// leaderWithin waits until the running members agree on a leader.
func leaderWithin(ctx context.Context, c *etcdCluster, cli *clientv3.Client, d time.Duration) (int, error) {
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var lead int
		if lead, err = c.leader(ctx, cli); err == nil {
			return lead, nil
		}
	}
	return -1, err
}

// waitServes waits until member m answers a serializable read of key
// from its own store: it has caught up with the cluster.
func waitServes(ctx context.Context, t *testing.T, m *member, key string) {
	t.Helper()
	one, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		gctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := one.Get(gctx, key, clientv3.WithSerializable())
		cancel()
		if err == nil && len(resp.Kvs) == 1 {
			return
		}
		last = err
	}
	t.Fatalf("member %s does not serve %q after 30s: %v", m.Name, key, last)
}
