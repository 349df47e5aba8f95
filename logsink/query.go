package logsink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// History query limits.
const (
	// DefaultQueryLimit is the page size of a [Query] whose Limit is 0 or
	// negative.
	DefaultQueryLimit = 50
	// MaxQueryLimit is the largest page size; a larger Limit is lowered
	// to it.
	MaxQueryLimit = 1000
)

// Querier is implemented by sinks that can read back what they wrote, such
// as the MongoDB and SQL sinks. It is an optional interface: find it with a
// type assertion on a [Sink]. Implementations must be safe for concurrent
// use, including concurrently with Write.
type Querier interface {
	// Query returns one page of records matching q, newest first: by Tick
	// descending, and records of the same Tick in a stable order the sink
	// chooses (one that depends only on the record identity). It blocks
	// on the store, bounded by ctx. An invalid cursor is an error wrapping
	// [ErrBadCursor].
	Query(ctx context.Context, q Query) (Page, error)
	// Get returns the record with identity id, Output included, or an
	// error wrapping [ErrNotFound]. It blocks on the store, bounded by ctx.
	Get(ctx context.Context, id RecordID) (Record, error)
}

// Query selects run records. The zero value selects every record, the
// newest [DefaultQueryLimit] first. Filters combine with AND.
type Query struct {
	// Job, when not empty, selects the records of that job only.
	Job string
	// Statuses, when not empty, selects records with any of these
	// statuses.
	Statuses []Status
	// Instance, when not empty, selects the records of runs on that
	// instance only.
	Instance string
	// Since and Until bound the records' Tick (the scheduled instant,
	// which is also the sort key): Since <= Tick < Until. A zero time
	// leaves that side open.
	Since, Until time.Time
	// Limit is the page size: at most this many records are returned.
	// 0 or negative means [DefaultQueryLimit]; values above
	// [MaxQueryLimit] are lowered to it.
	Limit int
	// Cursor continues a previous query: pass the [Page.Next] of the
	// previous page, with the same filters. Empty starts at the newest
	// record.
	Cursor string
	// OmitOutput leaves Record.Output and the Output of each step empty
	// in the results, to keep list pages small; use [Querier.Get] for one
	// record with its output.
	OmitOutput bool
}

// PageLimit returns the page size q asks for, after applying the default
// and the maximum.
func (q Query) PageLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultQueryLimit
	case q.Limit > MaxQueryLimit:
		return MaxQueryLimit
	}
	return q.Limit
}

// Page is one page of query results.
type Page struct {
	// Records are the matching records, newest first.
	Records []Record
	// Next is the cursor of the following page, to put in Query.Cursor;
	// empty when there are no more records. It is opaque: a string safe
	// in a URL query without escaping.
	Next string
}

// RecordID is the identity of a run record: one attempt of one job (shard)
// at one tick on one instance. Durable sinks store at most one record per
// RecordID, so a batch written twice stores its records once.
type RecordID struct {
	Job      string
	Tick     time.Time
	Shard    int
	Attempt  int
	Instance string
}

// ID returns the identity of r.
func (r Record) ID() RecordID {
	return RecordID{Job: r.Job, Tick: r.Tick, Shard: r.Shard, Attempt: r.Attempt, Instance: r.Instance}
}

// Equal reports whether id and o name the same record: same fields, with
// the ticks compared by instant (time.Time.Equal).
func (id RecordID) Equal(o RecordID) bool {
	return id.Job == o.Job && id.Tick.Equal(o.Tick) && id.Shard == o.Shard &&
		id.Attempt == o.Attempt && id.Instance == o.Instance
}

// cursor is the encoded form of a RecordID.
type cursor struct {
	Job      string    `json:"j"`
	Tick     time.Time `json:"t"`
	Shard    int       `json:"s"`
	Attempt  int       `json:"a"`
	Instance string    `json:"i"`
}

// EncodeCursor returns the opaque cursor that continues a query after the
// record with identity id (the last record of a page). It is for
// [Querier] implementations; clients only pass cursors back. Ticks outside
// years 0-9999 are encoded as the zero time.
func EncodeCursor(id RecordID) string {
	t := id.Tick.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		t = time.Time{}
	}
	b, _ := json.Marshal(cursor{Job: id.Job, Tick: t, Shard: id.Shard, Attempt: id.Attempt, Instance: id.Instance})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the identity encoded by [EncodeCursor], with the
// tick in UTC, or an error wrapping [ErrBadCursor].
func DecodeCursor(s string) (RecordID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return RecordID{}, fmt.Errorf("%w: %w", ErrBadCursor, err)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return RecordID{}, fmt.Errorf("%w: %w", ErrBadCursor, err)
	}
	return RecordID{Job: c.Job, Tick: c.Tick.UTC(), Shard: c.Shard, Attempt: c.Attempt, Instance: c.Instance}, nil
}
