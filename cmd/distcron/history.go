package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// Where the sinks keep records unless told otherwise: sqlsink's default
// table, and for MongoDB the same name as the collection, in the
// database named by the URI's path or else defaultMongoDB.
const (
	defaultTable   = sqlsink.DefaultTable
	defaultMongoDB = "distcron"
)

// historyForms lists the DSN forms openHistory accepts, for errors.
const historyForms = "postgres://..., mysql://user:pass@host:3306/db, mongodb://host:27017/db, sqlite:PATH or a file path " +
	"(or a driver's own form: user@tcp(host:3306)/db, host=... dbname=..., file:PATH?...)"

// historyTarget is a parsed history DSN: which store, and how to reach it.
type historyTarget struct {
	kind    string // postgres, mysql, sqlite or mongodb
	driver  string // the database/sql driver; empty for mongodb
	dsn     string // what the driver gets
	display string // the DSN without its password, for messages
}

var (
	// pgKeyValue is libpq's key=value form: host=... dbname=...
	pgKeyValue = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service|connect_timeout|application_name)\s*=`)
	// mysqlNative is go-sql-driver/mysql's form: [user[:pass]@]net(addr)/db
	mysqlNative = regexp.MustCompile(`^([^/]*@)?(tcp|tcp4|tcp6|unix)\(.*\)/`)
	// scheme is a URL scheme at the start of a DSN.
	scheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)
)

// parseHistory reads a history DSN. Its errors wrap errUsage: a DSN that
// does not parse is a bad command line.
func parseHistory(dsn string) (historyTarget, error) {
	bad := func(format string, args ...any) (historyTarget, error) {
		return historyTarget{}, fmt.Errorf("%w: --history: %s", errUsage, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(dsn) == "" {
		return bad("empty: want one of %s", historyForms)
	}
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"), pgKeyValue.MatchString(dsn):
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return bad("postgres DSN: %v", redactErr(err, dsn))
		}
		return historyTarget{kind: "postgres", driver: "pgx", dsn: dsn, display: redact(dsn)}, nil

	case strings.HasPrefix(lower, "mysql://"):
		native, err := mysqlFromURL(dsn)
		if err != nil {
			return bad("mysql DSN %s: %v", redact(dsn), err)
		}
		return historyTarget{kind: "mysql", driver: "mysql", dsn: native, display: redact(dsn)}, nil

	case mysqlNative.MatchString(dsn):
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return bad("mysql DSN: %v", err)
		}
		display := cfg.Clone()
		if display.Passwd != "" {
			display.Passwd = "xxxxx"
		}
		return historyTarget{kind: "mysql", driver: "mysql", dsn: cfg.FormatDSN(), display: display.FormatDSN()}, nil

	case strings.HasPrefix(lower, "mongodb://"), strings.HasPrefix(lower, "mongodb+srv://"):
		return historyTarget{kind: "mongodb", dsn: dsn, display: redact(dsn)}, nil

	case strings.HasPrefix(lower, "file:"):
		path := strings.TrimPrefix(dsn[len("file:"):], "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		return sqliteTarget(path, dsn)

	case strings.HasPrefix(lower, "sqlite:"), strings.HasPrefix(lower, "sqlite3:"):
		path := dsn[strings.IndexByte(dsn, ':')+1:]
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return bad("sqlite: no path: want sqlite:PATH")
		}
		return sqliteTarget(path, "")

	case scheme.MatchString(dsn) && strings.Contains(dsn, "://"):
		return bad("unknown scheme %q in %s: want one of %s", scheme.FindStringSubmatch(dsn)[1], redact(dsn), historyForms)
	}
	// What is left is a file path: take it only if it names a file, so a
	// typo is not mistaken for an empty database.
	return sqliteTarget(dsn, "")
}

// sqliteTarget checks that path is an existing file and returns the
// modernc.org/sqlite DSN for it (uri, when the user gave one).
func sqliteTarget(path, uri string) (historyTarget, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return historyTarget{}, fmt.Errorf("%w: --history %s: no such file; want an SQLite database written by the sink, or one of %s", errUsage, path, historyForms)
		}
		return historyTarget{}, fmt.Errorf("--history: %w", err)
	}
	if fi.IsDir() {
		return historyTarget{}, fmt.Errorf("%w: --history %s: a directory, not an SQLite database", errUsage, path)
	}
	if uri == "" {
		// Read only at the connection level (query_only), without
		// mode=ro, which cannot read a WAL database whose -shm file is gone.
		uri = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	}
	return historyTarget{kind: "sqlite", driver: "sqlite", dsn: uri, display: path}, nil
}

// mysqlFromURL turns mysql://user:pass@host[:port]/db?params into the
// go-sql-driver/mysql form user:pass@tcp(host:port)/db?params.
func mysqlFromURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL: want mysql://user:pass@host:3306/db")
	}
	if u.Host == "" {
		return "", errors.New("no host: want mysql://user:pass@host:3306/db")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", errors.New("want one database name as the path: mysql://user:pass@host:3306/db")
	}
	// Let the driver read the parameters, so that a bad one is refused here.
	cfg, err := mysql.ParseDSN("/" + url.PathEscape(db) + "?" + u.RawQuery)
	if err != nil {
		return "", err
	}
	cfg.DBName = db
	cfg.Net, cfg.Addr = "tcp", u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	return cfg.FormatDSN(), nil
}

// redact returns a URL DSN with its password replaced.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactErr is err, without dsn's password if the text repeats it.
func redactErr(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	if p, ok := u.User.Password(); ok && p != "" && strings.Contains(err.Error(), p) {
		return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
	}
	return err
}

// openHistory opens the store behind t read-only as far as the sink goes
// (it creates no table, collection or index) and returns its Querier and
// what closes it. Opening does not reach the server: the first query does.
func openHistory(t historyTarget, table string, timeout time.Duration) (logsink.Querier, func(), error) {
	switch t.kind {
	case "mongodb":
		dbName := defaultMongoDB
		if u, err := url.Parse(t.dsn); err == nil && strings.Trim(u.Path, "/") != "" {
			dbName = strings.Trim(u.Path, "/")
		}
		if table == "" || strings.ContainsAny(table, "$\x00") {
			return nil, nil, fmt.Errorf("%w: --table %q: not a MongoDB collection name", errUsage, table)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(t.dsn).SetServerSelectionTimeout(timeout))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --history %s: %v", errUsage, t.display, err)
		}
		closeFn := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = client.Disconnect(ctx)
		}
		s, err := mongosink.New(client.Database(dbName).Collection(table), mongosink.WithCreateIndexes(false))
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		return s, closeFn, nil
	default:
		db, err := sql.Open(t.driver, t.dsn)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --history %s: %v", errUsage, t.display, err)
		}
		s, err := sqlsink.New(db, sqlsink.Dialect(t.kind), sqlsink.WithTable(table), sqlsink.WithCreateTable(false))
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("%w: --table: %v", errUsage, err)
		}
		return s, func() { db.Close() }, nil
	}
}
