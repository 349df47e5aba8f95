package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/tests/chaos/check"
)

// forbidDrill pauses the runner of the OverlapForbid job forbid-0 right
// after one of its runs started (its runs take forbidWork, far longer
// than the period): SIGSTOP for st.Hold, past the TTL, then SIGCONT. Its
// lease expires during the pause, so another node may start the next run;
// the paused run must then not go on beside it once its runner resumes
// (check: the Forbid rule). The pause is logged as a pause fault, the
// drill as a forbid fault whose note says whether another node started
// forbid-0 during the pause.
func (h *harness) forbidDrill(ctx context.Context, st Step) {
	// Wait for a new run of forbid-0 on a node that can be paused.
	seen := map[string]bool{}
	first := true
	var n *node
	var run string
	var tick time.Time
	for deadline := time.Now().Add(forbidWork + 3*time.Second); n == nil && time.Now().Before(deadline); {
		keys, err := h.forbidRuns(ctx)
		for key, v := range keys {
			if seen[key] || err != nil {
				continue
			}
			seen[key] = true
			if first {
				continue // in progress already: not just started
			}
			if taken := h.takeNodes(v.Instance); taken != nil {
				n, run, tick = taken[0], key, v.Tick
			}
		}
		first = first && err != nil
		if n == nil && !sleepCtx(ctx, 20*time.Millisecond) {
			return
		}
	}
	if n == nil {
		h.skipDrill(st, "no new run of forbid-0 on a node that could be paused")
		return
	}
	defer h.release(n)
	h.mu.Lock()
	p := n.cur
	h.mu.Unlock()
	// The key is put with the claim, up to a claim lead before the tick:
	// wait for the run to start (at the tick by the runner's clock).
	sleepCtx(ctx, time.Until(tick.Add(-p.inc.Skew.D()+50*time.Millisecond)))
	h.mu.Lock()
	pf := check.Fault{Kind: check.KindPause, Target: n.id, Skew: p.inc.Skew, Start: time.Now().UTC(),
		Note: "forbid drill: the runner of " + strings.TrimPrefix(run, namespace)}
	h.mu.Unlock()
	df := check.Fault{Kind: check.KindForbid, Target: n.id, Skew: pf.Skew, Start: pf.Start}
	if err := sigstop(p.cmd.Process); err != nil {
		pf.Note += "; " + err.Error()
		h.problem("pause %s: %v", p.inc.Label(), err)
	} else {
		pf.Verified = true
	}
	sleepCtx(ctx, time.Until(pf.Start.Add(st.Hold)))
	// Who runs forbid-0 now, just before the runner resumes?
	others, err := h.forbidRuns(ctx)
	took := "no other node started forbid-0 during the pause"
	for key, v := range others {
		if v.Instance != n.id {
			took = "another node started forbid-0 during the pause: " + strings.TrimPrefix(key, namespace) + " on " + v.Instance
		}
	}
	if err != nil {
		took = "unknown whether another node started forbid-0 during the pause: " + err.Error()
	}
	p.cmd.Process.Signal(syscall.SIGCONT)
	pf.End = time.Now().UTC()
	h.record(pf)
	df.End, df.Verified = pf.End, pf.Verified
	df.Note = fmt.Sprintf("paused %s right after it started %s; %s", p.inc.Label(), strings.TrimPrefix(run, namespace), took)
	h.record(df)
	sleepCtx(ctx, h.cfg.TTL) // the resumed node replaces its session
}

// forbidRuns returns the running keys of forbid-0 and their values.
func (h *harness) forbidRuns(ctx context.Context) (map[string]runningValue, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := h.cli.Get(ctx, namespace+"running/forbid-0/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := map[string]runningValue{}
	for _, kv := range resp.Kvs {
		var v runningValue
		if json.Unmarshal(kv.Value, &v) == nil {
			out[string(kv.Key)] = v
		}
	}
	return out, nil
}
