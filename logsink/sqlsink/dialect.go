package sqlsink

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Dialect names the SQL flavour of the database behind a *sql.DB. It picks
// the column types, placeholders and statements the sink uses; the sink
// never imports a driver.
type Dialect string

// The supported dialects.
const (
	// Postgres is PostgreSQL 10 or later, through any driver
	// (github.com/jackc/pgx/v5/stdlib, github.com/lib/pq).
	Postgres Dialect = "postgres"
	// MySQL is MySQL 8.0 or later or MariaDB 10.5 or later, through
	// github.com/go-sql-driver/mysql (with or without parseTime, in any
	// loc: the sink sends and reads UTC wall-clock values).
	MySQL Dialect = "mysql"
	// SQLite is SQLite 3.24 or later, through any driver
	// (modernc.org/sqlite, github.com/mattn/go-sqlite3).
	SQLite Dialect = "sqlite"
)

func (d Dialect) valid() bool { return d == Postgres || d == MySQL || d == SQLite }

// quote quotes an identifier (validated: letters, digits, underscores).
func (d Dialect) quote(name string) string {
	if d == MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// qualified quotes a possibly schema-qualified table name.
func (d Dialect) qualified(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.quote(p)
	}
	return strings.Join(parts, ".")
}

// placeholder returns the n-th (1-based) bind parameter.
func (d Dialect) placeholder(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// Layouts of the time values sent as text.
const (
	mysqlTimeLayout  = "2006-01-02 15:04:05.000000"
	sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z"
)

// timeArg returns the bind value for a timestamp column: NULL for a time
// the sink does not store (see storable), else the UTC time in the form
// the dialect takes.
func (d Dialect) timeArg(t time.Time) any {
	if !storable(t) {
		return nil
	}
	t = t.UTC()
	switch d {
	case MySQL:
		return t.Format(mysqlTimeLayout)
	case SQLite:
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// columns in insert and select order.
var columns = []string{
	"job", "tick", "tick_ns", "shard", "attempt", "instance", "triggered_by", "token",
	"started", "finished", "duration_ns", "status", "error", "exit_code", "output", "steps",
}

const identityColumns = "job, tick_ns, shard, attempt, instance"

// schema returns the statements that create the table and its indexes,
// each idempotent.
func (d Dialect) schema(table string) []string {
	base := baseName(table)
	t := d.qualified(table)
	idx := func(suffix string) string { return d.quote(base + "_" + suffix) }
	switch d {
	case Postgres:
		return []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job          TEXT COLLATE "C" NOT NULL,
	tick         TIMESTAMPTZ,
	tick_ns      BIGINT NOT NULL,
	shard        BIGINT NOT NULL,
	attempt      BIGINT NOT NULL,
	instance     TEXT COLLATE "C" NOT NULL,
	triggered_by TEXT NOT NULL,
	token        BIGINT NOT NULL,
	started      TIMESTAMPTZ,
	finished     TIMESTAMPTZ,
	duration_ns  BIGINT NOT NULL,
	status       TEXT COLLATE "C" NOT NULL,
	error        TEXT NOT NULL,
	exit_code    BIGINT NOT NULL,
	output       TEXT NOT NULL,
	steps        TEXT NOT NULL,
	CONSTRAINT ` + idx("identity") + ` UNIQUE (` + identityColumns + `)
)`,
			`CREATE INDEX IF NOT EXISTS ` + idx("tick") + ` ON ` + t + ` (tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + idx("status") + ` ON ` + t + ` (status, tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + idx("instance") + ` ON ` + t + ` (instance, tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + idx("started") + ` ON ` + t + ` (started)`,
		}
	case MySQL:
		// One statement, indexes inline: MySQL has no CREATE INDEX IF NOT
		// EXISTS, and a single CREATE TABLE IF NOT EXISTS is atomic under
		// concurrent callers.
		const name = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
		const word = "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
		return []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	job          ` + name + ` NOT NULL,
	tick         DATETIME(6) NULL,
	tick_ns      BIGINT NOT NULL,
	shard        BIGINT NOT NULL,
	attempt      BIGINT NOT NULL,
	instance     ` + name + ` NOT NULL,
	triggered_by ` + word + ` NOT NULL,
	token        BIGINT NOT NULL,
	started      DATETIME(6) NULL,
	finished     DATETIME(6) NULL,
	duration_ns  BIGINT NOT NULL,
	status       ` + word + ` NOT NULL,
	error        MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,
	exit_code    BIGINT NOT NULL,
	output       MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,
	steps        MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,
	UNIQUE KEY ` + idx("identity") + ` (` + identityColumns + `),
	KEY ` + idx("tick") + ` (tick_ns),
	KEY ` + idx("status") + ` (status, tick_ns),
	KEY ` + idx("instance") + ` (instance, tick_ns),
	KEY ` + idx("started") + ` (started)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		}
	default: // SQLite
		return []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id           INTEGER PRIMARY KEY,
	job          TEXT NOT NULL,
	tick         TEXT,
	tick_ns      INTEGER NOT NULL,
	shard        INTEGER NOT NULL,
	attempt      INTEGER NOT NULL,
	instance     TEXT NOT NULL,
	triggered_by TEXT NOT NULL,
	token        INTEGER NOT NULL,
	started      TEXT,
	finished     TEXT,
	duration_ns  INTEGER NOT NULL,
	status       TEXT NOT NULL,
	error        TEXT NOT NULL,
	exit_code    INTEGER NOT NULL,
	output       TEXT NOT NULL,
	steps        TEXT NOT NULL,
	CONSTRAINT ` + idx("identity") + ` UNIQUE (` + identityColumns + `)
)`,
			`CREATE INDEX IF NOT EXISTS ` + schemaPrefix(d, table) + idx("tick") + ` ON ` + d.quote(base) + ` (tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + schemaPrefix(d, table) + idx("status") + ` ON ` + d.quote(base) + ` (status, tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + schemaPrefix(d, table) + idx("instance") + ` ON ` + d.quote(base) + ` (instance, tick_ns)`,
			`CREATE INDEX IF NOT EXISTS ` + schemaPrefix(d, table) + idx("started") + ` ON ` + d.quote(base) + ` (started)`,
		}
	}
}

// schemaPrefix returns the quoted schema and a dot for a qualified SQLite
// table name (SQLite qualifies the index name, not the table, in CREATE
// INDEX), else "".
func schemaPrefix(d Dialect, table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return d.quote(table[:i]) + "."
	}
	return ""
}

// baseName returns the table name without its schema.
func baseName(table string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		return table[i+1:]
	}
	return table
}

// lockKey is the PostgreSQL advisory lock taken while creating table.
func lockKey(table string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "distcron/sqlsink/%s", table)
	return int64(h.Sum64())
}

// insertSQL returns the multi-row insert of n rows that skips rows whose
// identity is already stored.
func (d Dialect) insertSQL(table string, n int) string {
	var b strings.Builder
	if d == MySQL {
		b.Grow(64 + n*4*len(columns))
	} else {
		b.Grow(64 + n*6*len(columns))
	}
	if d == MySQL {
		// INSERT IGNORE, not ON DUPLICATE KEY UPDATE id = id: with
		// concurrent overlapping batches, MariaDB 10.11 was seen to insert
		// none of a statement's rows when some duplicated rows another
		// transaction had just inserted, and to report no error
		// (TestConcurrentOverlappingBatches). IGNORE also turns data
		// errors into warnings, but every value is cleaned to fit its
		// column first.
		b.WriteString("INSERT IGNORE INTO ")
	} else {
		b.WriteString("INSERT INTO ")
	}
	b.WriteString(d.qualified(table))
	b.WriteString(" (")
	b.WriteString(strings.Join(columns, ", "))
	b.WriteString(") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range columns {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.placeholder(p))
			p++
		}
		b.WriteByte(')')
	}
	if d != MySQL {
		b.WriteString(" ON CONFLICT (" + identityColumns + ") DO NOTHING")
	}
	return b.String()
}
