package distcron

import (
	"time"

	"github.com/distcron/distcron/logsink"
)

// tickQueue is a min-heap of jobs ordered by when to claim their next tick. One timer,
// set for the head, drives every job: the cost of waiting does not grow
// with the number of jobs. Each entry keeps its job's claim instant next
// to the pointer, so ordering the heap reads no job (a job is a cache miss
// of its own at tens of thousands of jobs).
//
// The heap is 4-ary, and its sifts move entries into a hole rather than
// swapping them: every job an entry move touches (to update its index)
// is a cache miss, and a 4-ary heap has half the levels of a binary one.
type tickQueue []queued

// queueArity is how many children an entry of the tick queue has.
const queueArity = 4

// queued is one job in the queue and its claim instant (job.claimAt, Unix ns).
type queued struct {
	at int64
	j  *job
}

// set puts e at i and tells its job.
func (q tickQueue) set(i int, e queued) {
	q[i] = e
	e.j.index = i
}

// up moves the entry at i towards the root until its parent is not later.
func (q tickQueue) up(i int) {
	e := q[i]
	for i > 0 {
		p := (i - 1) / queueArity
		if q[p].at <= e.at {
			break
		}
		q.set(i, q[p])
		i = p
	}
	q.set(i, e)
}

// down moves the entry at i towards the leaves until no child is earlier;
// it reports whether the entry moved.
func (q tickQueue) down(i int) bool {
	e, start, n := q[i], i, len(q)
	for {
		c := queueArity*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < min(c+queueArity, n); k++ {
			if q[k].at < q[m].at {
				m = k
			}
		}
		if q[m].at >= e.at {
			break
		}
		q.set(i, q[m])
		i = m
	}
	q.set(i, e)
	return i > start
}

func (q *tickQueue) push(j *job) {
	*q = append(*q, queued{at: j.claimAt.UnixNano(), j: j})
	q.up(len(*q) - 1)
}

// peek returns the job with the earliest tick, or nil.
func (q tickQueue) peek() *job {
	if len(q) == 0 {
		return nil
	}
	return q[0].j
}

// init restores the heap order after claim instants changed in place.
func (q tickQueue) init() {
	if len(q) < 2 {
		return
	}
	for i := (len(q) - 2) / queueArity; i >= 0; i-- {
		q.down(i)
	}
}

// pop removes and returns the job with the earliest claim instant.
func (q *tickQueue) pop() *job {
	j := (*q)[0].j
	q.cut(0)
	return j
}

func (q *tickQueue) remove(j *job) {
	if j.index >= 0 {
		q.cut(j.index)
	}
}

// cut removes the entry at i: the last entry takes its place and moves
// to where the order puts it.
func (q *tickQueue) cut(i int) {
	old := *q
	j, last := old[i].j, len(old)-1
	moved := old[last]
	old[last] = queued{}
	*q = old[:last]
	if i < last {
		q.set(i, moved)
		if !q.down(i) {
			q.up(i)
		}
	}
	j.index = -1
}

// due pops every job whose claim instant is at or before now and returns
// its next tick as a claim request. A popped job leaves the queue until its
// claim has resolved (see Scheduler.requeue), so the ticks of one job are
// claimed in order and never twice in one transaction. The job's floor
// remembers the tick, so a job that replaces it does not claim it again.
func (q *tickQueue) due(now time.Time, out []claimReq) []claimReq {
	until := now.UnixNano()
	for {
		if len(*q) == 0 || (*q)[0].at > until {
			return out
		}
		j := q.pop()
		j.floor = j.next
		out = append(out, claimReq{job: j, tick: j.next, trigger: logsink.TriggerSchedule, attempt: 1, backup: j.claimAt.After(j.next)})
	}
}
