package harness

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchRegistrations follows the deletes of the nodes' registration keys
// (instances/<id>) for the whole run and notes each one on the node's
// latest ready incarnation (check.Incarnation.Deregistered): when a killed
// or paused process's lease expired, or a stopped one left. The lost-run
// rules use it to tell when the leader could record a loss. After a watch
// error it watches again from the revision after the last one seen, or,
// when that was compacted, from the current one (deletes in between are
// then missed, and logged).
func (h *harness) watchRegistrations() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stopRegs, h.regDone = cancel, make(chan struct{})
	prefix := namespace + "instances/"
	go func() {
		defer close(h.regDone)
		next := h.currentRev() + 1 // 1 (unknown): from the current revision
		for ctx.Err() == nil {
			opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterPut()}
			if next > 1 {
				opts = append(opts, clientv3.WithRev(next))
			}
			for resp := range h.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, opts...) {
				if err := resp.Err(); err != nil {
					if resp.CompactRevision > 0 {
						h.logf("registration watch: %v; deletes since revision %d may be missed", err, next)
						next = 0
					}
					break
				}
				for _, ev := range resp.Events {
					h.deregistered(strings.TrimPrefix(string(ev.Kv.Key), prefix), time.Now().UTC())
					next = ev.Kv.ModRevision + 1
				}
			}
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}()
}

// deregistered notes that node id's registration vanished at t.
func (h *harness) deregistered(id string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.incs) - 1; i >= 0; i-- {
		if p := h.incs[i]; p.inc.Node == id && !p.inc.Ready.IsZero() {
			p.inc.Deregistered = append(p.inc.Deregistered, t)
			return
		}
	}
}
