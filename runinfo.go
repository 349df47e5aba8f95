package distcron

import (
	"context"
	"time"

	"github.com/distcron/distcron/logsink"
)

// RunInfo identifies the run a job is executing. The scheduler puts it in
// the context passed to every job; read it with RunInfoFrom.
type RunInfo struct {
	Job      string          // job name
	Tick     time.Time       // the scheduled instant (UTC): the run's identity
	Instance string          // id of the instance running it
	Attempt  int             // 1 for the first attempt
	Trigger  logsink.Trigger // why it runs
	// Token is the fencing token: the etcd revision at which this instance
	// claimed the tick. Tokens grow in claim order, so a downstream system
	// that remembers the highest token it has accepted can reject a write
	// from a run claimed before it (for example one that resumed after a
	// long pause). Under clock skew a later tick can be claimed before an
	// earlier one, so tokens need not grow in tick order.
	Token int64
	// Shard is this run's shard (0..Shards-1) for jobs registered with
	// Sharded(Shards); Shards is 0 for other jobs.
	Shard, Shards int
}

type runInfoKey struct{}

// RunInfoFrom returns the run identity carried by a job's context, and false
// when ctx was not made by the scheduler.
func RunInfoFrom(ctx context.Context) (RunInfo, bool) {
	ri, ok := ctx.Value(runInfoKey{}).(RunInfo)
	return ri, ok
}

func withRunInfo(ctx context.Context, ri RunInfo) context.Context {
	return context.WithValue(ctx, runInfoKey{}, ri)
}
