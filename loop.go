package distcron

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"sync/atomic"
	"time"

	"github.com/distcron/distcron/internal/keys"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// loop is the single goroutine that turns due ticks into claims. It sleeps
// on one timer set for the earliest claim instant, so its cost does not
// depend on how many jobs are registered.
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	timer := s.cfg.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.cfg.clock.Now()
		s.mu.Lock()
		// Once the earliest claim is due, take along the claims due within
		// the coalescing window, so ticks that are close together share one
		// request (they are then claimed at most the window earlier than
		// their lead asks). A wake before that (a job requeued, registered)
		// claims nothing: taking the window then would send a request for
		// the few claims it holds, and the next wake another.
		var due []claimReq
		if j := s.queue.peek(); j != nil && !j.claimAt.After(now) {
			due = s.screen(s.queue.due(now.Add(s.coalesceWindow()), nil), now)
		}
		wait := time.Hour
		if j := s.queue.peek(); j != nil {
			wait = max(j.claimAt.Sub(now), 0)
		}
		s.mu.Unlock()
		if len(due) > 0 {
			s.dispatch(due, now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C():
		case <-s.wake:
		case <-s.stopLoop:
			return
		}
	}
}

// backupDelay is how long after a tick an instance that is not the
// preferred claimer checks whether the tick was claimed, and claims it if
// not: the preferred instance claims a lead ahead of the tick, so its claim
// has landed by then unless it is dead, paused, at capacity or cut off.
// Only such failures pay this delay, so it is generous.
func (s *Scheduler) backupDelay() time.Duration {
	return min(max(2*s.lead(), 50*time.Millisecond), s.cfg.misfireGrace/2)
}

// backupAt is when a backup checks tick: the backup delay after it,
// rounded down to a grid of a quarter of that delay, so that the checks of
// ticks close together share one read (each check would otherwise be a
// request of its own, for a claim that is almost never needed). It is
// never later than the delay, and at least three quarters of it: by then
// the preferred claimer's claim, sent a lead ahead of the tick, has landed
// unless that instance failed.
func (s *Scheduler) backupAt(tick time.Time) time.Time {
	d := s.backupDelay()
	return tick.Add(d).Truncate(d / 4) // Truncate(0) keeps the instant
}

// coalesceWindow is half the current claim lead, at most 10ms.
func (s *Scheduler) coalesceWindow() time.Duration {
	return min(s.lead()/2, 10*time.Millisecond)
}

// dispatch filters due ticks (misfired, paused, no session, over capacity)
// and sends the rest as claim batches of at most maxClaimBatch, each on its
// own goroutine. At most cap(claimSem) batches are in flight; beyond that
// dispatch waits, which delays the loop rather than queueing without bound.
func (s *Scheduler) dispatch(due []claimReq, now time.Time) {
	kept := make([]claimReq, 0, len(due))
	var misfired, later []claimReq
	for _, r := range due {
		switch {
		case now.Sub(r.tick) > s.cfg.misfireGrace:
			misfired = append(misfired, r)
		case s.paused(r.job):
			later = append(later, r)
		default:
			kept = s.appendUnits(kept, r)
		}
	}
	if len(misfired) > 0 {
		s.counters.misfired.Add(uint64(len(misfired)))
		s.logLimited("misfire: ticks too old to claim were skipped", zap.Int("jobs", len(misfired)),
			zap.String("job", misfired[0].job.name), zap.Time("tick", misfired[0].tick), zap.Duration("late", now.Sub(misfired[0].tick)))
		s.addHoles(misfired)
		s.requeueFrom(misfired, now)
	}
	s.requeue(later)
	sess := s.sess.get()
	if sess == nil {
		if len(kept) > 0 {
			s.logLimited("no etcd session: not claiming", zap.Int("ticks", len(kept)))
		}
		s.addHoles(kept)
		s.requeue(kept)
		return
	}
	if limit := s.cfg.maxConcurrent; limit > 0 {
		free := max(int64(limit)-s.occupied.Load(), 0)
		if int64(len(kept)) > free {
			s.log.Debug("at capacity: leaving ticks to peers", zap.Int("ticks", len(kept)-int(free)))
			var rest []claimReq
			kept, rest = s.preferred(kept, int(free))
			s.counters.leftToPeers.Add(uint64(len(rest)))
			s.addHoles(rest)
			s.requeue(rest)
			s.retryAtCapacity(rest, sess.Lease())
		}
	}
	s.occupied.Add(int64(len(kept)))
	s.sendBatches(primariesFirst(kept), sess.Lease(), now)
}

// primariesFirst orders requests for sendBatches: preferred claims before
// backups, which read before they claim (a preferred claim must not wait for
// that read), and each part in tick order, as won ticks start in batch
// order. Backups of one tick go in job-name order, so that a batch's check
// of a tick many jobs share reads a narrow range of names (dropClaimed).
// The queue hands out ticks nearly in order already, so sorting is
// skipped where it would change nothing.
func primariesFirst(reqs []claimReq) []claimReq {
	out := make([]claimReq, 0, len(reqs))
	for _, r := range reqs {
		if !r.backup {
			out = append(out, r)
		}
	}
	n := len(out)
	for _, r := range reqs {
		if r.backup {
			out = append(out, r)
		}
	}
	byTick := func(a, b claimReq) int { return a.tick.Compare(b.tick) }
	if !slices.IsSortedFunc(out[:n], byTick) {
		slices.SortStableFunc(out[:n], byTick) // stable: a tick's units stay in order
	}
	byTickName := func(a, b claimReq) int {
		return cmp.Or(a.tick.Compare(b.tick), cmp.Compare(a.job.name, b.job.name))
	}
	if !slices.IsSortedFunc(out[n:], byTickName) {
		slices.SortStableFunc(out[n:], byTickName)
	}
	return out
}

// sendBatches sends reqs (counted in occupied already) as claim batches,
// each on its own goroutine, at most cap(claimSem) in flight; at Stop the
// rest are given up.
func (s *Scheduler) sendBatches(reqs []claimReq, lease clientv3.LeaseID, now time.Time) {
	for len(reqs) > 0 {
		n := batchEnd(reqs)
		batch := reqs[:n:n]
		reqs = reqs[n:]
		select {
		case s.claimSem <- struct{}{}:
		case <-s.stopLoop:
			s.occupied.Add(-int64(len(batch) + len(reqs)))
			return
		}
		s.claimWG.Add(1)
		go s.claimAndRun(batch, lease, now)
	}
}

// batchEnd returns how many requests go into the next batch: at most
// maxClaimBatch, never splitting the units of one job's tick.
func batchEnd(reqs []claimReq) int {
	n := min(len(reqs), maxClaimBatch)
	for i := 1; i < n; i++ {
		if reqs[i].backup != reqs[0].backup {
			return i // primaries and backups never share a batch
		}
	}
	if len(reqs) <= maxClaimBatch {
		return len(reqs)
	}
	for n > 1 && reqs[n].job == reqs[n-1].job {
		n--
	}
	if n == 1 && reqs[1].job == reqs[0].job { // one job wider than a batch (validation forbids it)
		return maxClaimBatch
	}
	return n
}

// claimAndRun claims one batch, then starts each won tick at its instant.
func (s *Scheduler) claimAndRun(batch []claimReq, lease clientv3.LeaseID, dispatched time.Time) {
	defer s.claimWG.Done()
	last := batch[len(batch)-1].tick // batches are in tick order
	ctx, cancel := context.WithTimeout(context.Background(), last.Sub(s.cfg.clock.Now())+s.cfg.misfireGrace)
	defer cancel()
	batch = s.dropClaimed(ctx, batch)
	if len(batch) == 0 {
		<-s.claimSem
		return
	}
	fl := s.newInflight(batch, lease)
	outcomes, tokens, err := s.claimRetrying(batch, lease, last.Add(s.cfg.misfireGrace), fl)
	s.owner.track(fl, batch, outcomes, tokens)
	s.observeClaim(s.cfg.clock.Now().Sub(dispatched))
	<-s.claimSem
	s.addHoles(unresolved(batch, outcomes))
	s.requeue(batch)
	if err != nil {
		s.log.Error("claims unresolved: ticks given up", zap.Time("tick", batch[0].tick), zap.Error(err))
	}
	waiter := newInstantWaiter(s.cfg.clock)
	defer waiter.stop()
	for i, r := range batch {
		token := tokens[i]
		switch outcomes[i].State {
		case claimOpen: // unresolved: a claim that did commit must not block Forbid
			if !fl.lists(r) { // (an in-flight key lists only won runs once tracked)
				s.owner.drop(s.runKey(r), lease)
			}
			s.occupied.Add(-1)
		case claimLost:
			s.counters.claimsLost.Add(1)
			s.occupied.Add(-1)
		case claimSkipped:
			s.counters.claimsWon.Add(1)
			s.occupied.Add(-1)
			reason := outcomes[i].Reason
			if reason == "" {
				reason = "overlap forbid: a run of this job is in progress"
			}
			s.emitSkipped(r, token, reason)
		case claimWon:
			s.counters.claimsWon.Add(1)
			if r.noRun {
				s.occupied.Add(-1)
				s.emitSkipped(r, token, fmt.Sprintf("no instance with a free slot took the tick: this one is at its concurrency cap (WithMaxConcurrentRuns %d)", s.cfg.maxConcurrent))
				continue
			}
			if r.backup {
				s.counters.backupClaims.Add(1)
			}
			waiter.until(r.tick)
			checked := s.cfg.clock.Now()
			held := s.heldKey(r, fl)
			if reason := s.lateStart(r, lease, checked, held); reason != "" {
				// Paused or cut off between claim and start: do not run it;
				// no other instance can, so it is recorded as skipped.
				s.occupied.Add(-1)
				s.releaseUnstarted(r, lease, fl)
				s.emitSkipped(r, token, reason)
				continue
			}
			s.startRun(r, token, lease, outcomes[i].Replace, &startCheck{lease: lease, at: checked, key: held}, fl)
		}
	}
}

// unresolved returns the requests of batch whose claims stayed open.
func unresolved(batch []claimReq, outcomes []claimOutcome) []claimReq {
	var out []claimReq
	for i, o := range outcomes {
		if o.State == claimOpen {
			out = append(out, batch[i])
		}
	}
	return out
}

// retryAtCapacity gives the ticks an instance at its concurrency cap left
// to its peers a second chance, twice the backup delay after the first of
// them (after the peers' own backups): those a read shows still unclaimed
// are claimed, as many as there are free slots then, to run; the rest are
// claimed only to be recorded skipped, so a tick no instance had room for
// leaves a record instead of vanishing.
func (s *Scheduler) retryAtCapacity(rest []claimReq, lease clientv3.LeaseID) {
	if len(rest) == 0 {
		return
	}
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return
	}
	s.claimWG.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.claimWG.Done()
		timer := s.cfg.clock.NewTimer(rest[0].tick.Add(2 * s.backupDelay()).Sub(s.cfg.clock.Now()))
		defer timer.Stop()
		select {
		case <-timer.C():
		case <-s.stopLoop:
			return
		}
		free := int(max(int64(s.cfg.maxConcurrent)-s.occupied.Load(), 0))
		reqs := make([]claimReq, len(rest))
		for i, r := range rest {
			r.backup, r.noRun, r.again = true, i >= free, true
			reqs[i] = r
		}
		s.occupied.Add(int64(len(reqs)))
		s.sendBatches(reqs, lease, s.cfg.clock.Now())
	}()
}

// backupCheckSpan is the widest span of ticks one read of a backup check
// covers. The read returns every claim key in the span (keys only, from
// etcd's index), including claims of ticks this instance is not backing
// up, so a wider span answers with more keys than it asks about.
const backupCheckSpan = 50 * time.Millisecond

// dropClaimed removes from batch the backup requests whose tick a read
// shows already claimed (by the preferred instance, normally), so they cost
// no claim. Claim keys begin with their tick, so the claims of ticks close
// together are one key range: the read is one keys-only range per
// backupCheckSpan of ticks, not one read per tick (for ticks of one
// instant, only the range of the batch's job names). It is serializable
// (served by the local etcd member): a stale answer can only make a backup
// claim and lose, never run twice.
func (s *Scheduler) dropClaimed(ctx context.Context, batch []claimReq) []claimReq {
	var ops []clientv3.Op
	want := make(map[string]int) // claim key -> index in batch, for backups
	for i := 0; i < len(batch); {
		if !batch[i].backup {
			i++
			continue
		}
		first, j := batch[i].tick, i
		for ; j < len(batch) && batch[j].backup && !batch[j].tick.Before(first) && batch[j].tick.Sub(first) <= backupCheckSpan; j++ {
			want[s.claimKey(batch[j])] = j
		}
		from := s.keys.Claims() + keys.Tick(first)
		to := s.keys.Claims() + keys.Tick(batch[j-1].tick) + "0" // past "<last tick>/…"
		if batch[j-1].tick.Equal(first) {
			// One instant, which thousands of jobs may share: read the
			// claims between this span's job names, not every job's.
			lo, hi := batch[i].job.name, batch[i].job.name
			for _, r := range batch[i+1 : j] {
				lo, hi = min(lo, r.job.name), max(hi, r.job.name)
			}
			tk := keys.Tick(first)
			from, to = s.keys.Claim(tk, lo, ""), s.keys.Claim(tk, hi, "")+"0" // past "<hi>/<unit>"
		}
		ops = append(ops, clientv3.OpGet(from, clientv3.WithRange(to), clientv3.WithKeysOnly(), clientv3.WithSerializable()))
		i = j
	}
	if len(ops) == 0 {
		return batch
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return batch // claim them all; the claim decides
	}
	claimed := make([]bool, len(batch))
	for _, rr := range resp.Responses {
		for _, kv := range rr.GetResponseRange().GetKvs() {
			if i, ok := want[string(kv.Key)]; ok {
				claimed[i] = true
			}
		}
	}
	kept, dropped := batch[:0:0], []claimReq(nil)
	for i, r := range batch {
		if claimed[i] {
			dropped = append(dropped, r)
			continue
		}
		kept = append(kept, r)
	}
	s.counters.claimsLost.Add(uint64(len(dropped)))
	s.occupied.Add(-int64(len(dropped)))
	s.requeue(dropped)
	return kept
}

// lateStart says why a won tick must not start at now, or "". A job
// paused since its claim does not start. A start later than the misfire
// grace is refused. A start late by more than a second (the process was
// paused, or cut off) first checks that the run's key (held: its running
// key, or the in-flight key listing it) still holds this session's lease:
// if not, the lease expired meanwhile, the leader may have recorded the run
// as lost (and re-run it with RerunLost), so starting it now could run it
// twice.
func (s *Scheduler) lateStart(r claimReq, lease clientv3.LeaseID, now time.Time, held string) string {
	late := now.Sub(r.tick)
	switch {
	case s.paused(r.job):
		return "claimed, but the job was paused before the start"
	case late > s.cfg.misfireGrace:
		return fmt.Sprintf("claimed, but the instance reached the start %v late (misfire grace exceeded)", late.Round(time.Millisecond))
	case late <= time.Second:
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), claimAttemptTimeout)
	defer cancel()
	if s.leaseAlive(ctx, lease) {
		return ""
	}
	resp, err := s.cli.Get(ctx, held) // not keys-only: etcd leaves the lease out of that answer
	if err != nil {
		return fmt.Sprintf("claimed, but the start was %v late and the claim could not be confirmed: %v", late.Round(time.Millisecond), err)
	}
	if len(resp.Kvs) == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) != lease {
		return fmt.Sprintf("claimed, but the instance's lease expired before the start (%v late)", late.Round(time.Millisecond))
	}
	return ""
}

// heldKey is the key that holds r's run on the lease: the in-flight key fl
// when it lists the run, else the run's running key.
func (s *Scheduler) heldKey(r claimReq, fl *inflightBatch) string {
	if fl.lists(r) {
		return fl.key
	}
	return s.runKey(r)
}

// releaseUnstarted gives up the key of a won run that does not start.
func (s *Scheduler) releaseUnstarted(r claimReq, lease clientv3.LeaseID, fl *inflightBatch) {
	if fl.lists(r) {
		s.owner.unstarted(fl, s.runKey(r))
		return
	}
	s.owner.drop(s.runKey(r), lease)
}

// preferred splits the due ticks of an instance short of capacity into the
// n it claims and the rest it leaves to peers. Instances rank ticks by a
// hash of (instance, job, tick), so peers that are all short of slots
// prefer different ticks instead of all racing for the same few and leaving
// the rest unclaimed. Both parts keep tick order.
func (s *Scheduler) preferred(due []claimReq, n int) (claim, rest []claimReq) {
	if n <= 0 {
		return nil, due
	}
	rank := func(r claimReq) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s.cfg.instanceID))
		h.Write([]byte(r.job.name)) // not the unit: a tick's shards rank together
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(r.tick.UnixNano()))
		h.Write(b[:])
		return h.Sum64()
	}
	ranked := slices.Clone(due)
	slices.SortStableFunc(ranked, func(a, b claimReq) int { return cmp.Compare(rank(a), rank(b)) })
	byTick := func(a, b claimReq) int { return a.tick.Compare(b.tick) }
	claim, rest = ranked[:n], ranked[n:]
	slices.SortStableFunc(claim, byTick)
	slices.SortStableFunc(rest, byTick)
	return claim, rest
}

// requeue puts the jobs of handled ticks back in the queue at the tick
// after the one handled, unless they were unregistered meanwhile.
func (s *Scheduler) requeue(reqs []claimReq) {
	s.requeueFrom(reqs, time.Time{})
}

// requeueFrom is requeue, but never at a tick before from (used to skip a
// backlog of missed ticks at once).
func (s *Scheduler) requeueFrom(reqs []claimReq, from time.Time) {
	if len(reqs) == 0 {
		return
	}
	s.mu.Lock()
	lead := s.lead()
	for _, r := range reqs {
		land(r)
		if !r.again && s.jobs[r.job.name] == r.job && r.job.index < 0 {
			s.enqueue(r.job, later(r.tick, from), lead)
		}
	}
	s.mu.Unlock()
	s.signal(s.wake)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// logLimited logs a warning at most once per second per message, so one
// busy warning never hides another; a line says how many of its kind were
// held back since the last one ("suppressed").
func (s *Scheduler) logLimited(msg string, fields ...zap.Field) {
	now := time.Now().UnixNano()
	v, ok := s.warned.Load(msg)
	if !ok {
		v, _ = s.warned.LoadOrStore(msg, new(warnLimit))
	}
	l := v.(*warnLimit)
	prev := l.last.Load()
	if prev != 0 && now-prev < int64(time.Second) || !l.last.CompareAndSwap(prev, now) {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		fields = append(fields, zap.Int64("suppressed", n))
	}
	s.log.Warn(msg, fields...)
}

// warnLimit is logLimited's state for one message.
type warnLimit struct {
	last       atomic.Int64 // when it was last logged (Unix ns)
	suppressed atomic.Int64 // held back since then
}
