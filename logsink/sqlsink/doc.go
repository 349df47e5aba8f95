// Package sqlsink stores distcron run records in a SQL table (PostgreSQL,
// MySQL/MariaDB or SQLite) and answers history queries.
//
// # Overview
//
// [New] takes the *sql.DB your program already has and the [Dialect] of
// the database behind it. The package imports no driver: your program
// does (for example github.com/jackc/pgx/v5/stdlib,
// github.com/go-sql-driver/mysql, modernc.org/sqlite). The sink never
// closes the *sql.DB.
//
//	db, err := sql.Open("pgx", "postgres://distcron@db/ops")
//	...
//	runs, err := sqlsink.New(db, sqlsink.Postgres, sqlsink.WithRetention(90*24*time.Hour))
//	...
//	sched, err := distcron.New(cli, distcron.WithSinks(runs))
//
// The scheduler writes through a [logsink.Delivery]: batches, retries with
// backoff while the database is down, and flushes on Stop. The sink
// implements [logsink.Querier] for the admin side: [Sink.Query] (filters,
// newest first, cursor pagination) and [Sink.Get] (one run with its
// output).
//
// # Idempotent writes
//
// A record's identity is (job, tick, shard, attempt, instance), a UNIQUE
// constraint of the table. Each batch is written in one transaction of
// multi-row INSERTs that skip rows whose identity is already stored
// (ON CONFLICT DO NOTHING on PostgreSQL and SQLite, INSERT IGNORE on
// MySQL). A batch retried after an ambiguous failure (the commit reached
// the server, the reply did not reach the client) is therefore stored
// once; several instances may share the table.
//
// # Schema
//
// The table (default [DefaultTable], see [WithTable]) and its indexes are
// created on the first Write, or by [Sink.CreateTable], idempotently and
// safely when several instances start at once. To manage the schema with
// migrations instead, use [WithCreateTable](false) and this DDL (shown for
// PostgreSQL; the table name is "distcron_runs"):
//
//	CREATE TABLE distcron_runs (
//		id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
//		job          TEXT COLLATE "C" NOT NULL,
//		tick         TIMESTAMPTZ,          -- the scheduled instant, UTC
//		tick_ns      BIGINT NOT NULL,      -- the same, exact: Unix nanoseconds
//		shard        BIGINT NOT NULL,
//		attempt      BIGINT NOT NULL,
//		instance     TEXT COLLATE "C" NOT NULL,
//		triggered_by TEXT NOT NULL,        -- schedule, manual, catchup, retry
//		token        BIGINT NOT NULL,      -- fencing token (etcd revision)
//		started      TIMESTAMPTZ,
//		finished     TIMESTAMPTZ,
//		duration_ns  BIGINT NOT NULL,
//		status       TEXT COLLATE "C" NOT NULL, -- succeeded, failed, timeout, killed, skipped, lost
//		error        TEXT NOT NULL,        -- '' when none
//		exit_code    BIGINT NOT NULL,
//		output       TEXT NOT NULL,        -- tail of a shell job's output
//		steps        TEXT NOT NULL,        -- pipeline jobs: JSON array of steps, else ''
//		CONSTRAINT distcron_runs_identity UNIQUE (job, tick_ns, shard, attempt, instance)
//	);
//	CREATE INDEX distcron_runs_tick     ON distcron_runs (tick_ns);
//	CREATE INDEX distcron_runs_status   ON distcron_runs (status, tick_ns);
//	CREATE INDEX distcron_runs_instance ON distcron_runs (instance, tick_ns);
//	CREATE INDEX distcron_runs_started  ON distcron_runs (started);
//
// On MySQL/MariaDB the timestamps are DATETIME(6) holding UTC, job,
// instance, triggered_by and status are VARCHAR(255)/VARCHAR(32) with the
// utf8mb4_bin collation (byte order, case sensitive; trailing spaces do
// not count), error, output and steps are MEDIUMTEXT, id is
// AUTO_INCREMENT, and the indexes are declared in the CREATE TABLE. On
// SQLite the timestamps are TEXT in the fixed-width UTC form
// 2006-01-02T15:04:05.000000000Z, which sorts and works with SQLite's date
// functions.
//
// # Time precision
//
// The tick is the run's identity and must read back equal: it is stored
// exactly as tick_ns (Unix nanoseconds; ticks outside years 1678-2262 are
// clamped there, and read back from the tick column). The timestamp
// columns keep microseconds on PostgreSQL and MySQL (truncated) and
// nanoseconds on SQLite; a time that is zero or outside years 1000-9999 is
// NULL and reads back as the zero time. Durations are exact
// (duration_ns). Times read back in UTC whatever the session time zone or,
// for MySQL, the driver's parseTime and loc settings.
//
// # Limits
//
// A record the database refused would block its pipeline for good, so
// Write cleans values instead: records are clipped with
// [logsink.Record.Clip] (at most [logsink.MaxRecordSteps] steps and
// [logsink.MaxRecordBytes], as a Pipeline already does), text becomes
// valid UTF-8 without NUL bytes (bad bytes become U+FFFD), job and
// instance are cut to [MaxNameLen] characters, status and trigger to
// [MaxWordLen], and output (its tail) and error (its head) to
// [MaxTextBytes]. Steps are stored as JSON without HTML escaping, which
// keeps them close to their size. Batches are split into statements of at
// most 500 rows and about 4 MiB, in one transaction (below MariaDB's
// default max_allowed_packet of 16 MiB).
//
// Should the database still refuse a record (a constraint or trigger of
// your own, say), Write's error wraps [logsink.ErrPermanent] when the
// error shows that the records are at fault: on PostgreSQL a data
// exception (SQLSTATE class 22), a NOT NULL or CHECK violation or an
// exceeded limit (class 54), on SQLite SQLITE_TOOBIG or SQLITE_CONSTRAINT
// (with drivers whose errors have SQLState() or Code() methods: pgx,
// lib/pq, modernc.org/sqlite). A Pipeline then drops that record and
// writes the others. MySQL's INSERT IGNORE turns data errors into
// warnings (the row is skipped), and its other errors are never taken as
// permanent; a Pipeline still finds a record that keeps failing by itself
// (see the logsink documentation, Poison records).
//
// # Retention
//
// [WithRetention] deletes records whose tick is older than the retention,
// from Write, after the batch committed: on the first write, then at most
// once per min(retention/10, 10 minutes), in chunks of 5000 rows and at
// most a second per write. [Sink.Prune] deletes on demand (for example
// from a distcron job of your own). Without either, records are kept.
//
// # SQLite
//
// Open the database so that several connections can write: WAL, a busy
// timeout, and immediate write transactions. With modernc.org/sqlite:
//
//	file:runs.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate
package sqlsink
