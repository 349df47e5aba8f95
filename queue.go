package distcron

import (
	"container/heap"
	"time"

	"github.com/distcron/distcron/logsink"
)

// tickQueue is a min-heap of jobs ordered by when to claim their next tick. One timer,
// set for the head, drives every job: the cost of waiting does not grow
// with the number of jobs. Each entry keeps its job's claim instant next
// to the pointer, so ordering the heap reads no job (a job is a cache miss
// of its own at tens of thousands of jobs).
type tickQueue []queued

// queued is one job in the queue and its claim instant (job.claimAt, Unix ns).
type queued struct {
	at int64
	j  *job
}

func (q tickQueue) Len() int           { return len(q) }
func (q tickQueue) Less(i, k int) bool { return q[i].at < q[k].at }
func (q tickQueue) Swap(i, k int) {
	q[i], q[k] = q[k], q[i]
	q[i].j.index, q[k].j.index = i, k
}
func (q *tickQueue) Push(x any) {
	j := x.(*job)
	j.index = len(*q)
	*q = append(*q, queued{at: j.claimAt.UnixNano(), j: j})
}
func (q *tickQueue) Pop() any {
	old := *q
	j := old[len(old)-1].j
	old[len(old)-1] = queued{}
	*q = old[:len(old)-1]
	j.index = -1
	return j
}

func (q *tickQueue) push(j *job) { heap.Push(q, j) }

// peek returns the job with the earliest tick, or nil.
func (q tickQueue) peek() *job {
	if len(q) == 0 {
		return nil
	}
	return q[0].j
}

// init restores the heap order after claim instants changed in place.
func (q *tickQueue) init() { heap.Init(q) }

func (q *tickQueue) pop() *job { return heap.Pop(q).(*job) }

func (q *tickQueue) remove(j *job) {
	if j.index >= 0 {
		heap.Remove(q, j.index)
	}
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
