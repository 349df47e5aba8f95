package harness

import (
	"sync"
	"time"
)

// prober writes to etcd every 50ms for the whole run (each write with a
// 250ms timeout, so that one stuck connection costs little) and remembers
// which writes committed. Its gaps are the times when etcd could not
// commit anything: the quorum losses, and any other outage (a leader
// election after the leader was SIGKILLed, say).
type prober struct {
	mu   sync.Mutex
	ok   [][2]time.Time // committed writes: when sent, when answered
	done chan struct{}
	wg   sync.WaitGroup
}

func startProber(probe func(time.Duration) error) *prober {
	p := &prober{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			start := time.Now()
			if probe(250*time.Millisecond) == nil {
				p.mu.Lock()
				p.ok = append(p.ok, [2]time.Time{start, time.Now()})
				p.mu.Unlock()
			}
			select {
			case <-p.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *prober) stop() {
	close(p.done)
	p.wg.Wait()
}

func (p *prober) okSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ok) > 0 && !p.ok[len(p.ok)-1][0].Before(t)
}

// gaps returns the spans without a commit longer than min, between
// commits sent in [from, to], widened to be safe: a write commits between
// its sending and its answer, so a span runs from the sending of the last
// write before it to the answer of the first one after it.
func (p *prober) gaps(from, to time.Time, min time.Duration) [][2]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][2]time.Time
	for i := 1; i < len(p.ok); i++ {
		a, b := p.ok[i-1][0], p.ok[i][1]
		if a.Before(from) || p.ok[i][0].After(to) {
			continue
		}
		if b.Sub(a) > min {
			out = append(out, [2]time.Time{a, b})
		}
	}
	return out
}

// longestGap returns the longest span without a commit within [from, to].
func (p *prober) longestGap(from, to time.Time) (time.Time, time.Time) {
	var best [2]time.Time
	for _, g := range p.gaps(from, to, 0) {
		if g[1].Sub(g[0]) > best[1].Sub(best[0]) {
			best = g
		}
	}
	return best[0], best[1]
}
