package logsink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
)

// How the delivery finds a record the sink keeps refusing (see "Poison
// records" in the package documentation).
const (
	// splitAfter is how many failures in a row of a write of several
	// records split it in half (at once if the error wraps ErrPermanent).
	splitAfter = 3
	// suspectAfter is how many failures in a row of a write of one record
	// make it a suspect: the delivery then checks whether the sink accepts
	// other records, and if so drops the suspect when it fails once more.
	suspectAfter = 5
)

// delivery is the state of writing the batch one flush took from the
// buffer. The records not yet written or dropped are p.batch[lo:], in the
// order they were sent; each write takes the first width of them.
type delivery struct {
	p       *Delivery
	timer   *time.Timer
	lo      int
	width   int
	fails   int           // failures in a row of the writes of the current width
	attempt int           // Write calls, for the logs
	backoff time.Duration // nominal value of the next wait
	failed  bool          // a write failed since the last success

	probeNext  bool // the head is a suspect: check the sink before retrying it
	conclusive bool // the sink just accepted a probe: a failure of the head now is its own
	probeAt    int  // offset in the pending records of the probe record
	probeFails int  // failures in a row of the probe record
}

// flush takes one batch from the buffer and writes it, retrying with
// backoff until every record of it is written or dropped as refused
// (true), or the delivery is aborted (false, the records left still
// counted as in flight).
func (p *Delivery) flush(timer *time.Timer) bool {
	p.mu.Lock()
	p.batch = p.q.popInto(p.batch[:0], p.cfg.batchSize)
	p.inflight = len(p.batch)
	p.mu.Unlock()
	d := delivery{p: p, timer: timer, width: len(p.batch), backoff: p.cfg.backoffInitial, probeAt: 1}
	return d.run()
}

func (d *delivery) pending() int { return len(d.p.batch) - d.lo }

func (d *delivery) run() bool {
	p := d.p
	for d.pending() > 0 {
		if d.probeNext {
			d.probeNext = false
			probed, err := d.probe()
			if p.ctx.Err() != nil {
				return false
			}
			if err != nil { // no evidence either way: maybe the sink is down
				if !d.wait(err) {
					return false
				}
				continue
			}
			d.conclusive = probed
		}
		err := d.write(p.batch[d.lo : d.lo+d.width])
		if err == nil {
			d.wrote(d.lo, d.width)
			d.next()
			continue
		}
		if p.ctx.Err() != nil {
			return false
		}
		permanent := errors.Is(err, ErrPermanent)
		d.fails++
		switch {
		case d.width == 1 && (permanent || d.conclusive):
			reason := "the sink says it cannot store it"
			if !permanent {
				reason = fmt.Sprintf("it failed %d times alone, the last right after the sink accepted another record", d.fails)
			}
			d.reject(d.lo, err, reason)
			d.next()
			continue
		case d.width > 1 && (permanent || d.fails >= splitAfter):
			from := d.width
			d.width, d.fails = (d.width+1)/2, 0
			p.log.Info("splitting a failing batch to find the records the sink refuses",
				zap.Int("from", from), zap.Int("to", d.width), zap.Bool("permanent", permanent), zap.Error(err))
			if permanent { // the sink is up and answered: no need to wait
				continue
			}
		case d.width == 1 && d.fails >= suspectAfter:
			d.probeNext = true
		}
		if !d.wait(err) {
			return false
		}
	}
	return true
}

// next starts over after the head was written or dropped: the next write
// takes every pending record.
func (d *delivery) next() {
	d.width, d.fails = d.pending(), 0
	d.probeNext, d.conclusive = false, false
	d.probeAt, d.probeFails = 1, 0
}

// probe writes another record than the suspect at the head, to learn
// whether the sink accepts new records at all: the next pending one (taken
// from the buffer if the batch has no other), or, once that one has failed
// suspectAfter times as a probe, the one after it. (Writing again a record
// the sink already has would prove little: a full disk, say, can refuse
// every new row and still answer that a row exists.) It returns true if
// the sink accepted the probe, false and nil if there was no record to
// probe with, or the error.
func (d *delivery) probe() (bool, error) {
	p := d.p
	if d.probeAt >= d.pending() {
		d.topUp()
		if d.probeAt >= d.pending() {
			d.probeAt = 1
		}
	}
	if d.probeAt >= d.pending() {
		return false, nil
	}
	i := d.lo + d.probeAt
	err := d.write(p.batch[i : i+1])
	switch {
	case err == nil:
		d.wrote(i, 1)
		d.probeFails = 0
		return true, nil
	case p.ctx.Err() == nil && errors.Is(err, ErrPermanent):
		d.reject(i, err, "the sink says it cannot store it")
		d.probeFails = 0
	default:
		if d.probeFails++; d.probeFails >= suspectAfter {
			d.probeAt++
			d.probeFails = 0
		}
	}
	return false, err
}

// topUp moves records from the buffer into the batch, up to the batch
// size, so that a probe has records to use.
func (d *delivery) topUp() {
	p := d.p
	n := copy(p.batch, p.batch[d.lo:])
	clear(p.batch[n:])
	p.batch, d.lo = p.batch[:n], 0
	p.mu.Lock()
	p.batch = p.q.popInto(p.batch, p.cfg.batchSize-n)
	p.inflight = len(p.batch)
	p.mu.Unlock()
}

// write makes one Write call and counts it if it failed.
func (d *delivery) write(batch []Record) error {
	d.attempt++
	err := d.p.write(batch)
	if err != nil && d.p.ctx.Err() == nil {
		d.p.mu.Lock()
		d.p.failures++
		d.p.mu.Unlock()
	}
	return err
}

// wrote accounts for the n records at p.batch[i:] that the sink accepted
// and removes them from the batch.
func (d *delivery) wrote(i, n int) {
	p := d.p
	size := 0
	for k := i; k < i+n; k++ {
		size += p.batch[k].Size()
	}
	p.mu.Lock()
	p.written += uint64(n)
	p.inflight -= n
	p.bytes -= size
	p.mu.Unlock()
	d.remove(i, n)
	d.backoff = p.cfg.backoffInitial
	if d.failed {
		d.failed = false
		p.log.Info("sink recovered", zap.Int("attempts", d.attempt))
	}
	p.reportDrops(false)
}

// reject drops the record at p.batch[i], which the sink refuses: it is
// counted and logged with its identity.
func (d *delivery) reject(i int, err error, reason string) {
	p := d.p
	r := &p.batch[i]
	size := r.Size()
	p.mu.Lock()
	p.dropped++
	p.rejected++
	p.inflight--
	p.bytes -= size
	total := p.dropped
	p.mu.Unlock()
	p.log.Error("run record dropped: the sink refuses it",
		zap.String("job", r.Job),
		zap.Time("tick", r.Tick),
		zap.Int("shard", r.Shard),
		zap.Int("attempt", r.Attempt),
		zap.String("instance", r.Instance),
		zap.Int64("token", r.Token),
		zap.String("reason", reason),
		zap.Int("writes", d.attempt),
		zap.Uint64("dropped_total", total),
		zap.Error(err))
	d.remove(i, 1)
}

// remove takes the n records at p.batch[i:] out of the batch, zeroing the
// vacated slots so that their strings can be collected.
func (d *delivery) remove(i, n int) {
	p := d.p
	if i == d.lo {
		clear(p.batch[i : i+n])
		d.lo += n
		return
	}
	k := copy(p.batch[i:], p.batch[i+n:])
	clear(p.batch[i+k:])
	p.batch = p.batch[:i+k]
}

// wait sleeps for the backoff after a failed write of err, and doubles
// it; it returns false if the delivery was aborted meanwhile. Stop cuts
// the first wait after it short.
func (d *delivery) wait(err error) bool {
	p := d.p
	d.failed = true
	p.mu.Lock()
	stopping := p.stopping
	if p.closed {
		stopping = nil // already draining: keep backing off
	}
	p.mu.Unlock()

	wait := d.backoff/2 + rand.N(d.backoff/2+1)
	p.log.Warn("sink write failed, will retry",
		zap.Error(err),
		zap.Int("batch", d.pending()),
		zap.Int("attempt", d.attempt),
		zap.Duration("retry_in", wait))
	p.reportDrops(false)

	d.timer.Reset(wait)
	select {
	case <-d.timer.C:
	case <-stopping: // Stop was called: try once more right away
		d.timer.Stop()
	case <-p.ctx.Done():
		d.timer.Stop()
		return false
	}
	d.backoff = min(2*d.backoff, p.cfg.backoffMax)
	return true
}

// write makes one bounded Write call; a panic in the sink is an error.
func (p *Delivery) write(batch []Record) (err error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.writeTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sink panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return p.sink.Write(ctx, batch)
}
