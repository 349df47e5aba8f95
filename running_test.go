package distcron

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestRunGroupWaitsForRunsAddedWhileWaiting(t *testing.T) {
	var g runGroup
	if !g.wait(context.Background()) {
		t.Fatal("an empty group should not block")
	}
	if !g.add() {
		t.Fatal("add to an open group")
	}
	done := make(chan bool)
	go func() { done <- g.wait(context.Background()) }()
	if !g.add() { // a second run starts while Stop waits: allowed until close
		t.Fatal("add while waiting")
	}
	g.done()
	select {
	case <-done:
		t.Fatal("wait returned with a run still in progress")
	case <-time.After(50 * time.Millisecond):
	}
	g.done()
	if !<-done {
		t.Fatal("wait should report the runs ended")
	}
	g.close()
	if g.add() {
		t.Fatal("add after close")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !g.wait(ctx) {
		t.Fatal("a closed, empty group is idle")
	}
}

func TestRunGroupWaitEndsWithItsContext(t *testing.T) {
	var g runGroup
	g.add()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if g.wait(ctx) {
		t.Fatal("wait reported idle with a run in progress")
	}
}

// A release of many keys at once fits etcd's limits on nested
// transactions, and deletes only the keys on the given lease.
func TestReleaseOfManyKeysDeletesOnlyOwnLease(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mine, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*releaseBatch + 7
	for i := range n {
		lease := mine.ID
		if i%10 == 0 {
			lease = theirs.ID // a peer's key that we wrongly believe ours
		}
		key := fmt.Sprintf("%srunning/j/%04d", tc.ns, i)
		if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(lease)); err != nil {
			t.Fatal(err)
		}
		s.owner.drop(key, mine.ID)
	}
	if err := s.owner.flush(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, tc.ns+"running/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if want := (n + 9) / 10; len(resp.Kvs) != want {
		t.Fatalf("%d keys left, want the %d on the other lease", len(resp.Kvs), want)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != int64(theirs.ID) {
			t.Fatalf("left %s on our lease", kv.Key)
		}
	}
}
