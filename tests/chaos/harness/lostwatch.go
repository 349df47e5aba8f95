package harness

import (
	"encoding/json"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// publishLost hands a lost record that node process p just wrote on
// stdout (line) to every subscriber (see subscribeLost).
func (h *harness) publishLost(p *proc, line []byte) {
	var r check.Record
	if json.Unmarshal(line, &r) != nil {
		return
	}
	ev := lostEvent{from: p, rec: r, at: time.Now()}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.From = p.inc.Label()
	ev.rec = r
	for _, ch := range h.lostSubs {
		select {
		case ch <- ev:
		default: // a subscriber that does not keep up misses records
		}
	}
}

// subscribeLost returns a channel of the lost records the nodes write from
// now on, as they write them (their sinks flush every 200ms), and a
// function that ends the subscription.
func (h *harness) subscribeLost() (<-chan lostEvent, func()) {
	ch := make(chan lostEvent, 1024)
	h.mu.Lock()
	id := h.lostNext
	h.lostNext++
	h.lostSubs[id] = ch
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.lostSubs, id)
		h.mu.Unlock()
	}
}
