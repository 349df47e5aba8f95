package claim_test

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/distcron/distcron/internal/claim"
	"github.com/distcron/distcron/internal/etcdtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
	os.Exit(0)
}

// env is a real etcd with two leases, as two claimants.
type env struct {
	cli    *clientv3.Client
	ctx    context.Context
	a, b   clientv3.LeaseID
	prefix string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cli := etcdtest.Client(t, etcdtest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	e := &env{cli: cli, ctx: ctx, prefix: "/t/"}
	for _, l := range []*clientv3.LeaseID{&e.a, &e.b} {
		g, err := cli.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		*l = g.ID
	}
	return e
}

func (e *env) spec(run string, o claim.Overlap, who string) claim.Spec {
	return claim.Spec{ClaimKey: e.prefix + "claims/" + run, ClaimValue: who, RunKey: e.prefix + "running/job/" + run,
		RunValue: who, JobRuns: e.prefix + "running/job/", Overlap: o}
}

// commit sends one claim and returns its outcome.
func (e *env) commit(t *testing.T, sp claim.Spec, lease clientv3.LeaseID) claim.Outcome {
	t.Helper()
	resp, err := e.cli.Txn(e.ctx).Then(claim.Op(sp, lease)).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return claim.Result(resp.Responses[0].GetResponseTxn(), sp.Overlap)
}

func (e *env) resolve(t *testing.T, sp claim.Spec, lease clientv3.LeaseID) (claim.Outcome, int64) {
	t.Helper()
	resp, err := e.cli.Txn(e.ctx).Then(claim.ReadBack(sp)...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return claim.Resolve(sp, resp.Responses[0].GetResponseRange().GetKvs(), resp.Responses[1].GetResponseRange().GetKvs(), lease)
}

func TestOnlyTheFirstClaimWins(t *testing.T) {
	e := newEnv(t)
	if o := e.commit(t, e.spec("t1", claim.Allow, "a"), e.a); o.State != claim.Won {
		t.Fatalf("first claim: %+v", o)
	}
	if o := e.commit(t, e.spec("t1", claim.Allow, "b"), e.b); o.State != claim.Lost {
		t.Fatalf("second claim: %+v", o)
	}
	if o, tok := e.resolve(t, e.spec("t1", claim.Allow, "a"), e.a); o.State != claim.Won || tok == 0 {
		t.Fatalf("read back by the winner: %+v %d", o, tok)
	}
	if o, _ := e.resolve(t, e.spec("t1", claim.Allow, "b"), e.b); o.State != claim.Lost {
		t.Fatalf("read back by the loser: %+v", o)
	}
	if o, _ := e.resolve(t, e.spec("t2", claim.Allow, "a"), e.a); o.State != claim.Open {
		t.Fatalf("read back of an unclaimed tick: %+v", o)
	}
}

func TestForbidClaimsButSkipsWhileARunIsInProgress(t *testing.T) {
	e := newEnv(t)
	if o := e.commit(t, e.spec("t1", claim.Forbid, "a"), e.a); o.State != claim.Won {
		t.Fatalf("idle: %+v", o)
	}
	sp := e.spec("t2", claim.Forbid, "b")
	if o := e.commit(t, sp, e.b); o.State != claim.Skipped {
		t.Fatalf("busy: %+v", o)
	}
	if o, tok := e.resolve(t, sp, e.b); o.State != claim.Skipped || tok == 0 {
		t.Fatalf("read back of the skipped claim: %+v", o)
	}
	if o := e.commit(t, e.spec("t2", claim.Forbid, "a"), e.a); o.State != claim.Lost {
		t.Fatalf("the skipped tick is still claimed: %+v", o)
	}
}

func TestReplaceListsTheRunsInProgress(t *testing.T) {
	e := newEnv(t)
	e.commit(t, e.spec("t1", claim.Allow, "a"), e.a)
	o := e.commit(t, e.spec("t2", claim.Replace, "b"), e.b)
	if o.State != claim.Won || len(o.Replace) != 1 || o.Replace[0] != e.prefix+"running/job/t1" {
		t.Fatalf("replace: %+v", o)
	}
}

func TestAClaimOnAnExpiredLeaseFailsWhole(t *testing.T) {
	e := newEnv(t)
	if _, err := e.cli.Revoke(e.ctx, e.b); err != nil {
		t.Fatal(err)
	}
	sp := e.spec("t1", claim.Allow, "b")
	if _, err := e.cli.Txn(e.ctx).Then(claim.Op(sp, e.b)).Commit(); err == nil {
		t.Fatal("a claim on a revoked lease succeeded")
	}
	if o, _ := e.resolve(t, sp, e.b); o.State != claim.Open {
		t.Fatalf("the tick should still be open: %+v", o)
	}
}

func TestLastTickIsWrittenWonOrSkipped(t *testing.T) {
	e := newEnv(t)
	last := e.prefix + "last/job"
	for _, tick := range []string{"t1", "t2"} { // t2 is skipped: t1 still runs
		sp := e.spec(tick, claim.Forbid, "a")
		sp.LastKey, sp.LastValue = last, tick
		e.commit(t, sp, e.a)
		resp, err := e.cli.Get(e.ctx, last)
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != tick {
			t.Fatalf("after %s: %v %v", tick, resp, err)
		}
	}
}

func TestReleaseDeletesOnlyOnItsOwnLease(t *testing.T) {
	e := newEnv(t)
	sp := e.spec("t1", claim.Allow, "a")
	e.commit(t, sp, e.a)
	if _, err := e.cli.Txn(e.ctx).Then(claim.Release(sp.RunKey, e.b)).Commit(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.cli.Get(e.ctx, sp.RunKey); len(resp.Kvs) != 1 {
		t.Fatal("another lease's release deleted the running key")
	}
	if _, err := e.cli.Txn(e.ctx).Then(claim.Release(sp.RunKey, e.a)).Commit(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.cli.Get(e.ctx, sp.RunKey); len(resp.Kvs) != 0 {
		t.Fatal("the owner's release left the running key")
	}
}
