package distcron

import (
	"sync/atomic"
	"time"

	"github.com/distcron/distcron/logsink"
)

// Stats is a snapshot of this instance's counters since Start, for metrics.
type Stats struct {
	ClaimsWon    uint64 // ticks (or units) this instance claimed
	ClaimsLost   uint64 // claims another instance won first
	ClaimErrors  uint64 // claim requests that failed (their ticks were given up or resolved)
	Misfired     uint64 // ticks skipped because they were too old to claim
	LeftToPeers  uint64 // ticks not claimed because this instance was at capacity
	RunsStarted  uint64 // runs started here (scheduled, manual, retries, ...)
	BackupClaims uint64 // ticks this instance claimed as backup of the preferred claimer
	// BackupsVouched counts backup ticks dropped without a read because
	// the preferred claimer's progress statement said it had resolved them.
	BackupsVouched uint64
	// FlatClaimsFailed counts claim requests sent as one flat transaction
	// that failed as a whole (one of their ticks was claimed already) and
	// were sent again with a nested transaction per tick.
	FlatClaimsFailed uint64
	// LostRunsUnchecked counts the times this instance, as leader, could
	// not examine a range of etcd history for lost runs because it was
	// compacted first (each is also logged as an error).
	LostRunsUnchecked uint64
	RunsInFlight      int64 // claims pending plus runs in progress here
	// ClaimLead is how long before a tick this instance currently sends
	// its claim: WithClaimLead, or more while etcd answers slowly.
	ClaimLead time.Duration
	// Clock is this instance's estimated offset from the cluster's median
	// clock (Peers is zero until it has one).
	Clock          ClockEstimate
	Leader         bool                    // whether this instance leads
	SinkDeliveries []logsink.DeliveryStats // one per sink, in WithSinks order
}

// counters are the scheduler's monotonic counters.
type counters struct {
	claimsWon, claimsLost, claimErrors, misfired, leftToPeers, runsStarted, backupClaims, backupsVouched, flatClaimsFailed, lostUnchecked atomic.Uint64
}

// Stats returns a snapshot of the instance's counters. It does not block
// and is safe for concurrent use.
func (s *Scheduler) Stats() Stats {
	st := Stats{
		ClaimsWon: s.counters.claimsWon.Load(), ClaimsLost: s.counters.claimsLost.Load(),
		ClaimErrors: s.counters.claimErrors.Load(), Misfired: s.counters.misfired.Load(),
		LeftToPeers: s.counters.leftToPeers.Load(), RunsStarted: s.counters.runsStarted.Load(),
		BackupClaims: s.counters.backupClaims.Load(), BackupsVouched: s.counters.backupsVouched.Load(), FlatClaimsFailed: s.counters.flatClaimsFailed.Load(),
		LostRunsUnchecked: s.counters.lostUnchecked.Load(),
		RunsInFlight:      s.occupied.Load(), ClaimLead: s.lead(), Leader: s.leader.Load(), Clock: s.clocks.current(),
	}
	for _, p := range s.deliveries {
		st.SinkDeliveries = append(st.SinkDeliveries, p.Stats())
	}
	return st
}
