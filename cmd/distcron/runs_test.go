package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/go-sql-driver/mysql"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// The SQL servers the history tests use besides SQLite. Unset, their
// tests are skipped, unless CI=true, where a missing server fails.
const (
	envPostgres = "DISTCRON_POSTGRES_DSN" // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	envMySQL    = "DISTCRON_MYSQL_DSN"    // e.g. root@tcp(127.0.0.1:3306)/test?parseTime=true
)

func envDSN(t *testing.T, name string) string {
	t.Helper()
	dsn := os.Getenv(name)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (CI=true: the server is required)", name)
		}
		t.Skipf("%s is not set: skipping the tests against that server", name)
	}
	return dsn
}

// historyFixture is what the runs tests write: ticks relative to now so
// that "--since 1h" means something, whole seconds so that every store
// keeps them exactly.
func historyFixture(now time.Time) []logsink.Record {
	base := now.UTC().Truncate(time.Second)
	rec := func(job, inst string, ago time.Duration, st logsink.Status, attempt int) logsink.Record {
		tick := base.Add(-ago)
		return logsink.Record{Job: job, Tick: tick, Instance: inst, Trigger: logsink.TriggerSchedule, Attempt: attempt,
			Token: 100, Started: tick.Add(20 * time.Millisecond), Finished: tick.Add(1520 * time.Millisecond),
			Duration: 1500 * time.Millisecond, Status: st}
	}
	failed := rec("backup", "node-a", 10*time.Minute, logsink.StatusFailed, 1)
	failed.Error = "exit status 3\nsecond line"
	failed.ExitCode = 3
	failed.Output = "copying...\ndisk full\n"
	retried := rec("backup", "node-b", 10*time.Minute, logsink.StatusSucceeded, 2)
	retried.Trigger = logsink.TriggerRetry
	manual := rec("report", "node-b", 20*time.Minute, logsink.StatusSucceeded, 1)
	manual.Trigger = logsink.TriggerManual
	manual.Steps = []logsink.StepRecord{{Name: "fetch", Status: logsink.StatusSucceeded, Started: manual.Started, Duration: time.Second, Output: "fetched 12 rows"}}
	return []logsink.Record{
		failed, retried, manual,
		rec("backup", "node-a", 2*time.Hour, logsink.StatusSucceeded, 1),
		rec("report", "node-a", 3*time.Hour, logsink.StatusTimeout, 1),
		rec("cleanup", "node-a", 26*time.Hour, logsink.StatusSucceeded, 1),
	}
}

// historyStore is one database holding the fixture, and the flags that
// point the command at it.
type historyStore struct {
	name  string
	flags []string
}

func TestRunsSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writeSQL(t, db, sqlsink.SQLite, sqlsink.DefaultTable)
	// The sink's default table; the DSN forms the command takes.
	testRuns(t, historyStore{"sqlite:PATH", []string{"--history", "sqlite:" + path}})
	code, out, errOut := cli(t, nil, "runs", "--history", path, "--job", "cleanup")
	if code != 0 || !strings.Contains(out, "cleanup/") {
		t.Errorf("runs --history PATH: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, nil, "runs", "--history", "file:"+path+"?_pragma=busy_timeout(5000)", "--job", "cleanup")
	if code != 0 || !strings.Contains(out, "cleanup/") {
		t.Errorf("runs --history file:PATH?...: exit %d\n%s%s", code, out, errOut)
	}
	// $DISTCRON_HISTORY stands in for --history.
	_, out, _ = cliEnv(t, []string{"DISTCRON_HISTORY=sqlite:" + path}, nil, "runs", "--job", "cleanup", "-o", "json")
	if got := runIDs(t, out); len(got) != 1 || !strings.HasPrefix(got[0], "cleanup/") {
		t.Errorf("runs with $DISTCRON_HISTORY: %v", got)
	}
}

func TestRunsPostgres(t *testing.T) {
	dsn := envDSN(t, envPostgres)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := uniqueTable(t, db, sqlsink.Postgres)
	writeSQL(t, db, sqlsink.Postgres, table)
	testRuns(t, historyStore{"postgres", []string{"--history", dsn, "--table", table}})
}

func TestRunsMySQL(t *testing.T) {
	dsn := envDSN(t, envMySQL)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	table := uniqueTable(t, db, sqlsink.MySQL)
	writeSQL(t, db, sqlsink.MySQL, table)
	// The driver's own form, and the mysql:// URL made of it.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName, User: url.User(cfg.User)}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	}
	testRuns(t, historyStore{"mysql://", []string{"--history", u.String(), "--table", table}})
	code, out, errOut := cli(t, nil, "runs", "--history", dsn, "--table", table, "--job", "cleanup")
	if code != 0 || !strings.Contains(out, "cleanup/") {
		t.Errorf("runs with the driver's DSN: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRunsMongoDB(t *testing.T) {
	dir := t.TempDir()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	uri := f.MongoDBURI() // waits for the listener
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	})
	// The database and collection the command reads by default.
	s, err := mongosink.New(client.Database(defaultMongoDB).Collection(defaultTable))
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := s.Write(wctx, historyFixture(time.Now())); err != nil {
		t.Fatal(err)
	}
	testRuns(t, historyStore{"mongodb", []string{"--history", uri}})
	// A database in the URI's path, another collection.
	other, err := mongosink.New(client.Database("ops").Collection("history"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Write(wctx, historyFixture(time.Now())[:1]); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, nil, "runs", "--history", strings.TrimSuffix(uri, "/")+"/ops", "--table", "history", "-o", "json")
	if code != 0 || len(runIDs(t, out)) != 1 {
		t.Errorf("runs --history mongodb://.../ops --table history: exit %d\n%s%s", code, out, errOut)
	}
}

// testRuns checks the listing, its filters and the single-run view
// against a store holding historyFixture.
func testRuns(t *testing.T, st historyStore) {
	t.Helper()
	runs := func(args ...string) (int, string, string) {
		t.Helper()
		return cli(t, nil, append(append([]string{"runs"}, st.flags...), args...)...)
	}
	// Everything, newest first, as a table.
	code, out, errOut := runs()
	if code != 0 {
		t.Fatalf("%s: runs: exit %d\n%s%s", st.name, code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !regexpMatch(`^ID\s+JOB\s+TICK\s+INSTANCE\s+TRIGGER\s+ATTEMPT\s+STATUS\s+DURATION\s+ERROR$`, lines[0]) {
		t.Fatalf("%s: runs: want a header and 6 rows:\n%s", st.name, out)
	}
	if !regexpMatch(`(?m)^backup/\S+/0/1/node-a\s+backup\s+\S+Z\s+node-a\s+schedule\s+1\s+failed\s+1\.5s\s+exit status 3 …$`, out) {
		t.Errorf("%s: runs: no row for the failed backup run:\n%s", st.name, out)
	}

	ids := func(args ...string) []string {
		t.Helper()
		code, out, errOut := runs(append(args, "-o", "json")...)
		if code != 0 {
			t.Fatalf("%s: runs %v: exit %d\n%s", st.name, args, code, errOut)
		}
		return runIDs(t, out)
	}
	jobsOf := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, id[:strings.IndexByte(id, '/')])
		}
		return out
	}
	all := ids()
	if got := jobsOf(all); !slices.Equal(got, []string{"backup", "backup", "report", "backup", "report", "cleanup"}) {
		t.Errorf("%s: runs, newest first: %v", st.name, all)
	}
	for _, tc := range []struct {
		args []string
		want []string // job names of the rows, in order
	}{
		{[]string{"--job", "report"}, []string{"report", "report"}},
		{[]string{"--status", "failed,timeout"}, []string{"backup", "report"}},
		{[]string{"--status", "succeeded", "--instance", "node-a"}, []string{"backup", "cleanup"}},
		{[]string{"--instance", "node-b"}, []string{"backup", "report"}},
		{[]string{"--since", "1h"}, []string{"backup", "backup", "report"}},
		{[]string{"--since", "25h", "--until", "90m"}, []string{"backup", "report"}},
		{[]string{"--until", time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)}, []string{"cleanup"}},
		{[]string{"--job", "backup", "--since", "1h", "--status", "succeeded"}, []string{"backup"}},
		{[]string{"--job", "nosuchjob"}, nil},
	} {
		if got := jobsOf(ids(tc.args...)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: runs %v: got jobs %v, want %v", st.name, tc.args, got, tc.want)
		}
	}

	// --limit cuts the list and says there is more (on stderr).
	code, out, errOut = runs("--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "more runs match") {
		t.Errorf("%s: runs --limit 2: exit %d\n%s%s", st.name, code, out, errOut)
	}
	if got := ids("--limit", "6"); !slices.Equal(got, all) {
		t.Errorf("%s: runs --limit 6: %v, want %v", st.name, got, all)
	}

	// -o json lists full records, outputs included.
	_, out, _ = runs("--status", "failed", "-o", "json")
	var views []runView
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 1 {
		t.Fatalf("%s: runs --status failed -o json: %v\n%s", st.name, err, out)
	}
	if v := views[0]; v.Output != "copying...\ndisk full\n" || v.ExitCode != 3 || v.Duration != 1500*time.Millisecond || v.Token != 100 {
		t.Errorf("%s: -o json record: %+v", st.name, v)
	}

	// One run, by the ID the list shows: its output tail.
	failedID := views[0].ID
	code, out, errOut = runs(failedID)
	if code != 0 || !regexpMatch(`(?m)^Status:\s+failed$`, out) || !regexpMatch(`(?m)^Exit code:\s+3$`, out) ||
		!strings.Contains(out, "Error:\n  exit status 3\n  second line\n") || !strings.Contains(out, "Output (tail):\n  copying...\n  disk full\n") {
		t.Errorf("%s: runs ID: exit %d\n%s%s", st.name, code, out, errOut)
	}
	reportID := all[2]
	if code, out, _ = runs(reportID); code != 0 || !strings.Contains(out, "1. fetch: succeeded in 1s") || !strings.Contains(out, "fetched 12 rows") {
		t.Errorf("%s: runs ID of a run with steps:\n%s", st.name, out)
	}
	code, out, _ = runs(failedID, "-o", "json")
	var one runView
	if err := json.Unmarshal([]byte(out), &one); code != 0 || err != nil || one.ID != failedID || one.Output == "" {
		t.Errorf("%s: runs ID -o json: exit %d, %v\n%s", st.name, code, err, out)
	}
	// The admin console's opaque id works too.
	rid, err := parseRunID(failedID)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ = runs(logsink.EncodeCursor(rid)); code != 0 || !strings.Contains(out, "ID:        "+failedID) {
		t.Errorf("%s: runs with the console's id: exit %d\n%s", st.name, code, out)
	}
	missing := strings.Replace(failedID, "/1/node-a", "/7/node-a", 1)
	if code, _, errOut = runs(missing); code != 1 || !strings.Contains(errOut, "no run "+missing) {
		t.Errorf("%s: runs of a missing ID: exit %d, %q", st.name, code, errOut)
	}
}

func runIDs(t *testing.T, jsonOut string) []string {
	t.Helper()
	var views []runView
	if err := json.Unmarshal([]byte(jsonOut), &views); err != nil {
		t.Fatalf("not a JSON list of runs: %v\n%s", err, jsonOut)
	}
	var ids []string
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	return ids
}

// Bad command lines exit 2 with a message that says what is wrong; a
// store that cannot be reached exits 1.
func TestRunsBadInput(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "runs.db")
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	writeSQL(t, db, sqlsink.SQLite, sqlsink.DefaultTable)
	h := []string{"--history", dbPath}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"runs"}, 2, "--history DSN (or $DISTCRON_HISTORY) is required"},
		{[]string{"runs", "--history", "redis://127.0.0.1:6379/0"}, 2, `unknown scheme "redis"`},
		{[]string{"runs", "--history", "/no/such/runs.db"}, 2, "/no/such/runs.db: no such file"},
		{[]string{"runs", "--history", t.TempDir()}, 2, "a directory, not an SQLite database"},
		{[]string{"runs", "--history", "sqlite:"}, 2, "no path"},
		{[]string{"runs", "--history", "mysql://root@127.0.0.1:3306"}, 2, "want one database name"},
		{[]string{"runs", "--history", "mysql://root@127.0.0.1:3306/db?nosuchparam=x&timeout=forever"}, 2, "mysql DSN"},
		{[]string{"runs", "--history", "postgres://u:hunter2@127.0.0.1:notaport/db"}, 2, "postgres DSN"},
		{[]string{"runs", "--history", "mongodb://127.0.0.1:27017/db?connectTimeoutMS=abc"}, 2, `invalid value for "connectTimeoutMS"`},
		{[]string{"runs", "--history", "mongodb://127.0.0.1:27017/db", "--table", ""}, 2, "not a MongoDB collection name"},
		{append([]string{"runs", "--status", "broken"}, h...), 2, `--status "broken": want succeeded, failed`},
		{append([]string{"runs", "--since", "yesterday"}, h...), 2, `--since "yesterday": want an RFC 3339 time`},
		{append([]string{"runs", "--since", "1h", "--until", "2h"}, h...), 2, "is not before --until"},
		{append([]string{"runs", "--limit", "0"}, h...), 2, "--limit 0: want 1 to 10000"},
		{append([]string{"runs", "backup"}, h...), 2, "want JOB/TICK/SHARD/ATTEMPT/INSTANCE"},
		{append([]string{"runs", "backup/yesterday/0/1/n0"}, h...), 2, `tick "yesterday"`},
		{append([]string{"runs", "backup/2026-12-07T02:00:00Z/0/1/n0", "--job", "backup"}, h...), 2, "--job: filters are for listing runs"},
		{append([]string{"runs", "a", "b"}, h...), 2, "at most one run ID"},
		{append([]string{"runs", "--table", "bad;name"}, h...), 2, "--table"},
		{append([]string{"runs", "-o", "yaml"}, h...), 2, "want table or json"},
		{append([]string{"runs", "--table", "nosuchtable"}, h...), 1, "nosuchtable"},
		{[]string{"runs", "--history", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"}, 1, "127.0.0.1"},
	} {
		code, out, errOut := cli(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("distcron %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("distcron %v: the password shows in %q", tc.args, errOut)
		}
	}
}

func writeSQL(t *testing.T, db *sql.DB, d sqlsink.Dialect, table string) {
	t.Helper()
	s, err := sqlsink.New(db, d, sqlsink.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Write(ctx, historyFixture(time.Now())); err != nil {
		t.Fatal(err)
	}
}

// uniqueTable returns a table name no other test run uses, dropped at
// cleanup.
func uniqueTable(t *testing.T, db *sql.DB, d sqlsink.Dialect) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "distcron_cli_" + hex.EncodeToString(b)
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

// A --limit above logsink.MaxQueryLimit reads page after page.
func TestRunsLimitAcrossPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlsink.New(db, sqlsink.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []logsink.Record
	for i := range logsink.MaxQueryLimit + 100 {
		tick := base.Add(time.Duration(i) * time.Minute)
		recs = append(recs, logsink.Record{Job: "tick", Tick: tick, Instance: "n0", Trigger: logsink.TriggerSchedule, Attempt: 1,
			Started: tick, Finished: tick, Status: logsink.StatusSucceeded})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	check := func(limit string, want int, more bool) {
		t.Helper()
		code, out, errOut := cli(t, nil, "runs", "--history", path, "--limit", limit, "-o", "json")
		ids := runIDs(t, out)
		if code != 0 || len(ids) != want || strings.Contains(errOut, "more runs match") != more {
			t.Fatalf("runs --limit %s: exit %d, %d runs, stderr %q; want %d runs, more=%v", limit, code, len(ids), errOut, want, more)
		}
		for i, id := range ids {
			if wantID := formatRunID(recs[len(recs)-1-i].ID()); id != wantID {
				t.Fatalf("runs --limit %s: run %d is %s, want %s (newest first, no gaps)", limit, i, id, wantID)
			}
		}
	}
	check("1050", 1050, true)
	check("1100", 1100, false)
	check("10000", 1100, false)
}
