package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distcron/distcron/logsink"
)

var _ logsink.Summarizer = (*Sink)(nil)

// Summarize counts the records matching q's filters (Job, Statuses,
// Instance, Since, Until) by job and status, with the newest tick of
// each, in one GROUP BY query served by the table's indexes. Limit,
// Cursor and OmitOutput are ignored. It blocks on the database, bounded by
// ctx, and is safe for concurrent use.
func (s *Sink) Summarize(ctx context.Context, q logsink.Query) (_ []logsink.StatusCount, err error) {
	var b strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return s.d.placeholder(len(args))
	}
	b.WriteString("SELECT job, status, COUNT(*), MAX(tick_ns) FROM " + s.d.qualified(s.cfg.table) + " WHERE 1=1")
	writeFilter(&b, arg, q)
	b.WriteString(" GROUP BY job, status")

	if err := s.ensureTable(ctx); err != nil {
		return nil, fmt.Errorf("sqlsink: summarize: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlsink: summarize %s: %w", s.cfg.table, err)
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	var out []logsink.StatusCount
	for rows.Next() {
		var c logsink.StatusCount
		var last int64
		if err := rows.Scan(&c.Job, &c.Status, &c.Runs, &last); err != nil {
			return nil, fmt.Errorf("sqlsink: summarize %s: %w", s.cfg.table, err)
		}
		c.Last = time.Unix(0, last).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsink: summarize %s: %w", s.cfg.table, err)
	}
	return out, nil
}
