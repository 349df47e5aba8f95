package sinktest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/logsink"
)

// Memory is an in-memory [logsink.Sink] and [logsink.Querier]: the
// reference implementation of the contract [Run] checks, and a stand-in
// for a database in tests of code that reads history (like fstest.MapFS
// for file systems).
//
// It stores each identity once (a repeated record is ignored), keeps every
// field exactly as given (times in UTC), and orders query results newest
// Tick first, then by Job, Shard, Attempt and Instance, descending (strings
// in byte order). The zero value is an empty sink ready to use; it is safe
// for concurrent use. It never blocks and never fails, except that it
// honours a cancelled context.
type Memory struct {
	mu   sync.RWMutex
	recs map[key]logsink.Record
}

var (
	_ logsink.Sink    = (*Memory)(nil)
	_ logsink.Querier = (*Memory)(nil)
)

type key struct {
	job      string
	tick     int64 // Unix nanoseconds
	tickSec  int64 // for ticks outside the int64 nanosecond range
	shard    int
	attempt  int
	instance string
}

func keyOf(id logsink.RecordID) key {
	return key{id.Job, id.Tick.UnixNano(), id.Tick.Unix(), id.Shard, id.Attempt, id.Instance}
}

// Write stores the records of batch whose identity is not stored yet. It
// returns ctx.Err() without storing anything if ctx is done.
func (m *Memory) Write(ctx context.Context, batch []logsink.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[key]logsink.Record)
	}
	for _, r := range batch {
		k := keyOf(r.ID())
		if _, ok := m.recs[k]; ok {
			continue
		}
		r.Tick, r.Started, r.Finished = r.Tick.UTC(), r.Started.UTC(), r.Finished.UTC()
		r.Steps = slices.Clone(r.Steps)
		for i := range r.Steps {
			r.Steps[i].Started = r.Steps[i].Started.UTC()
		}
		m.recs[k] = r
	}
	return nil
}

// Len returns the number of records stored.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.recs)
}

// Records returns every stored record, newest first (the order of Query).
func (m *Memory) Records() []logsink.Record {
	m.mu.RLock()
	out := make([]logsink.Record, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b logsink.Record) int { return CompareNewestFirst(a.ID(), b.ID()) })
	return out
}

// CompareNewestFirst orders identities as [Memory] returns them: by Tick
// descending, then Job, Shard, Attempt and Instance descending (strings by
// bytes). It returns a negative number when a comes first.
func CompareNewestFirst(a, b logsink.RecordID) int {
	return cmp.Or(
		b.Tick.Compare(a.Tick),
		cmp.Compare(b.Job, a.Job),
		cmp.Compare(b.Shard, a.Shard),
		cmp.Compare(b.Attempt, a.Attempt),
		cmp.Compare(b.Instance, a.Instance),
	)
}

// Query implements [logsink.Querier].
func (m *Memory) Query(ctx context.Context, q logsink.Query) (logsink.Page, error) {
	if err := ctx.Err(); err != nil {
		return logsink.Page{}, err
	}
	var after *logsink.RecordID
	if q.Cursor != "" {
		c, err := logsink.DecodeCursor(q.Cursor)
		if err != nil {
			return logsink.Page{}, fmt.Errorf("sinktest: %w", err)
		}
		after = &c
	}
	limit := q.PageLimit()
	var page logsink.Page
	for _, r := range m.Records() {
		if !Matches(q, r) || after != nil && CompareNewestFirst(r.ID(), *after) <= 0 {
			continue
		}
		if len(page.Records) == limit {
			page.Next = logsink.EncodeCursor(page.Records[limit-1].ID())
			break
		}
		if q.OmitOutput {
			r.Output = ""
			r.Steps = slices.Clone(r.Steps)
			for i := range r.Steps {
				r.Steps[i].Output = ""
			}
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// Matches reports whether r passes the filters of q (Job, Statuses,
// Instance, Since, Until; not the cursor).
func Matches(q logsink.Query, r logsink.Record) bool {
	return (q.Job == "" || r.Job == q.Job) &&
		(q.Instance == "" || r.Instance == q.Instance) &&
		(len(q.Statuses) == 0 || slices.Contains(q.Statuses, r.Status)) &&
		(q.Since.IsZero() || !r.Tick.Before(q.Since)) &&
		(q.Until.IsZero() || r.Tick.Before(q.Until))
}

// Get implements [logsink.Querier].
func (m *Memory) Get(ctx context.Context, id logsink.RecordID) (logsink.Record, error) {
	if err := ctx.Err(); err != nil {
		return logsink.Record{}, err
	}
	m.mu.RLock()
	r, ok := m.recs[keyOf(id)]
	m.mu.RUnlock()
	if !ok {
		return logsink.Record{}, fmt.Errorf("%w: job %s tick %s", logsink.ErrNotFound, errtext.Name(id.Job), id.Tick)
	}
	return r, nil
}
