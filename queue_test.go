package distcron

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The tick queue is a heap: after any mix of pushes, pops, removals and a
// re-order in place, every entry knows its index, and pops come out in
// claim-instant order.
func TestTickQueueKeepsHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var q tickQueue
	var queued []*job
	check := func(step int) {
		t.Helper()
		for i, e := range q {
			if e.j.index != i {
				t.Fatalf("step %d: entry %d has index %d", step, i, e.j.index)
			}
			if p := (i - 1) / queueArity; i > 0 && q[p].at > e.at {
				t.Fatalf("step %d: entry %d (%d) before its parent %d (%d)", step, i, e.at, p, q[p].at)
			}
		}
	}
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(queued) == 0:
			j := &job{index: -1, claimAt: base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)}
			q.push(j)
			queued = append(queued, j)
		case op < 7:
			j := q.pop()
			if j.index != -1 {
				t.Fatalf("step %d: popped job keeps index %d", step, j.index)
			}
			for _, e := range q {
				if e.at < j.claimAt.UnixNano() {
					t.Fatalf("step %d: popped %v while %d was queued", step, j.claimAt, e.at)
				}
			}
			queued = remove(queued, j)
		case op < 9:
			j := queued[rng.IntN(len(queued))]
			q.remove(j)
			if j.index != -1 {
				t.Fatalf("step %d: removed job keeps index %d", step, j.index)
			}
			queued = remove(queued, j)
		default:
			for i := range q {
				if rng.IntN(3) == 0 {
					q[i].j.claimAt = base.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
					q[i].at = q[i].j.claimAt.UnixNano()
				}
			}
			q.init()
		}
		check(step)
	}
	var last int64
	for len(q) > 0 {
		j := q.pop()
		if j.claimAt.UnixNano() < last {
			t.Fatalf("popped %v after %v", j.claimAt.UnixNano(), last)
		}
		last = j.claimAt.UnixNano()
	}
}

func remove(js []*job, j *job) []*job {
	for i, x := range js {
		if x == j {
			return append(js[:i], js[i+1:]...)
		}
	}
	return js
}

// BenchmarkTickQueue pops the earliest of 20,000 queued jobs and pushes it
// back a period later, as the loop does for every fire.
func BenchmarkTickQueue(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var q tickQueue
	for range 20000 {
		q.push(&job{index: -1, claimAt: base.Add(time.Duration(rng.IntN(1e9)))})
	}
	b.ResetTimer()
	for range b.N {
		j := q.pop()
		j.claimAt = j.claimAt.Add(time.Second)
		q.push(j)
	}
}
