package logsink

import (
	"context"
	"time"
)

// Summarizer is implemented by history stores that can count records
// without returning them, for dashboards (the admin console counts the
// last 24 hours of runs by job and status). It is an optional interface,
// like [Querier]: find it with a type assertion. Implementations must be
// safe for concurrent use, including concurrently with Write.
type Summarizer interface {
	// Summarize counts the records matching q's filters (Job, Statuses,
	// Instance, Since, Until, as in [Querier.Query]; Limit, Cursor and
	// OmitOutput are ignored), one [StatusCount] per job and status that
	// has records, in no particular order. It blocks on the store,
	// bounded by ctx.
	Summarize(ctx context.Context, q Query) ([]StatusCount, error)
}

// StatusCount is how many records of one job have one status.
type StatusCount struct {
	Job    string
	Status Status
	Runs   int64
	// Last is the newest Tick among those records, in UTC.
	Last time.Time
}
