// Package claim builds and reads the etcd transactions of distcron's
// per-tick claim, as pure functions: no Scheduler, no network.
//
// A claim of one tick (or one unit of it) is a nested transaction: if the
// claim key does not exist, create it, and with it the run's running key on
// the claimant's session lease. A run without a running key of its own (a
// scheduled run of an Allow job) is listed instead in the in-flight key of
// its batch, which the batch's transaction puts on the lease beside the
// claims (see Spec.Inflight). A claim on an expired lease fails as a
// whole, so an instance paused past its TTL cannot slip a late claim
// through. Forbid claims either way but creates the running key only if no
// run of the job (unit) is in progress; Replace also reads the running keys
// it must stop. Many claims go in one transaction, one nested transaction
// each, and each reports its own result. A batch of bare claims, which
// nobody else is expected to hold, may first go flat (FlatTxn): one
// compare and one put each, all or nothing.
package claim

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Overlap is the job's overlap policy, as the claim sees it.
type Overlap int

// Overlap policies (distcron.OverlapAllow, OverlapForbid, OverlapReplace).
const (
	Allow Overlap = iota
	Forbid
	Replace
)

// DepthOps is the most operations on any path through one claim (Allow: 2;
// Forbid: 1 then 2; Replace: 3; one more with a LastKey). etcd charges
// nested transactions against its max-txn-ops (128 by default), so a batch
// holds at most 128 - DepthOps claims.
const DepthOps = 4

// Spec is one claim.
type Spec struct {
	ClaimKey   string // claims/<tick>/<job>[/<unit>]
	ClaimValue string // "<instance id> <lease hex>": who claimed
	RunKey     string // the run's running key; "" when Inflight lists the run instead
	RunValue   string // the running key's value
	// Inflight is the in-flight key of the claim's batch when the run has
	// no running key (RunKey ""): put on the lease by the same transaction,
	// it tells a read-back that the transaction committed on the lease.
	Inflight string
	JobRuns  string // prefix of the running keys of the job (unit): Forbid and Replace look there
	// LastKey, when set, is written LastValue by the claim (won or
	// skipped): the last claimed tick of a MisfireRunOnce job.
	LastKey, LastValue string
	Overlap            Overlap
	// NoRun claims the tick without creating a running key: the claimant
	// records it skipped (for example, at its concurrency cap).
	NoRun bool
}

// Op is the nested transaction of one claim on lease.
func Op(sp Spec, lease clientv3.LeaseID) clientv3.Op {
	claimed := []clientv3.Op{clientv3.OpPut(sp.ClaimKey, sp.ClaimValue)}
	if sp.LastKey != "" {
		claimed = append(claimed, clientv3.OpPut(sp.LastKey, sp.LastValue))
	}
	if sp.NoRun || sp.RunKey == "" {
		return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(sp.ClaimKey), "=", 0)}, claimed, nil)
	}
	putRun := clientv3.OpPut(sp.RunKey, sp.RunValue, clientv3.WithLease(lease))
	win := append(claimed[:len(claimed):len(claimed)], putRun)
	switch sp.Overlap {
	case Forbid:
		// Claim either way; start only if no run of the job is in progress.
		idle := clientv3.Compare(clientv3.CreateRevision(sp.JobRuns), "=", 0).WithPrefix()
		win = []clientv3.Op{clientv3.OpTxn([]clientv3.Cmp{idle}, win, claimed)}
	case Replace:
		// Learn which runs are in progress, to stop them before starting.
		win = append([]clientv3.Op{clientv3.OpGet(sp.JobRuns, clientv3.WithPrefix(), clientv3.WithKeysOnly())}, win...)
	}
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(sp.ClaimKey), "=", 0)}, win, nil)
}

// Flat reports whether the claim is a bare create-if-absent of its claim
// key (no running key, no last tick), so that it may share a flat
// transaction with others (see FlatTxn).
func Flat(sp Spec) bool { return (sp.NoRun || sp.RunKey == "") && sp.LastKey == "" }

// FlatTxn is the claims of specs (every one Flat) as one flat transaction:
// if none of the claim keys exists, create them all. It succeeds only
// as a whole: then every claim is won, at the transaction's revision;
// otherwise it wrote nothing, and the claims must be sent again nested
// (Op), where each decides on its own. A flat transaction carries one
// compare and one put per claim, not a nested transaction each: less for
// etcd to decode and apply.
func FlatTxn(specs []Spec) (cmps []clientv3.Cmp, puts []clientv3.Op) {
	cmps = make([]clientv3.Cmp, len(specs))
	puts = make([]clientv3.Op, len(specs), len(specs)+1)
	for i, sp := range specs {
		cmps[i] = clientv3.Compare(clientv3.CreateRevision(sp.ClaimKey), "=", 0)
		puts[i] = clientv3.OpPut(sp.ClaimKey, sp.ClaimValue)
	}
	return cmps, puts
}

// State is what a claim decided.
type State int

// Claim states.
const (
	Lost    State = iota // another instance claimed the tick
	Won                  // this instance runs it
	Skipped              // claimed, but not to be run (Forbid found a run in progress, or see Outcome.Reason)
	Open                 // (read back after a failed request) nobody holds the tick yet
)

// Outcome is the decision for one claim; for Replace it lists the running
// keys the new run must stop first.
type Outcome struct {
	State   State
	Replace []string
	Reason  string // why a Skipped claim was not run, when not Forbid
}

// Result reads one nested claim transaction's response.
func Result(t *pb.TxnResponse, o Overlap) Outcome {
	if t == nil || !t.Succeeded {
		return Outcome{State: Lost}
	}
	switch o {
	case Forbid:
		if len(t.Responses) == 0 || !t.Responses[0].GetResponseTxn().GetSucceeded() {
			return Outcome{State: Skipped}
		}
	case Replace:
		var running []string
		if len(t.Responses) > 0 {
			for _, kv := range t.Responses[0].GetResponseRange().GetKvs() {
				running = append(running, string(kv.Key))
			}
		}
		return Outcome{State: Won, Replace: running}
	}
	return Outcome{State: Won}
}

// ReadBack are the reads that tell a claim's fate after an ambiguous
// failure: the running key (or the in-flight key, for a run without a
// running key), then the claim key.
func ReadBack(sp Spec) []clientv3.Op {
	if sp.RunKey == "" && !sp.NoRun {
		return []clientv3.Op{clientv3.OpGet(sp.Inflight), clientv3.OpGet(sp.ClaimKey)}
	}
	return []clientv3.Op{clientv3.OpGet(sp.RunKey), clientv3.OpGet(sp.ClaimKey)}
}

// Resolve reads the answers to ReadBack. The claim is ours iff the running
// key exists on our lease (its create revision is the token). A claim key
// holding our ClaimValue without a running key on our lease was skipped
// (Forbid) or lost its lease before the start: nobody else may run it. An
// absent claim key is still open. Anything else is another instance's.
// Replace's list is not known from these reads (Outcome.Replace is nil).
//
// A run listed in an in-flight key is ours iff the claim key holds our
// ClaimValue and the in-flight key is on our lease (the key exists once any
// attempt of the batch committed, so it alone proves nothing about this
// claim); the token is then the claim key's create revision, the revision
// of the transaction that won it.
func Resolve(sp Spec, run, claimed []*mvccpb.KeyValue, lease clientv3.LeaseID) (Outcome, int64) {
	if sp.RunKey == "" && !sp.NoRun {
		switch {
		case len(claimed) == 0:
			return Outcome{State: Open}, 0
		case string(claimed[0].Value) != sp.ClaimValue:
			return Outcome{State: Lost}, 0
		case len(run) == 1 && clientv3.LeaseID(run[0].Lease) == lease:
			return Outcome{State: Won}, claimed[0].CreateRevision
		}
		return Outcome{State: Skipped, Reason: "claimed, but the instance's lease expired before the start"}, claimed[0].CreateRevision
	}
	switch {
	case len(run) == 1 && clientv3.LeaseID(run[0].Lease) == lease:
		return Outcome{State: Won}, run[0].CreateRevision
	case len(claimed) == 0:
		return Outcome{State: Open}, 0
	case string(claimed[0].Value) == sp.ClaimValue && sp.NoRun:
		return Outcome{State: Won}, claimed[0].CreateRevision
	case string(claimed[0].Value) == sp.ClaimValue && sp.Overlap == Forbid && len(run) == 0:
		return Outcome{State: Skipped}, claimed[0].CreateRevision
	case string(claimed[0].Value) == sp.ClaimValue:
		return Outcome{State: Skipped, Reason: "claimed, but the instance's lease expired before the start"}, claimed[0].CreateRevision
	}
	return Outcome{State: Lost}, 0
}

// Release deletes a running key only while it is on lease, so an instance
// can never delete a key another instance put there.
func Release(key string, lease clientv3.LeaseID) clientv3.Op {
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", lease)},
		[]clientv3.Op{clientv3.OpDelete(key)}, nil)
}
