package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/tests/chaos/check"
)

// runningValue is the part of a running key's value (the library's
// runningValue) that names the run.
type runningValue struct {
	Instance string    `json:"instance"`
	Tick     time.Time `json:"tick"`
	Shard    int       `json:"shard"`
	Attempt  int       `json:"attempt"`
	Trigger  string    `json:"trigger"`
}

// inflightValue is the part of an in-flight key's value (the library's
// inflightValue) that names its runs.
type inflightValue struct {
	Instance string `json:"instance"`
	Claim    string `json:"claim"`
	Checked  bool   `json:"checked"`
	Runs     []struct {
		ID      string    `json:"id"`
		Tick    time.Time `json:"tick"`
		Shard   int       `json:"shard"`
		Unit    string    `json:"unit"`
		Attempt int       `json:"attempt"`
		Trigger string    `json:"trigger"`
	} `json:"runs"`
}

// runningOf reads, at one revision, node id's registration, every running
// key and the node's in-flight keys, and returns the runs on the
// registration's lease: the node's runs in progress (running key, or the
// run's id in an in-flight key -> run). An in-flight key not yet rewritten
// lists the runs its batch asked for; one counts only if its claim key
// holds the batch's claim value.
func (h *harness) runningOf(ctx context.Context, id string) (map[string]check.RunRef, error) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond) // a kill waits for it
	defer cancel()
	resp, err := h.cli.Txn(ctx).Then(
		clientv3.OpGet(namespace+"instances/"+id),
		clientv3.OpGet(namespace+"running/", clientv3.WithPrefix()),
		clientv3.OpGet(namespace+"inflight/"+id+"/", clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, err
	}
	reg := resp.Responses[0].GetResponseRange().GetKvs()
	if len(reg) == 0 {
		return nil, fmt.Errorf("%s is not registered", id)
	}
	lease := reg[0].Lease
	out := map[string]check.RunRef{}
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		if kv.Lease != lease {
			continue
		}
		var v runningValue
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("running key %s: %w", kv.Key, err)
		}
		job, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), namespace+"running/"), "/")
		out[string(kv.Key)] = check.RunRef{Job: job, Shard: v.Shard, Tick: v.Tick.UTC(), Attempt: max(v.Attempt, 1), Trigger: v.Trigger}
	}
	var verify []clientv3.Op
	var pending []string
	var claims []string
	refs := map[string]check.RunRef{}
	for _, kv := range resp.Responses[2].GetResponseRange().GetKvs() {
		if kv.Lease != lease {
			continue
		}
		var v inflightValue
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("in-flight key %s: %w", kv.Key, err)
		}
		for _, e := range v.Runs {
			job, _, _ := strings.Cut(e.ID, "/")
			key := "inflight:" + e.ID
			ref := check.RunRef{Job: job, Shard: e.Shard, Tick: e.Tick.UTC(), Attempt: max(e.Attempt, 1), Trigger: e.Trigger}
			if v.Checked {
				out[key] = ref
				continue
			}
			claim := namespace + "claims/" + e.Tick.UTC().Format("2006-01-02T15:04:05.000000000Z") + "/" + job
			if e.Unit != "" {
				claim += "/" + e.Unit
			}
			verify = append(verify, clientv3.OpGet(claim, clientv3.WithRev(resp.Header.Revision)))
			pending, claims, refs[key] = append(pending, key), append(claims, v.Claim), ref
		}
	}
	for start := 0; start < len(verify); start += 128 {
		end := min(start+128, len(verify))
		cresp, err := h.cli.Txn(ctx).Then(verify[start:end]...).Commit()
		if err != nil {
			return nil, err
		}
		for i, r := range cresp.Responses {
			if kvs := r.GetResponseRange().GetKvs(); len(kvs) == 1 && string(kvs[0].Value) == claims[start+i] {
				out[pending[start+i]] = refs[pending[start+i]]
			}
		}
	}
	return out, nil
}

// waitRunning waits up to d for node id to have a run of job in progress
// (any job when job is ""), and reports whether it has.
func (h *harness) waitRunning(ctx context.Context, id, job string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if runs, err := h.runningOf(ctx, id); err == nil {
			for _, r := range runs {
				if job == "" || r.Job == job {
					return true
				}
			}
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return false
		}
	}
	return false
}

// sigkillNode SIGKILLs n's current process and returns its kill fault
// (Start the signal; End and recording are the caller's), with the runs
// it had in progress (its running keys just before the signal that are
// still there once the process is dead) and the leader just before.
func (h *harness) sigkillNode(ctx context.Context, n *node, note string) check.Fault {
	before, errBefore := h.runningOf(ctx, n.id)
	lead, _ := h.leaderID(ctx)
	h.mu.Lock()
	p := n.cur
	p.expected = true
	f := check.Fault{Kind: check.KindKill, Target: n.id, Skew: p.inc.Skew, Start: time.Now().UTC(), Note: note, Leader: lead}
	p.inc.Ended, p.inc.End = f.Start, "killed"
	h.mu.Unlock()
	if err := sigkill(p.cmd, p.exited); err != nil {
		f.Note = strings.TrimPrefix(f.Note+"; "+err.Error(), "; ")
		h.problem("kill %s: not verified: %v", p.inc.Label(), err)
	} else {
		f.Verified = true
	}
	after, errAfter := h.runningOf(ctx, n.id)
	if err := errors.Join(errBefore, errAfter); err != nil {
		f.Note = strings.TrimPrefix(f.Note+"; runs in progress unknown: "+err.Error(), "; ")
		return f
	}
	f.Running = []check.RunRef{}
	for key, run := range before {
		if _, ok := after[key]; ok {
			f.Running = append(f.Running, run)
		}
	}
	slices.SortFunc(f.Running, func(a, b check.RunRef) int { return strings.Compare(a.String(), b.String()) })
	return f
}

// leaderID returns the instance id of the distcron leader: the value of
// the election key with the lowest create revision.
func (h *harness) leaderID(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	resp, err := h.cli.Get(ctx, namespace+"leader/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", errors.New("no leader")
	}
	return string(resp.Kvs[0].Value), nil
}

// waitLeader waits up to d for a leader that is not one of not, and
// returns it.
func (h *harness) waitLeader(ctx context.Context, d time.Duration, not ...string) (string, error) {
	var err error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		var id string
		if id, err = h.leaderID(ctx); err == nil && !slices.Contains(not, id) {
			return id, nil
		} else if err == nil {
			err = fmt.Errorf("%s still leads", id)
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return "", ctx.Err()
		}
	}
	return "", err
}

// nodeByID returns the node with instance id id, or nil.
func (h *harness) nodeByID(id string) *node {
	for _, n := range h.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// takeNodes marks the nodes with the given ids busy for a drill and
// returns them in the order of ids, all or none: each must be healthy
// (ready, no fault in progress), and at least one other node must stay
// healthy.
func (h *harness) takeNodes(ids ...string) []*node {
	h.mu.Lock()
	defer h.mu.Unlock()
	healthy := func(n *node) bool {
		return n != nil && !n.busy && n.cur != nil && !n.cur.inc.Ready.IsZero() && n.cur.inc.End == ""
	}
	var take []*node
	for _, id := range ids {
		n := h.nodeByID(id)
		if !healthy(n) || slices.Contains(take, n) {
			return nil
		}
		take = append(take, n)
	}
	others := 0
	for _, n := range h.nodes {
		if healthy(n) && !slices.Contains(take, n) {
			others++
		}
	}
	if others < 1 {
		return nil
	}
	for _, n := range take {
		n.busy = true
	}
	return take
}

// restartAfter waits hold, then starts n's next incarnation with skew
// (retrying while its old lease lives); it returns when that is ready.
func (h *harness) restartAfter(ctx context.Context, n *node, hold, skew time.Duration) {
	sleepCtx(ctx, hold)
	if ctx.Err() == nil {
		if err := h.startReady(ctx, n, skew); err != nil && ctx.Err() == nil {
			h.problem("restart %s: %v", n.id, err)
		}
	}
}
