package distcron

import (
	"sync/atomic"
	"time"
)

// maxAdaptiveLead caps how early the adaptive lead sends claims.
const maxAdaptiveLead = time.Second

// leadTracker remembers the slowest recent claim round trip (from dispatch
// to answer, including queueing behind other batches), decaying by 10% per
// observation, so the claim lead follows etcd's current latency.
type leadTracker struct{ slowest atomic.Int64 }

// observeClaim records how long one claim batch took.
func (s *Scheduler) observeClaim(d time.Duration) {
	for {
		old := s.leadStats.slowest.Load()
		next := max(int64(d), old-old/10)
		if s.leadStats.slowest.CompareAndSwap(old, next) {
			return
		}
	}
}

// lead is how long before a tick its claim is sent: the configured lead, or
// twice the slowest recent claim when that is longer (at most 1s and half
// the misfire grace), so that the claim is answered before the tick and the
// job starts on time even when many jobs share an instant.
func (s *Scheduler) lead() time.Duration {
	adaptive := min(2*time.Duration(s.leadStats.slowest.Load()), maxAdaptiveLead, s.cfg.misfireGrace/2)
	return max(s.cfg.claimLead, adaptive)
}
