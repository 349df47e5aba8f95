// Package examplesinks opens the run-record sinks the example programs
// offer by flag. It is separate from exampleutil so that examples without
// a sink flag do not link database drivers or FerretDB.
package examplesinks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "github.com/go-sql-driver/mysql" // driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // driver "sqlite"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// SinkKinds lists the kinds OpenSink accepts, for flag help.
const SinkKinds = "stdout|mongo|postgres|mysql|sqlite"

// OpenSink opens the run-record sink of kind, with dsn:
//
//   - stdout: one JSON line per record on os.Stdout; dsn is ignored.
//   - mongo: a MongoDB URI (the database is the URI's path, default
//     "distcron"; the collection is "runs"). Empty: an embedded FerretDB
//     (SQLite backend) on a loopback port, its data in a temporary
//     directory removed by the cleanup function.
//   - postgres: a PostgreSQL URL or key=value DSN for pgx; required.
//   - mysql: a go-sql-driver/mysql DSN (user@tcp(host:3306)/db); required.
//   - sqlite: a file path or a "file:" URI for modernc.org/sqlite. Empty:
//     a file in a temporary directory removed by the cleanup function.
//
// The database is only pinged (a failure is logged, not returned): the
// sink's pipeline buffers records until the database is reachable. The
// mongo and SQL sinks also implement logsink.Querier. The returned
// function closes what OpenSink opened; call it after the scheduler has
// stopped.
func OpenSink(kind, dsn string, log *zap.Logger) (logsink.Sink, func(), error) {
	switch kind {
	case "", "stdout":
		return logsink.NewJSON(os.Stdout), func() {}, nil
	case "mongo":
		return openMongo(dsn, log)
	case "postgres", "mysql", "sqlite":
		return openSQL(kind, dsn, log)
	}
	return nil, nil, fmt.Errorf("unknown sink %q, want one of %s", kind, SinkKinds)
}

func openSQL(kind, dsn string, log *zap.Logger) (logsink.Sink, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	driver, dialect := kind, sqlsink.Dialect(kind)
	switch kind {
	case "postgres":
		driver = "pgx"
		if dsn == "" {
			return nil, nil, errors.New("the postgres sink needs a DSN, e.g. postgres://user@127.0.0.1:5432/db?sslmode=disable")
		}
	case "mysql":
		if dsn == "" {
			return nil, nil, errors.New("the mysql sink needs a DSN, e.g. root@tcp(127.0.0.1:3306)/db")
		}
	case "sqlite":
		if dsn == "" {
			dir, err := os.MkdirTemp("", "distcron-runs-")
			if err != nil {
				return nil, nil, err
			}
			cleanups = append(cleanups, func() { os.RemoveAll(dir) })
			dsn = filepath.Join(dir, "runs.db")
			log.Info("no sqlite DSN given: run records go to a temporary database, removed at exit", zap.String("path", dsn))
		}
		if !strings.HasPrefix(dsn, "file:") {
			dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("%s sink: %w", kind, err)
	}
	cleanups = append(cleanups, func() { db.Close() })
	s, err := sqlsink.New(db, dialect, sqlsink.WithLogger(log))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		log.Warn("run-record database not ready; records are buffered until it is", zap.String("sink", kind), zap.Error(err))
	}
	return s, cleanup, nil
}

func openMongo(uri string, log *zap.Logger) (logsink.Sink, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if uri == "" {
		u, stop, err := StartFerretDB(log)
		if err != nil {
			return nil, nil, err
		}
		cleanups = append(cleanups, stop)
		uri = u
	}
	dbName := "distcron"
	if u, err := url.Parse(uri); err == nil && strings.Trim(u.Path, "/") != "" {
		dbName = strings.Trim(u.Path, "/")
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("mongo sink: %w", err)
	}
	cleanups = append(cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		client.Disconnect(ctx)
	})
	s, err := mongosink.New(client.Database(dbName).Collection("runs"), mongosink.WithLogger(log))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.CreateIndexes(ctx); err != nil {
		log.Warn("run-record database not ready; records are buffered until it is", zap.String("sink", "mongo"), zap.Error(err))
	}
	return s, cleanup, nil
}

// StartFerretDB starts an embedded FerretDB (a MongoDB-compatible server)
// with its SQLite backend, listening on a free loopback port, its data in
// a temporary directory. It returns the server's MongoDB URI and a
// function that stops it and removes the directory.
func StartFerretDB(log *zap.Logger) (uri string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "distcron-ferretdb-")
	if err != nil {
		return "", nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("embedded FerretDB: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	uri = f.MongoDBURI() // waits for the listener
	log.Info("no mongo URI given: started an embedded FerretDB (data removed at exit)", zap.String("uri", uri), zap.String("dir", dir))
	return uri, func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}, nil
}
