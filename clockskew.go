package distcron

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Clock-offset estimation.
//
// Every instance puts clock/<id> on its session lease every clockInterval:
// the time it sent the put (by its own clock, uncorrected), and for each
// peer the smallest recent one-way delay it measured from that peer: the
// instant it received the peer's clock key (by its own clock) minus the
// peer's send time. For a peer P seen from this instance S:
//
//	in  = received_S - sent_P = delay(P->S) + (clock_S - clock_P)
//	out = received_P - sent_S = delay(S->P) + (clock_P - clock_S)   (P reports it)
//
// so clock_P - clock_S = (out - in)/2, wrong by at most (out + in)/2, half
// the round trip: the NTP estimate, with etcd as the path both ways. Taking
// the smallest delay of recent samples in each direction keeps the bound
// close to etcd's commit plus watch latency.
//
// From the offsets of its peers an instance computes its own offset from
// the cluster's median clock (the lower median for an even count, so that of
// two instances the later clock counts as right: early fires are what we
// avoid). When that offset is larger than the claim lead plus twice its
// error bound, the instance schedules on the median clock: its Clock, as
// the scheduler sees it, is shifted by the offset. (With the offset at
// least twice the error, the shifted clock is never further from the
// median than the unshifted one: the shift is off by at most the error,
// the unshifted clock by at least the offset minus the error.) A fast clock then waits for
// the median instead of claiming ticks early, and a slow one stops
// claiming late.
//
// None of this is needed for exactly-once: claims are create-if-absent in
// etcd whatever the clocks say. Only instance <id> writes clock/<id>, on its
// own lease, so the key vanishes with the instance; a paused or partitioned
// instance's samples grow stale and are dropped after staleClock.

// clockInterval is how often an instance publishes its clock key.
const clockInterval = 2 * time.Second

// clockSamples is how many recent delays from each peer are kept.
const clockSamples = 8

// defaultSkewWarning is the default for WithClockSkewWarning.
const defaultSkewWarning = 500 * time.Millisecond

// ClockEstimate is an instance's estimate of how far its clock is from
// the cluster's median clock, from timestamps exchanged through etcd.
type ClockEstimate struct {
	// Offset is the instance's clock minus the median clock: positive
	// when the instance's clock is ahead.
	Offset time.Duration `json:"offset"`
	// Error bounds |Offset - true offset|: half the round trip through
	// etcd of the exchange it came from.
	Error time.Duration `json:"error"`
	// Correction is what the instance subtracts from its clock when it
	// schedules: Offset when the offset is larger than the claim lead plus
	// twice the error, else zero.
	Correction time.Duration `json:"correction"`
	// Peers is the number of instances whose offsets went into the
	// estimate; zero when the instance is alone or has no samples yet.
	Peers int `json:"peers"`
}

// clockMessage is the value of clock/<id>.
type clockMessage struct {
	Sent     int64            `json:"sent"`             // Unix ns, sender's raw clock
	Delays   map[string]int64 `json:"delays,omitempty"` // peer -> smallest recent delay peer->sender, ns
	Estimate *ClockEstimate   `json:"estimate,omitempty"`
}

// peerClock is what an instance knows of one peer's clock.
type peerClock struct {
	in      []time.Duration // recent delays peer->self, newest last
	out     time.Duration   // smallest recent delay self->peer, as the peer reports it
	hasOut  bool
	updated time.Time // raw clock, when the peer's key was last seen
}

// clockSync holds this instance's samples and its current estimate.
type clockSync struct {
	mu       sync.Mutex
	peers    map[string]*peerClock
	estimate ClockEstimate
	warned   bool // the offset is past the warning threshold, and was logged

	correction atomic.Int64 // ns, read by clusterClock.Now on every call
}

// clusterClock is the clock the scheduler schedules on: the configured
// clock minus the correction toward the cluster's median clock.
type clusterClock struct {
	base Clock
	sync *clockSync
}

func (c clusterClock) Now() time.Time {
	if d := c.sync.correction.Load(); d != 0 {
		return c.base.Now().Add(-time.Duration(d))
	}
	return c.base.Now()
}

func (c clusterClock) NewTimer(d time.Duration) Timer { return c.base.NewTimer(d) }

// staleClock is how long a peer's samples count after its key was last seen.
const staleClock = 4 * clockInterval

// observe records the clock key of peer id, received at now (raw clock).
func (c *clockSync) observe(self, id string, m clockMessage, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers == nil {
		c.peers = make(map[string]*peerClock)
	}
	p := c.peers[id]
	if p == nil {
		p = &peerClock{}
		c.peers[id] = p
	}
	p.in = append(p.in, now.Sub(time.Unix(0, m.Sent)))
	if len(p.in) > clockSamples {
		p.in = p.in[len(p.in)-clockSamples:]
	}
	d, ok := m.Delays[self]
	p.out, p.hasOut = time.Duration(d), ok
	p.updated = now
}

// forget drops a peer whose key is gone.
func (c *clockSync) forget(id string) {
	c.mu.Lock()
	delete(c.peers, id)
	c.mu.Unlock()
}

// prune drops the peers not heard of since staleClock.
func (c *clockSync) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.peers {
		if now.Sub(p.updated) > staleClock {
			delete(c.peers, id)
		}
	}
}

// delays returns, per peer, the smallest recent delay from it, for this
// instance's clock key.
func (c *clockSync) delays() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.peers))
	for id, p := range c.peers {
		out[id] = int64(slices.Min(p.in))
	}
	return out
}

// update recomputes the estimate; lead is the current claim lead, and
// correct whether to shift the clock. It reports the estimate and whether
// the offset crossed warnAt either way.
func (c *clockSync) update(lead, warnAt time.Duration, correct bool) (ClockEstimate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type sample struct{ offset, err time.Duration } // peer's clock minus this one's
	samples := []sample{{}}                         // this instance itself
	for _, p := range c.peers {
		if !p.hasOut {
			continue
		}
		in := slices.Min(p.in)
		samples = append(samples, sample{(p.out - in) / 2, (p.out + in) / 2})
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.offset, b.offset) })
	median := samples[(len(samples)-1)/2]
	e := ClockEstimate{Offset: -median.offset, Error: median.err, Peers: len(samples) - 1}
	if correct && e.Offset.Abs() > lead+2*e.Error {
		e.Correction = e.Offset
	}
	c.estimate = e
	c.correction.Store(int64(e.Correction))
	skewed := e.Peers > 0 && e.Offset.Abs()-e.Error > warnAt
	crossed := skewed != c.warned
	c.warned = skewed
	return e, crossed
}

func (c *clockSync) current() ClockEstimate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.estimate
}

// syncClocks publishes this instance's clock key every clockInterval and
// follows the peers' keys until Stop. A watch error reloads the keys.
func (s *Scheduler) syncClocks() {
	publish := time.NewTicker(s.clockInterval)
	defer publish.Stop()
	for s.bgCtx.Err() == nil {
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(s.bgCtx))
		// Only keys seen as they are put make samples (a key read now may
		// be seconds older than its send time says), so the watch starts
		// now; a peer whose delete it misses goes stale.
		wch := s.cli.Watch(ctx, s.keys.Clocks(), clientv3.WithPrefix())
		s.publishClock(ctx)
		err := s.followClocks(wch, publish.C)
		cancel()
		if s.bgCtx.Err() != nil {
			return
		}
		s.log.Debug("clock watch ended; reloading", zap.Error(err))
		select {
		case <-time.After(s.clockInterval):
		case <-s.bgCtx.Done():
		}
	}
}

func (s *Scheduler) followClocks(wch clientv3.WatchChan, publish <-chan time.Time) error {
	for {
		select {
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil || resp.Canceled {
				return resp.Err()
			}
			now := s.rawClock.Now()
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					s.clocks.forget(strings.TrimPrefix(string(ev.Kv.Key), s.keys.Clocks()))
					continue
				}
				s.observeClock(string(ev.Kv.Key), ev.Kv.Value, now)
			}
		case <-publish:
			s.publishClock(s.bgCtx)
		}
	}
}

func (s *Scheduler) observeClock(key string, value []byte, now time.Time) {
	id := strings.TrimPrefix(key, s.keys.Clocks())
	var m clockMessage
	if id == s.cfg.instanceID || json.Unmarshal(value, &m) != nil {
		return
	}
	s.clocks.observe(s.cfg.instanceID, id, m, now)
}

// publishClock updates the estimate and puts this instance's clock key.
func (s *Scheduler) publishClock(ctx context.Context) {
	s.clocks.prune(s.rawClock.Now())
	e, crossed := s.clocks.update(s.lead(), s.cfg.skewWarning, !s.cfg.noCorrection)
	if crossed && e.Peers > 0 {
		fields := []zap.Field{zap.Duration("offset", e.Offset), zap.Duration("error", e.Error),
			zap.Duration("correction", e.Correction), zap.Int("peers", e.Peers)}
		if e.Offset.Abs()-e.Error > s.cfg.skewWarning {
			msg := "clock is off the cluster's median clock: check NTP on this host; scheduling on the median clock"
			if s.cfg.noCorrection {
				msg = "clock is off the cluster's median clock: check NTP on this host (clock correction is off: scheduling on this clock)"
			}
			s.log.Warn(msg, fields...)
		} else {
			s.log.Info("clock is back within the warning threshold of the cluster's median clock", fields...)
		}
	}
	sess := s.sess.get()
	if sess == nil {
		return
	}
	m := clockMessage{Delays: s.clocks.delays(), Sent: s.rawClock.Now().UnixNano()}
	if e.Peers > 0 {
		m.Estimate = &e
	}
	v, err := json.Marshal(m)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.sessionTTL)
	defer cancel()
	if _, err := s.cli.Put(pctx, s.keys.Clock(s.cfg.instanceID), string(v), clientv3.WithLease(sess.Lease())); err != nil && ctx.Err() == nil {
		s.logLimited("clock exchange: put failed", zap.Error(err))
	}
}
