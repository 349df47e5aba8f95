package etcdfault_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/goleak"

	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's embedded server and gRPC leave these behind briefly after Close.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// setup returns a wrapped client, its injector and a plain client to check
// what etcd really holds.
func setup(t *testing.T) (*clientv3.Client, *etcdfault.Injector, *clientv3.Client) {
	t.Helper()
	c := etcdtest.Start(t)
	cli := etcdtest.Client(t, c)
	return cli, etcdfault.Wrap(cli), etcdtest.Client(t, c)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func exists(t *testing.T, cli *clientv3.Client, key string) bool {
	t.Helper()
	resp, err := cli.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return resp.Count > 0
}

// createTxn is a create-if-absent of key, like a claim.
func createTxn(ctx context.Context, cli *clientv3.Client, key string) (*clientv3.TxnResponse, error) {
	return cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, "v")).
		Commit()
}

func TestLoseAnswerApplies(t *testing.T) {
	cli, in, plain := setup(t)
	ctx := ctxT(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: "/lost/", Action: etcdfault.LoseAnswer})
	in.Add(etcdfault.Rule{Kind: etcdfault.Put, Key: "/lost/", Action: etcdfault.LoseAnswer})

	if _, err := createTxn(ctx, cli, "/lost/txn"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, etcdfault.ErrInjected) {
		t.Fatalf("txn: err = %v, want an injected deadline error", err)
	}
	if _, err := cli.Put(ctx, "/lost/put", "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put: err = %v, want deadline exceeded", err)
	}
	for _, k := range []string{"/lost/txn", "/lost/put"} {
		if !exists(t, plain, k) {
			t.Errorf("%s absent: the lost request was not applied", k)
		}
	}
	if _, err := cli.Put(ctx, "/other", "v"); err != nil {
		t.Fatalf("unmatched put: %v", err)
	}
	if got := in.Hits(); got != 2 {
		t.Errorf("Hits = %d, want 2", got)
	}
}

func TestFailDoesNotApply(t *testing.T) {
	cli, in, plain := setup(t)
	ctx := ctxT(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Txn, Action: etcdfault.Fail, Err: rpctypes.ErrLeaseNotFound})
	in.Add(etcdfault.Rule{Kind: etcdfault.Delete, Action: etcdfault.Fail})

	if _, err := createTxn(ctx, cli, "/fail/txn"); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Fatalf("txn: err = %v, want ErrLeaseNotFound", err)
	}
	if exists(t, plain, "/fail/txn") {
		t.Error("failed txn was applied")
	}
	if _, err := cli.Put(ctx, "/fail/del", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "/fail/del"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, etcdfault.ErrInjected) {
		t.Fatalf("delete: err = %v, want an injected deadline error", err)
	}
	if !exists(t, plain, "/fail/del") {
		t.Error("failed delete was applied")
	}
}

func TestHangReturnsOnCtxEnd(t *testing.T) {
	cli, in, plain := setup(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Put, Action: etcdfault.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := cli.Put(ctx, "/hang", "v"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("returned after %v, before ctx ended", d)
	}
	if exists(t, plain, "/hang") {
		t.Error("hung put was applied")
	}
}

func TestDelayPassesThrough(t *testing.T) {
	cli, in, plain := setup(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Put, Action: etcdfault.Delay, Delay: 100 * time.Millisecond})
	start := time.Now()
	if _, err := cli.Put(ctxT(t), "/delay", "v"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("returned after %v, want >= 100ms", d)
	}
	if !exists(t, plain, "/delay") {
		t.Error("delayed put not applied")
	}
}

func TestTimesAfterAndRemove(t *testing.T) {
	cli, in, _ := setup(t)
	ctx := ctxT(t)
	remove := in.Add(etcdfault.Rule{Kind: etcdfault.Put, Key: "/ta", Action: etcdfault.Fail, After: 1, Times: 2})
	var got []bool
	for range 4 {
		_, err := cli.Put(ctx, "/ta", "v")
		got = append(got, err != nil)
	}
	if want := []bool{false, true, true, false}; !slices.Equal(got, want) {
		t.Errorf("failed = %v, want %v", got, want)
	}
	remove()
	remove() // idempotent
	in.Add(etcdfault.Rule{Kind: etcdfault.Put, Action: etcdfault.Fail})
	if _, err := cli.Put(ctx, "/ta", "v"); err == nil {
		t.Error("put passed an unlimited Fail rule")
	}
	in.Clear()
	if _, err := cli.Put(ctx, "/ta", "v"); err != nil {
		t.Errorf("put after Clear: %v", err)
	}
	if h := in.Hits(); h != 3 {
		t.Errorf("Hits = %d, want 3", h)
	}
}

func TestNestedTxnKeys(t *testing.T) {
	cli, in, plain := setup(t)
	ctx := ctxT(t)
	var seen []string
	in.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: "/n/deep", Action: etcdfault.Fail, Match: func(c etcdfault.Call) bool {
		seen = c.Keys
		return true
	}})
	nested := clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("/n/cmp"), "=", 0)},
		[]clientv3.Op{clientv3.OpTxn(nil, []clientv3.Op{clientv3.OpPut("/n/deep", "v")}, nil)},
		[]clientv3.Op{clientv3.OpGet("/n/else")},
	)
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut("/n/top", "v"), nested).Commit(); err == nil {
		t.Fatal("txn with a nested key passed the rule")
	}
	want := []string{"/n/top", "/n/cmp", "/n/deep", "/n/else"}
	if len(seen) != len(want) {
		t.Fatalf("Call.Keys = %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("Call.Keys = %q, want %q", seen, want)
		}
	}
	if exists(t, plain, "/n/top") {
		t.Error("failed txn was applied")
	}
	// KV.Do with a txn op is matched the same way.
	if _, err := cli.Do(ctx, nested); err == nil {
		t.Error("Do(nested txn) passed the rule")
	}
	// Txns not touching the prefix pass.
	if _, err := createTxn(ctx, cli, "/n/other"); err != nil {
		t.Errorf("unmatched txn: %v", err)
	}
}

// next receives one response, failing the test if none comes in time.
func next(t *testing.T, ch clientv3.WatchChan) (clientv3.WatchResponse, bool) {
	t.Helper()
	select {
	case resp, ok := <-ch:
		return resp, ok
	case <-time.After(5 * time.Second):
		t.Fatal("no watch response within 5s")
		return clientv3.WatchResponse{}, false
	}
}

func TestCompactWatch(t *testing.T) {
	cli, in, _ := setup(t)
	ctx := ctxT(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Watch, Key: "/w/", Action: etcdfault.CompactWatch, Times: 1})
	ch := cli.Watch(ctx, "/w/", clientv3.WithPrefix())
	resp, ok := next(t, ch)
	if !ok || !resp.Canceled || resp.CompactRevision == 0 || !errors.Is(resp.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("got ok=%v %+v (err %v), want a compacted response", ok, resp, resp.Err())
	}
	if _, ok := next(t, ch); ok {
		t.Fatal("channel not closed after the compacted response")
	}
	// Times: 1, so the re-watch works.
	ch = cli.Watch(ctx, "/w/", clientv3.WithPrefix(), clientv3.WithRev(resp.CompactRevision))
	if _, err := cli.Put(ctx, "/w/a", "v"); err != nil {
		t.Fatal(err)
	}
	if resp, ok := next(t, ch); !ok || len(resp.Events) != 1 {
		t.Fatalf("re-watch: ok=%v %+v", ok, resp)
	}
}

func TestCancelWatch(t *testing.T) {
	cli, in, _ := setup(t)
	ctx := ctxT(t)
	remove := in.Add(etcdfault.Rule{Kind: etcdfault.Watch, Action: etcdfault.CancelWatch})
	if resp, ok := next(t, cli.Watch(ctx, "/c")); ok {
		t.Fatalf("got %+v, want the channel closed", resp)
	}
	remove()
	in.Add(etcdfault.Rule{Kind: etcdfault.Watch, Action: etcdfault.CancelWatch, Err: rpctypes.ErrNoLeader})
	ch := cli.Watch(clientv3.WithRequireLeader(ctx), "/c")
	resp, ok := next(t, ch)
	if !ok || !resp.Canceled || !errors.Is(resp.Err(), rpctypes.ErrNoLeader) {
		t.Fatalf("got ok=%v %+v (err %v), want ErrNoLeader", ok, resp, resp.Err())
	}
	if _, ok := next(t, ch); ok {
		t.Fatal("channel not closed")
	}
}

func TestFailWatches(t *testing.T) {
	cli, in, _ := setup(t)
	ctx := ctxT(t)
	a := cli.Watch(ctx, "/fw/a")
	b := cli.Watch(ctx, "/fw/b")
	other := cli.Watch(ctx, "/keep")
	if _, err := cli.Put(ctx, "/fw/a", "v"); err != nil {
		t.Fatal(err)
	}
	if resp, ok := next(t, a); !ok || len(resp.Events) != 1 {
		t.Fatalf("before: ok=%v %+v", ok, resp)
	}
	if n := in.FailWatches("/fw/a", true); n != 1 {
		t.Fatalf("FailWatches compact = %d, want 1", n)
	}
	resp, ok := next(t, a)
	if !ok || !errors.Is(resp.Err(), rpctypes.ErrCompacted) || resp.CompactRevision < resp.Header.Revision {
		t.Fatalf("got ok=%v %+v (err %v), want compacted", ok, resp, resp.Err())
	}
	if _, ok := next(t, a); ok {
		t.Fatal("compacted watch not closed")
	}
	if n := in.FailWatches("/fw/", false); n != 1 {
		t.Fatalf("FailWatches cancel = %d, want 1", n)
	}
	if resp, ok := next(t, b); ok {
		t.Fatalf("cancelled watch: got %+v, want closed", resp)
	}
	if _, err := cli.Put(ctx, "/keep", "v"); err != nil {
		t.Fatal(err)
	}
	if resp, ok := next(t, other); !ok || len(resp.Events) != 1 {
		t.Fatalf("unaffected watch: ok=%v %+v", ok, resp)
	}
}

func TestWatchEndsWithCtx(t *testing.T) {
	cli, in, _ := setup(t)
	in.Add(etcdfault.Rule{Kind: etcdfault.Watch, Key: "/hang", Action: etcdfault.Hang})
	ctx, cancel := context.WithCancel(context.Background())
	plain, hung := cli.Watch(ctx, "/plain"), cli.Watch(ctx, "/hang")
	cancel()
	for _, ch := range []clientv3.WatchChan{plain, hung} {
		for {
			if _, ok := next(t, ch); !ok {
				break
			}
		}
	}
	// An unread watch on a background ctx ends with the client (goleak checks).
	cli.Watch(context.Background(), "/unread")
	if _, err := cli.Put(ctxT(t), "/unread", "v"); err != nil {
		t.Fatal(err)
	}
}

func TestSession(t *testing.T) {
	cli, in, plain := setup(t)
	ctx := ctxT(t)
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	e := concurrency.NewElection(s, "/e/")
	if err := e.Campaign(ctx, "me"); err != nil {
		t.Fatal(err)
	}
	if l, err := e.Leader(ctx); err != nil || string(l.Kvs[0].Value) != "me" {
		t.Fatalf("leader: %v %v", l, err)
	}
	if err := e.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := plain.TimeToLive(ctx, s.Lease()); err != nil || resp.TTL != -1 {
		t.Fatalf("lease after Close: %+v %v, want revoked", resp, err)
	}

	// A broken keepalive ends the session.
	s, err = concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := in.FailKeepAlives(s.Lease()); n != 1 {
		t.Fatalf("FailKeepAlives = %d, want 1", n)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not done after its keepalive broke")
	}

	// A failing KeepAlive gives a session that is done at once; a failing
	// Grant no session.
	in.Add(etcdfault.Rule{Kind: etcdfault.KeepAlive, Action: etcdfault.Fail, Times: 1})
	s2, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	select {
	case <-s2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session with a failed keepalive not done")
	}
	in.Add(etcdfault.Rule{Kind: etcdfault.Grant, Action: etcdfault.Fail, Err: rpctypes.ErrNoLeader})
	if _, err := concurrency.NewSession(cli); !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("NewSession with failing Grant: %v", err)
	}
}
