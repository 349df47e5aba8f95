package sqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/retention"
	"github.com/distcron/distcron/internal/stderrlog"
	"github.com/distcron/distcron/logsink"
)

// DefaultTable is the table a Sink writes to unless [WithTable] says
// otherwise.
const DefaultTable = "distcron_runs"

const (
	// maxRowsPerStatement bounds the rows of one INSERT (15 parameters
	// each: well below every dialect's parameter limit).
	maxRowsPerStatement = 500
	// maxStatementBytes bounds the estimated size of one INSERT, below
	// MariaDB's default max_allowed_packet (16 MiB).
	maxStatementBytes = 4 << 20
	// pruneChunk is the most rows one DELETE removes.
	pruneChunk = 5000
)

var tableName = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// Option configures a [Sink].
type Option func(*config)

type config struct {
	table     string
	retention time.Duration
	create    bool
	log       *zap.Logger
}

// WithTable sets the table name, optionally qualified by a schema
// ("history.runs"). Default [DefaultTable]. The name (without schema) must
// be at most 40 letters, digits or underscores, not starting with a digit,
// because index names are derived from it; it is quoted, so it is case
// sensitive.
func WithTable(name string) Option { return func(c *config) { c.table = name } }

// WithRetention makes Write delete records whose Tick is older than d,
// after committing a batch: on the first Write and then at most once per
// min(d/10, 10m), spending at most a second each time (a backlog is
// deleted over several writes). Default 0: keep every record. Use
// [Sink.Prune] to prune on your own schedule instead. d must be >= 0.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithCreateTable sets whether the sink creates its table and indexes if
// they are missing, before its first write. Default true. Turn it off when
// the schema is managed by migrations (see the package documentation for
// the DDL); [Sink.CreateTable] still works when called explicitly.
func WithCreateTable(create bool) Option { return func(c *config) { c.create = create } }

// WithLogger sets the logger for what the sink cannot return as an error:
// pruning failures. The default prints warnings and errors to standard
// error; nil means the default; zap.NewNop() quiets it. The sink logs
// under the name "sqlsink".
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = stderrlog.Or(l) } }

// Sink stores run records in a SQL table and answers history queries.
//
// Writes are idempotent on the record identity (Job, Tick, Shard, Attempt,
// Instance): a record already stored is skipped, so a batch retried after
// an ambiguous failure is stored once. Each batch is written in one
// transaction, with multi-row INSERTs.
//
// A Sink is safe for concurrent use; several Sinks (in one process or many)
// may share a table. It never closes the *sql.DB it was given.
type Sink struct {
	db  *sql.DB
	d   Dialect
	cfg config
	log *zap.Logger

	mu     sync.Mutex
	ready  bool // the schema was created (or creation is off)
	pruner retention.Pruner
}

var (
	_ logsink.Sink    = (*Sink)(nil)
	_ logsink.Querier = (*Sink)(nil)
)

// New returns a sink writing to db in dialect d. It only validates: it does
// no I/O, so it succeeds while the database is down, and the table is
// created on the first Write (or by [Sink.CreateTable]). It returns an
// error wrapping [ErrInvalidOption] if db is nil, d is unknown or an option
// is out of range.
func New(db *sql.DB, d Dialect, opts ...Option) (*Sink, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", ErrInvalidOption)
	}
	if !d.valid() {
		return nil, fmt.Errorf("%w: dialect %q, want %q, %q or %q", ErrInvalidOption, d, Postgres, MySQL, SQLite)
	}
	cfg := config{table: DefaultTable, create: true, log: stderrlog.New()}
	for _, o := range opts {
		o(&cfg)
	}
	if !tableName.MatchString(cfg.table) {
		return nil, fmt.Errorf("%w: table name %q", ErrInvalidOption, cfg.table)
	}
	if cfg.retention < 0 {
		return nil, fmt.Errorf("%w: retention %v, want >= 0", ErrInvalidOption, cfg.retention)
	}
	s := &Sink{
		db:    db,
		d:     d,
		cfg:   cfg,
		log:   cfg.log.Named("sqlsink").With(zap.String("table", cfg.table)),
		ready: !cfg.create,
	}
	s.pruner.Retention, s.pruner.Log, s.pruner.Prune = cfg.retention, s.log, s.prune
	return s, nil
}

// Table returns the (possibly schema-qualified) table name.
func (s *Sink) Table() string { return s.cfg.table }

// CreateTable creates the table and its indexes if they do not exist. It
// is idempotent and safe to call from several processes at once (on
// PostgreSQL it serializes them with an advisory lock; on MySQL it is a
// single CREATE TABLE). It blocks on the database, bounded by ctx. Write
// calls it once by itself unless [WithCreateTable](false).
func (s *Sink) CreateTable(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlsink: create table %s: %w", s.cfg.table, err)
	}
	defer tx.Rollback()
	if s.d == Postgres {
		// Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL
		// (duplicate pg_type entry); serialize the DDL.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(s.cfg.table)); err != nil {
			return fmt.Errorf("sqlsink: create table %s: lock: %w", s.cfg.table, err)
		}
	}
	for _, stmt := range s.d.schema(s.cfg.table) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlsink: create table %s: %w", s.cfg.table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlsink: create table %s: %w", s.cfg.table, err)
	}
	return nil
}

// ensureTable runs CreateTable once per Sink, until it succeeds.
func (s *Sink) ensureTable(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return nil
	}
	if err := s.CreateTable(ctx); err != nil {
		return err
	}
	s.ready = true
	return nil
}

// Write stores batch in one transaction, skipping records whose identity
// is already stored, and returns nil once it committed. It blocks on the
// database, bounded by ctx; on error nothing of the batch was committed,
// or all of it was (the commit's outcome was lost), and writing the batch
// again is safe. An empty batch does nothing. An error the database
// returns because of the records themselves (see the package
// documentation, Limits) wraps [logsink.ErrPermanent].
//
// Records are clipped with [logsink.Record.Clip] (a no-op for those a
// Pipeline hands over). Strings are stored as valid UTF-8 without NUL
// bytes (bad bytes become U+FFFD) and cut to [MaxNameLen], [MaxWordLen] and
// [MaxTextBytes]; a timestamp outside years 1000-9999 is stored as NULL.
// With [WithRetention], Write then prunes old records; a pruning failure
// is logged, not returned.
func (s *Sink) Write(ctx context.Context, batch []logsink.Record) error {
	if len(batch) == 0 {
		return nil
	}
	if err := s.ensureTable(ctx); err != nil {
		return err
	}
	if err := s.insert(ctx, batch); err != nil {
		if ctx.Err() == nil && s.d.permanent(err) {
			err = fmt.Errorf("%w: %w", logsink.ErrPermanent, err)
		}
		return errtext.Errorf("sqlsink: write %d records to %s: %w", len(batch), s.cfg.table, err)
	}
	if s.cfg.retention > 0 {
		s.autoPrune(ctx)
	}
	return nil
}

func (s *Sink) insert(ctx context.Context, batch []logsink.Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, min(len(batch), maxRowsPerStatement)*len(columns))
	batch = clipped(batch)
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) && n < maxRowsPerStatement {
			size += rowSize(&batch[n])
			if n > 0 && size > maxStatementBytes {
				break
			}
			n++
		}
		args = args[:0]
		for i := range n {
			args = s.d.appendArgs(args, &batch[i])
		}
		if _, err := tx.ExecContext(ctx, s.d.insertSQL(s.cfg.table, n), args...); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return tx.Commit()
}

// clipped returns batch with every record clipped by logsink.Record.Clip:
// batch itself if none needed it, else a copy.
func clipped(batch []logsink.Record) []logsink.Record {
	var out []logsink.Record
	for i := range batch {
		c, ok := batch[i].Clip()
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(batch)
		}
		out[i] = c
	}
	if out == nil {
		return batch
	}
	return out
}

// autoPrune prunes after a commit, when due (see retention.Pruner).
func (s *Sink) autoPrune(ctx context.Context) { s.pruner.AfterWrite(ctx) }

// Prune deletes the records whose Tick is before before, in chunks of a
// few thousand rows (one short transaction each), and returns how many it
// deleted. It blocks until done or ctx ends; what it deleted before an
// error stays deleted. Safe to call from several processes at once.
func (s *Sink) Prune(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.prune(ctx, before)
	if err != nil {
		return n, fmt.Errorf("sqlsink: prune %s: %w", s.cfg.table, err)
	}
	return n, nil
}

func (s *Sink) prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.ensureTable(ctx); err != nil {
		return 0, err
	}
	t := s.d.qualified(s.cfg.table)
	var stmt string
	if s.d == MySQL {
		stmt = fmt.Sprintf(`DELETE FROM %s WHERE tick_ns < ? ORDER BY tick_ns LIMIT %d`, t, pruneChunk)
	} else {
		stmt = fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE tick_ns < %s LIMIT %d)`, t, t, s.d.placeholder(1), pruneChunk)
	}
	cut := tickNS(before)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, stmt, cut)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
