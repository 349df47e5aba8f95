package distcron

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Progress statements let a backup skip a tick without reading etcd.
//
// Every tick has one preferred claimer and backups that check, shortly
// after the tick, whether it was claimed (dropClaimed). With n instances,
// n-1 of them handle every tick only to find it claimed. Instead, each
// instance publishes a statement under progress/<id>, on its session
// lease:
//
//	(view V, jobs J, from F, through W): every tick t with F <= t <= W
//	of every job in J for which this instance is the preferred claimer
//	in view V has been resolved: its claim was won, lost or recorded
//	skipped, or the job was paused.
//
// V is the digest of the membership view the instance assigns ticks from
// (Scheduler.view), J the digest of its claimable jobs (name, spec, zone
// and tags of each). A backup of tick t whose preferred claimer is P drops
// the tick without a read when P's latest statement it has seen has the
// backup's own V and J and covers t. Equal V means both computed the same
// preferred claimer; equal J that P has the job with the same schedule.
//
// Why a statement is true when it is made (under s.mu, by the publisher):
//   - Every queued entry was placed under s.view (place; reassign re-places
//     the whole queue when the view changes), and a queued tick of this
//     instance's is at or after the queue head's claim instant (a claim is
//     sent at or before its tick), so W below the head covers no queued tick.
//   - A popped tick that is being claimed holds its flight, and W stays
//     below the flight's bound: the tick itself for a preferred claim, and
//     for a backup its job's next tick (which is queued only once the backup
//     resolves).
//   - A preferred tick that was popped and not resolved (misfired, no
//     session, left to peers at capacity, claim unresolved) is a hole,
//     and W stays below it until long after any backup could check it.
//   - F is set past every tick popped before the view or the job set last
//     changed (the longest claim lead from then on).
//
// A statement stays true once made (a resolved claim stays resolved), so a
// stale statement, or one from a paused, cut-off or deposed instance, can
// only make a backup read and claim, as it did before statements existed.
// Statements never decide who runs a tick: the claim does. A wrong skip
// could only miss a tick, never run one twice.
type progress struct {
	// This instance's statement; guarded by Scheduler.mu.
	from    time.Time // statements cover no tick before this
	jobs    uint64    // digest of the claimable jobs (XOR of jobDigest)
	flights []*flight // groups of popped ticks being claimed
	holes   []hole    // preferred ticks popped and not resolved
	popped  int       // preferred ticks popped since the last publication

	peers atomic.Pointer[map[string]statement] // the peers' latest statements, by instance id
}

// flight is one loop pass's popped ticks while they are claimed: pending
// counts the jobs not yet requeued, bound is the earliest tick they keep
// from the queue.
type flight struct {
	bound   int64
	pending int
}

// hole is a preferred tick popped and not resolved, kept in statements
// until until.
type hole struct {
	tick  int64
	until time.Time
}

// statement is one instance's published progress (see progress).
type statement struct {
	view, jobs    uint64
	from, through int64     // Unix ns
	seen          time.Time // when this instance received it (its own clock)
}

// progressInterval is the least time between two publications, and
// progressBatch the least preferred ticks popped in between: at low rates
// backups read instead, which costs little there.
const (
	progressInterval = 10 * time.Millisecond
	progressBatch    = 32
)

// holeKeep is how long after its tick a hole keeps statements below it:
// past the misfire grace, after which no backup claims the tick, with a
// margin for a backup whose clock is behind (clocks are corrected to the
// cluster's median, so offsets of seconds are already rare).
func (s *Scheduler) holeKeep() time.Duration { return s.cfg.misfireGrace + 10*time.Second }

// fromMargin is how far past a change of view or jobs statements begin:
// beyond any tick popped before it (a claim is sent at most the longest
// lead ahead of its tick, plus the coalescing window).
func (s *Scheduler) fromMargin() time.Duration {
	return max(s.cfg.claimLead, maxAdaptiveLead) + 10*time.Millisecond
}

func (st statement) encode() string {
	return fmt.Sprintf("v1 %x %x %d %d", st.view, st.jobs, st.from, st.through)
}

func parseStatement(v []byte) (statement, error) {
	f := strings.Fields(string(v))
	if len(f) != 5 || f[0] != "v1" {
		return statement{}, fmt.Errorf("malformed progress statement %q", v)
	}
	var st statement
	var errs [4]error
	st.view, errs[0] = strconv.ParseUint(f[1], 16, 64)
	st.jobs, errs[1] = strconv.ParseUint(f[2], 16, 64)
	st.from, errs[2] = strconv.ParseInt(f[3], 10, 64)
	st.through, errs[3] = strconv.ParseInt(f[4], 10, 64)
	for _, err := range errs {
		if err != nil {
			return statement{}, fmt.Errorf("malformed progress statement %q: %w", v, err)
		}
	}
	return st, nil
}

// jobDigest identifies what a statement says about a claimable job: its
// name, spec (empty for a schedule of the caller's own, which must return
// the same instants everywhere anyway), zone and tags. Others are 0.
func jobDigest(j *job) uint64 {
	if !j.eligible {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%q", j.name, j.spec, j.cfg.location, j.cfg.tags)
	return h.Sum64()
}

// setJob registers j under its name, replacing any job there. s.mu is held.
func (s *Scheduler) setJob(j *job) {
	if old := s.jobs[j.name]; old != nil {
		s.progress.jobs ^= jobDigest(old)
	}
	s.jobs[j.name] = j
	s.progress.jobs ^= jobDigest(j)
	s.progress.from = s.cfg.clock.Now().Add(s.fromMargin())
}

// deleteJob removes the job of that name. s.mu is held.
func (s *Scheduler) deleteJob(name string) {
	if old := s.jobs[name]; old != nil {
		s.progress.jobs ^= jobDigest(old)
		delete(s.jobs, name)
		s.progress.from = s.cfg.clock.Now().Add(s.fromMargin())
	}
}

// reassign adopts the current membership view for assigning ticks and
// re-places every queued tick under it, so that all queued ticks are
// always assigned under s.view.
func (s *Scheduler) reassign() {
	v := s.members.snapshot()
	s.mu.Lock()
	if v.digest == s.view.digest && len(v.members) == len(s.view.members) {
		s.mu.Unlock()
		return
	}
	s.view = v
	lead := s.lead()
	for i := range s.queue {
		j := s.queue[i].j
		s.place(j, lead)
		s.queue[i].at = j.claimAt.UnixNano()
	}
	s.queue.init()
	s.progress.from = s.cfg.clock.Now().Add(s.fromMargin())
	s.mu.Unlock()
	s.signal(s.wake)
}

// screen takes the ticks the loop popped (s.mu held) and returns those to
// dispatch. A backup tick that its preferred claimer's statement covers is
// dropped and its job queued for its next tick; one the statement will
// soon cover (a fresh statement, not that far yet) is checked again later,
// once; the rest fly (see flight).
func (s *Scheduler) screen(due []claimReq, now time.Time) []claimReq {
	var peers map[string]statement
	if p := s.progress.peers.Load(); p != nil {
		peers = *p
	}
	kept := due[:0]
	f := &flight{bound: math.MaxInt64}
	lead := s.lead()
	for _, r := range due {
		bound := r.tick
		if r.backup {
			switch s.vouched(peers[r.job.prefer], r, now) {
			case vouchedYes:
				s.counters.backupsVouched.Add(1)
				s.enqueue(r.job, r.tick, lead)
				continue
			case vouchedSoon:
				if s.checkAt(r.job, s.backupAt(r.tick.Add(s.backupDelay()))); r.job.claimAt.After(now) {
					s.queue.push(r.job)
					continue
				}
			}
			if bound = r.job.schedule.Next(r.tick); bound.IsZero() {
				bound = time.Unix(0, math.MaxInt64)
			}
		} else {
			s.progress.popped++
		}
		f.bound = min(f.bound, bound.UnixNano())
		f.pending++
		r.job.flight = f
		kept = append(kept, r)
	}
	if f.pending > 0 {
		s.progress.flights = append(s.progress.flights, f)
	}
	return kept
}

type vouch int

const (
	vouchedNo   vouch = iota // read and claim as before
	vouchedYes               // the preferred claimer resolved the tick
	vouchedSoon              // its statement is fresh but not there yet: check again later
)

// vouched says what st, the statement of r's preferred claimer, says about
// the backup tick r. s.mu is held.
func (s *Scheduler) vouched(st statement, r claimReq, now time.Time) vouch {
	t := r.tick.UnixNano()
	if st.seen.IsZero() || st.view != s.view.digest || st.jobs != s.progress.jobs || t < st.from {
		return vouchedNo
	}
	if t <= st.through {
		return vouchedYes
	}
	d := s.backupDelay()
	if now.Sub(st.seen) < d && t-st.through < int64(d) && now.Before(r.tick.Add(2*d).Truncate(d/4)) {
		return vouchedSoon
	}
	return vouchedNo
}

// land ends the flight of r's job: its tick resolved and the job is being
// requeued (or dropped). s.mu is held.
func land(r claimReq) {
	if f := r.job.flight; f != nil && !r.again {
		f.pending--
		r.job.flight = nil
	}
}

// maxHoles bounds the holes kept: beyond it, neighbours merge into one
// hole at the earlier tick, kept until the later end, which only holds
// statements lower for longer. An overloaded instance misfiring thousands
// of ticks a second thus keeps a few dozen holes.
const maxHoles = 64

// addHoles records the preferred ticks among reqs as holes, kept until
// holeKeep after the tick.
func (s *Scheduler) addHoles(reqs []claimReq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range reqs {
		if !r.backup && (len(s.progress.holes) == 0 || s.progress.holes[len(s.progress.holes)-1].tick != r.tick.UnixNano()) {
			s.progress.holes = append(s.progress.holes, hole{tick: r.tick.UnixNano(), until: r.tick.Add(s.holeKeep())})
		}
	}
	h := s.progress.holes
	if len(h) > maxHoles {
		slices.SortFunc(h, func(a, b hole) int { return cmp.Compare(a.tick, b.tick) })
	}
	for len(h) > maxHoles {
		merged := h[:0]
		for i := 0; i < len(h); i += 2 {
			m := h[i]
			if i+1 < len(h) && h[i+1].until.After(m.until) {
				m.until = h[i+1].until
			}
			merged = append(merged, m)
		}
		h = merged
	}
	s.progress.holes = h
}

// statementNow is this instance's statement as of now. s.mu is held.
func (s *Scheduler) statementNow(now time.Time) statement {
	w := now.Add(s.fromMargin()).UnixNano()
	if len(s.queue) > 0 {
		w = min(w, s.queue[0].at)
	}
	s.progress.flights = slices.DeleteFunc(s.progress.flights, func(f *flight) bool { return f.pending <= 0 })
	for _, f := range s.progress.flights {
		w = min(w, f.bound)
	}
	s.progress.holes = slices.DeleteFunc(s.progress.holes, func(h hole) bool { return now.After(h.until) })
	for _, h := range s.progress.holes {
		w = min(w, h.tick)
	}
	return statement{view: s.view.digest, jobs: s.progress.jobs, from: s.progress.from.UnixNano(), through: w - 1}
}

// publishProgress puts this instance's statement on its session lease at
// most every progressInterval, when at least progressBatch preferred ticks
// were popped since the last one. A failed put only leaves the backups
// reading, so it is logged at debug level. One goroutine and one ticker,
// whatever the number of jobs.
func (s *Scheduler) publishProgress() {
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	key := s.keys.ProgressOf(s.cfg.instanceID)
	for {
		select {
		case <-t.C:
		case <-s.bgCtx.Done():
			return
		}
		s.mu.Lock()
		st := s.statementNow(s.cfg.clock.Now()) // (also forgets landed flights and old holes)
		due := s.progress.popped >= progressBatch
		if due {
			s.progress.popped = 0
		}
		s.mu.Unlock()
		sess := s.sess.get()
		if !due || sess == nil || st.through < st.from {
			continue
		}
		ctx, cancel := context.WithTimeout(s.bgCtx, claimAttemptTimeout)
		_, err := s.cli.Put(ctx, key, st.encode(), clientv3.WithLease(sess.Lease()))
		cancel()
		if err != nil && s.bgCtx.Err() == nil {
			s.log.Debug("progress statement not published", zap.Error(err))
		}
	}
}

// followProgress keeps progress.peers current: it reads progress/ and
// watches it; on a watch error it forgets the statements (backups then
// read) and starts over.
func (s *Scheduler) followProgress() {
	for s.bgCtx.Err() == nil {
		s.followProgressOnce()
		s.progress.peers.Store(nil)
		select {
		case <-time.After(time.Second):
		case <-s.bgCtx.Done():
		}
	}
}

func (s *Scheduler) followProgressOnce() {
	prefix := s.keys.Progress()
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(s.bgCtx))
	defer cancel()
	rctx, rcancel := context.WithTimeout(ctx, s.cfg.sessionTTL)
	resp, err := s.cli.Get(rctx, prefix, clientv3.WithPrefix())
	rcancel()
	if err != nil {
		return
	}
	peers := make(map[string]statement)
	now := s.cfg.clock.Now()
	for _, kv := range resp.Kvs {
		s.noteStatement(peers, strings.TrimPrefix(string(kv.Key), prefix), kv.Value, now)
	}
	s.setPeers(peers)
	for wr := range s.cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if wr.Err() != nil || wr.Canceled {
			return
		}
		next := make(map[string]statement, len(peers)+1)
		for id, st := range peers {
			next[id] = st
		}
		now := s.cfg.clock.Now()
		for _, ev := range wr.Events {
			id := strings.TrimPrefix(string(ev.Kv.Key), prefix)
			if ev.Type == clientv3.EventTypeDelete {
				delete(next, id)
				continue
			}
			s.noteStatement(next, id, ev.Kv.Value, now)
		}
		s.setPeers(next)
		peers = next
	}
}

// setPeers publishes m as the peers' statements; m is not changed after.
func (s *Scheduler) setPeers(m map[string]statement) { s.progress.peers.Store(&m) }

func (s *Scheduler) noteStatement(peers map[string]statement, id string, v []byte, now time.Time) {
	if id == s.cfg.instanceID {
		return
	}
	st, err := parseStatement(v)
	if err != nil {
		delete(peers, id)
		s.logLimited("ignoring a malformed progress statement", zap.String("instance", id), zap.Error(err))
		return
	}
	st.seen = now
	peers[id] = st
}
