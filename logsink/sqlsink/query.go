package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/logsink"
)

const orderBy = " ORDER BY tick_ns DESC, job DESC, shard DESC, attempt DESC, instance DESC"

// Query returns one page of records matching q, newest Tick first; records
// of one tick are ordered by job, shard, attempt and instance, descending
// (job and instance in byte order). It blocks on the database, bounded by
// ctx, and is safe for concurrent use. An invalid cursor is an error
// wrapping [logsink.ErrBadCursor]. The table is created first if it is
// missing (unless [WithCreateTable](false)), so a new database answers
// with an empty page.
func (s *Sink) Query(ctx context.Context, q logsink.Query) (logsink.Page, error) {
	limit := q.PageLimit()
	var b strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return s.d.placeholder(len(args))
	}
	b.WriteString(s.selectList(q.OmitOutput))
	b.WriteString(" WHERE 1=1")
	writeFilter(&b, arg, q)
	if q.Cursor != "" {
		c, err := logsink.DecodeCursor(q.Cursor)
		if err != nil {
			return logsink.Page{}, fmt.Errorf("sqlsink: query: %w", err)
		}
		c = cleanID(c)
		// Rows strictly after the cursor in the sort order.
		t := tickNS(c.Tick)
		fmt.Fprintf(&b, " AND (tick_ns < %s OR (tick_ns = %s AND (job < %s OR (job = %s AND (shard < %s OR (shard = %s AND (attempt < %s OR (attempt = %s AND instance < %s))))))))",
			arg(t), arg(t), arg(c.Job), arg(c.Job), arg(int64(c.Shard)), arg(int64(c.Shard)),
			arg(int64(c.Attempt)), arg(int64(c.Attempt)), arg(c.Instance))
	}
	b.WriteString(orderBy)
	fmt.Fprintf(&b, " LIMIT %d", limit+1)

	if err := s.ensureTable(ctx); err != nil {
		return logsink.Page{}, fmt.Errorf("sqlsink: query: %w", err)
	}
	recs, err := s.query(ctx, q.OmitOutput, b.String(), args...)
	if err != nil {
		return logsink.Page{}, fmt.Errorf("sqlsink: query %s: %w", s.cfg.table, err)
	}
	var page logsink.Page
	if len(recs) > limit {
		recs = recs[:limit]
		page.Next = logsink.EncodeCursor(recs[limit-1].ID())
	}
	page.Records = recs
	return page, nil
}

// Get returns the record with identity id, Output included, or an error
// wrapping [logsink.ErrNotFound]. The identity's Job and Instance are
// cleaned as Write cleans them. It blocks on the database, bounded by ctx,
// and is safe for concurrent use.
func (s *Sink) Get(ctx context.Context, id logsink.RecordID) (logsink.Record, error) {
	id = cleanID(id)
	p := s.d.placeholder
	stmt := s.selectList(false) + fmt.Sprintf(" WHERE job = %s AND tick_ns = %s AND shard = %s AND attempt = %s AND instance = %s",
		p(1), p(2), p(3), p(4), p(5))
	if err := s.ensureTable(ctx); err != nil {
		return logsink.Record{}, fmt.Errorf("sqlsink: get: %w", err)
	}
	recs, err := s.query(ctx, false, stmt, id.Job, tickNS(id.Tick), int64(id.Shard), int64(id.Attempt), id.Instance)
	if err != nil {
		return logsink.Record{}, fmt.Errorf("sqlsink: get from %s: %w", s.cfg.table, err)
	}
	if len(recs) == 0 {
		return logsink.Record{}, fmt.Errorf("%w: job %s tick %s shard %d attempt %d instance %s",
			logsink.ErrNotFound, errtext.Name(id.Job), id.Tick.UTC().Format("2006-01-02T15:04:05.999999999Z"), id.Shard, id.Attempt, errtext.Name(id.Instance))
	}
	return recs[0], nil
}

func (s *Sink) selectList(omitOutput bool) string {
	cols := strings.Join(columns, ", ")
	if omitOutput {
		cols = strings.Replace(cols, "output", "'' AS output", 1)
	}
	return "SELECT " + cols + " FROM " + s.d.qualified(s.cfg.table)
}

func (s *Sink) query(ctx context.Context, omitOutput bool, stmt string, args ...any) (_ []logsink.Record, err error) {
	rows, err := s.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	var out []logsink.Record
	var sc scanner
	dest := sc.dest(s.d)
	for rows.Next() {
		sc.rec = logsink.Record{}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r, err := sc.record(omitOutput)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// writeFilter appends the AND conditions of q's filters (job, instance,
// statuses, tick range) to a WHERE clause, binding values through arg.
func writeFilter(b *strings.Builder, arg func(any) string, q logsink.Query) {
	if q.Job != "" {
		b.WriteString(" AND job = " + arg(cleanName(q.Job, MaxNameLen)))
	}
	if q.Instance != "" {
		b.WriteString(" AND instance = " + arg(cleanName(q.Instance, MaxNameLen)))
	}
	if len(q.Statuses) > 0 {
		b.WriteString(" AND status IN (")
		for i, st := range q.Statuses {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(arg(cleanName(string(st), MaxWordLen)))
		}
		b.WriteString(")")
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND tick_ns >= " + arg(tickNS(q.Since)))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND tick_ns < " + arg(tickNS(q.Until)))
	}
}
