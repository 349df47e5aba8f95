package sqlsink_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	_ "modernc.org/sqlite"

	"github.com/distcron/distcron/logsink/sqlsink"
)

// The servers the tests use besides SQLite, which always runs.
const (
	envPostgres = "DISTCRON_POSTGRES_DSN" // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	envMySQL    = "DISTCRON_MYSQL_DSN"    // e.g. root@tcp(127.0.0.1:3306)/test
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(filepath.Dir(sqlitePath)) }))
}

// backend is one database the tests run against.
type backend struct {
	name    string
	dialect sqlsink.Dialect
	// open returns a new *sql.DB, closed at cleanup, or skips t.
	open func(t testing.TB) *sql.DB
	// openVia returns a new *sql.DB whose connections go to addr (a
	// proxy) instead of the server; nil for SQLite.
	openVia func(t testing.TB, addr string) *sql.DB
	// target is the server's host:port, for a proxy.
	target func(t testing.TB) string
}

var backends = []backend{
	{name: "sqlite", dialect: sqlsink.SQLite, open: openSQLite},
	{name: "postgres", dialect: sqlsink.Postgres, open: openPostgres, openVia: openPostgresVia, target: postgresTarget},
	{name: "mysql", dialect: sqlsink.MySQL, open: openMySQL, openVia: openMySQLVia, target: mysqlTarget},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// sqliteDSN is the recommended modernc.org/sqlite DSN for a shared file:
// WAL, a busy timeout, and IMMEDIATE write transactions.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

// sqlitePath is one database file per test binary run, shared by the
// tests (each uses its own table, as with the servers).
var sqlitePath = func() string {
	dir, err := os.MkdirTemp("", "distcron-sqlsink-")
	if err != nil {
		panic(err)
	}
	return filepath.Join(dir, "runs.db")
}()

func openSQLite(t testing.TB) *sql.DB {
	return openDB(t, "sqlite", sqliteDSN(sqlitePath))
}

func openDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s: %v", driver, err)
	}
	return db
}

func envDSN(t testing.TB, name string) string {
	t.Helper()
	dsn := os.Getenv(name)
	if dsn == "" {
		t.Skipf("%s is not set: skipping the tests against that server", name)
	}
	return dsn
}

func openPostgres(t testing.TB) *sql.DB {
	return openDB(t, "pgx", envDSN(t, envPostgres))
}

func postgresConfig(t testing.TB) *pgx.ConnConfig {
	cfg, err := pgx.ParseConfig(envDSN(t, envPostgres))
	if err != nil {
		t.Fatalf("%s: %v", envPostgres, err)
	}
	return cfg
}

func postgresTarget(t testing.TB) string {
	cfg := postgresConfig(t)
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

func openPostgresVia(t testing.TB, addr string) *sql.DB {
	cfg := postgresConfig(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = host, uint16(p)
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 2 * time.Second
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

func mysqlConfig(t testing.TB) *mysql.Config {
	cfg, err := mysql.ParseDSN(envDSN(t, envMySQL))
	if err != nil {
		t.Fatalf("%s: %v", envMySQL, err)
	}
	return cfg
}

func openMySQL(t testing.TB) *sql.DB {
	return openDB(t, "mysql", envDSN(t, envMySQL))
}

func mysqlTarget(t testing.TB) string { return mysqlConfig(t).Addr }

func openMySQLVia(t testing.TB, addr string) *sql.DB {
	cfg := mysqlConfig(t)
	cfg.Net, cfg.Addr = "tcp", addr
	cfg.Timeout = 2 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tableName returns a table name no other test (or test run) uses, and
// drops the table at cleanup.
func tableName(t testing.TB, db *sql.DB, d sqlsink.Dialect) string {
	b := make([]byte, 6)
	rand.Read(b)
	name := "distcron_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q := `DROP TABLE IF EXISTS "` + name + `"`
		if d == sqlsink.MySQL {
			q = "DROP TABLE IF EXISTS `" + name + "`"
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return name
}

// newSink returns a sink on a fresh table of b.
func newSink(t testing.TB, b backend, opts ...sqlsink.Option) (*sqlsink.Sink, *sql.DB) {
	t.Helper()
	db := b.open(t)
	opts = append([]sqlsink.Option{sqlsink.WithTable(tableName(t, db, b.dialect)), sqlsink.WithLogger(zaptest.NewLogger(t))}, opts...)
	s, err := sqlsink.New(db, b.dialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}
