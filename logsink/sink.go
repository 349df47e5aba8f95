package logsink

import "context"

// Sink receives run records in batches.
//
// Write is called by one goroutine at a time per sink (the scheduler runs a
// Delivery per sink), with batches that the sink must not retain after Write
// returns. A non-nil error means the whole batch may be retried later, so a
// durable sink should make writes idempotent on the record identity
// (Job, Tick, Shard, Attempt, Instance).
type Sink interface {
	Write(ctx context.Context, batch []Record) error
}
