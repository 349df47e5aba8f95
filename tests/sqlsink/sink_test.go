package sqlsink_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
	"github.com/distcron/distcron/logsink/sqlsink"
)

func TestNewValidates(t *testing.T) {
	db := openSQLite(t)
	for _, tc := range []struct {
		name string
		db   *sql.DB
		d    sqlsink.Dialect
		opts []sqlsink.Option
	}{
		{"nil db", nil, sqlsink.SQLite, nil},
		{"unknown dialect", db, "oracle", nil},
		{"empty dialect", db, "", nil},
		{"empty table", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable("")}},
		{"injection", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable("runs; DROP TABLE x")}},
		{"quote", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable(`ru"ns`)}},
		{"leading digit", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable("1runs")}},
		{"too long", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable(strings.Repeat("r", 41))}},
		{"two dots", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithTable("a.b.c")}},
		{"negative retention", db, sqlsink.SQLite, []sqlsink.Option{sqlsink.WithRetention(-time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sqlsink.New(tc.db, tc.d, tc.opts...); !errors.Is(err, sqlsink.ErrInvalidOption) {
				t.Fatalf("New: %v, want an error wrapping ErrInvalidOption", err)
			}
		})
	}
	s, err := sqlsink.New(db, sqlsink.SQLite, sqlsink.WithTable("main.runs_2"), sqlsink.WithLogger(nil))
	if err != nil || s.Table() != "main.runs_2" {
		t.Fatalf("New with a qualified name: %v, %v", s, err)
	}
}

// New does no I/O: it succeeds while the database is unreachable, and the
// first Write fails (to be retried) instead.
func TestNewWhileDatabaseDown(t *testing.T) {
	db, err := sql.Open("sqlite", "file:/nonexistent-dir/x.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlsink.New(db, sqlsink.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), sinktest.Recs("down", 0, 1)); err == nil {
		t.Fatal("Write to an unreachable database succeeded")
	}
}

// Several instances starting at once all create the table without error,
// and then write to it concurrently.
func TestCreateTableConcurrently(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		first := b.open(t)
		table := tableName(t, first, b.dialect)
		const n = 8
		sinks := make([]*sqlsink.Sink, n)
		for i := range sinks {
			s, err := sqlsink.New(b.open(t), b.dialect, sqlsink.WithTable(table))
			if err != nil {
				t.Fatal(err)
			}
			sinks[i] = s
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i, s := range sinks {
			wg.Go(func() {
				<-start
				if errs[i] = s.CreateTable(ctx); errs[i] != nil {
					return
				}
				errs[i] = s.Write(ctx, sinktest.Recs(fmt.Sprintf("instance-%d", i), 0, 50))
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
		// Again, on the existing table: still idempotent.
		for i, s := range sinks[:2] {
			if err := s.CreateTable(ctx); err != nil {
				t.Errorf("CreateTable again (%d): %v", i, err)
			}
		}
		got := sinktest.All(t, sinks[0], logsink.Query{OmitOutput: true})
		if len(got) != n*50 {
			t.Fatalf("%d records, want %d", len(got), n*50)
		}
	})
}

func TestWithCreateTableFalse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := newSink(t, b, sqlsink.WithCreateTable(false))
		ctx := context.Background()
		if err := s.Write(ctx, sinktest.Recs("manual", 0, 3)); err == nil {
			t.Fatal("Write without the table succeeded")
		}
		if err := s.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, sinktest.Recs("manual", 0, 3)); err != nil {
			t.Fatal(err)
		}
		if got := sinktest.All(t, s, logsink.Query{}); len(got) != 3 {
			t.Fatalf("%d records, want 3", len(got))
		}
	})
}

// Values no column can hold are stored cut or as NULL, never refused.
func TestUnstorableValues(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := newSink(t, b)
		ctx := context.Background()
		long := strings.Repeat("j", 300)
		far := time.Date(3000, 1, 2, 3, 4, 5, 6000, time.UTC) // beyond int64 nanoseconds
		recs := []logsink.Record{
			{Job: "zero-times", Instance: "i", Attempt: 1, Status: logsink.StatusLost},
			{Job: "far-tick", Tick: far, Instance: "i", Attempt: 1, Started: far, Finished: far, Status: logsink.StatusSucceeded},
			{Job: "ancient", Tick: sinktest.Rec("x", 0).Tick, Instance: "i", Attempt: 1,
				Started: time.Date(500, 1, 1, 0, 0, 0, 0, time.UTC), Status: logsink.StatusSucceeded},
			{Job: long, Tick: sinktest.Rec("x", 0).Tick, Instance: long + "é", Attempt: 1,
				Status: logsink.Status(strings.Repeat("s", 40)), Trigger: logsink.Trigger(strings.Repeat("t", 40))},
			{Job: "huge", Tick: sinktest.Rec("x", 1).Tick, Instance: "i", Attempt: 1, Status: logsink.StatusFailed,
				Output: strings.Repeat("o", sqlsink.MaxTextBytes) + "THE END", Error: "THE START" + strings.Repeat("e", sqlsink.MaxTextBytes)},
		}
		if err := s.Write(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, recs); err != nil { // and idempotently
			t.Fatal(err)
		}
		if got := sinktest.All(t, s, logsink.Query{OmitOutput: true}); len(got) != len(recs) {
			t.Fatalf("%d records, want %d", len(got), len(recs))
		}
		get := func(id logsink.RecordID) logsink.Record {
			t.Helper()
			r, err := s.Get(ctx, id)
			if err != nil {
				t.Fatalf("Get(%.40q): %v", id.Job, err)
			}
			return r
		}
		if r := get(recs[0].ID()); !r.Tick.IsZero() || !r.Started.IsZero() || !r.Finished.IsZero() {
			t.Errorf("zero times read back as %v, %v, %v", r.Tick, r.Started, r.Finished)
		}
		if r := get(recs[1].ID()); !r.Tick.Equal(far) || !r.Started.Equal(far) {
			t.Errorf("year-3000 times read back as %v, %v", r.Tick, r.Started)
		}
		if r := get(recs[2].ID()); !r.Started.IsZero() {
			t.Errorf("year-500 Started read back as %v, want the zero time (NULL)", r.Started)
		}
		r := get(recs[3].ID()) // found by the uncut identity
		if len(r.Job) != sqlsink.MaxNameLen || len([]rune(r.Instance)) != sqlsink.MaxNameLen ||
			len(r.Status) != sqlsink.MaxWordLen || len(r.Trigger) != sqlsink.MaxWordLen {
			t.Errorf("cut lengths: job %d, instance %d runes, status %d, trigger %d", len(r.Job), len([]rune(r.Instance)), len(r.Status), len(r.Trigger))
		}
		r = get(recs[4].ID())
		// Beyond logsink.MaxRecordBytes, the record is clipped as a Pipeline
		// would: the output's tail and the error's head are kept.
		if want, _ := recs[4].Clip(); r.Output != want.Output || r.Error != want.Error ||
			!strings.HasSuffix(r.Output, "THE END") || !strings.HasPrefix(r.Error, "THE START") {
			t.Errorf("output and error of %d and %d bytes stored as %d and %d, want the clipped %d and %d",
				len(recs[4].Output), len(recs[4].Error), len(r.Output), len(r.Error), len(want.Output), len(want.Error))
		}
	})
}

// Times read back the same whatever the session time zone or, for MySQL,
// the driver's parseTime and loc settings.
func TestTimeZones(t *testing.T) {
	rec := sinktest.Rec("tz", 7)
	rec.Tick = rec.Tick.Add(321 * time.Nanosecond)
	check := func(t *testing.T, s *sqlsink.Sink) {
		t.Helper()
		got, err := s.Get(context.Background(), rec.ID())
		if err != nil {
			t.Fatal(err)
		}
		sinktest.CheckRecord(t, got, rec)
		if d := rec.Started.Sub(got.Started); d < 0 || d >= time.Microsecond { // truncated to µs
			t.Errorf("Started %v, want %v to the microsecond", got.Started, rec.Started)
		}
	}
	t.Run("mysql", func(t *testing.T) {
		dsn := envDSN(t, envMySQL)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		w := openDB(t, "mysql", dsn+sep+"parseTime=true&loc=Asia%2FTokyo&time_zone=%27%2B09%3A00%27")
		table := tableName(t, w, sqlsink.MySQL)
		s, err := sqlsink.New(w, sqlsink.MySQL, sqlsink.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), []logsink.Record{rec}); err != nil {
			t.Fatal(err)
		}
		for _, params := range []string{"", "parseTime=true", "parseTime=true&loc=America%2FNew_York", "parseTime=true&loc=Local"} {
			t.Run(params, func(t *testing.T) {
				s, err := sqlsink.New(openDB(t, "mysql", dsn+sep+params), sqlsink.MySQL, sqlsink.WithTable(table))
				if err != nil {
					t.Fatal(err)
				}
				check(t, s)
			})
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := envDSN(t, envPostgres)
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		w := openDB(t, "pgx", dsn+sep+"timezone=Asia/Tokyo")
		table := tableName(t, w, sqlsink.Postgres)
		s, err := sqlsink.New(w, sqlsink.Postgres, sqlsink.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), []logsink.Record{rec}); err != nil {
			t.Fatal(err)
		}
		for _, tz := range []string{"UTC", "America/New_York"} {
			t.Run(tz, func(t *testing.T) {
				s, err := sqlsink.New(openDB(t, "pgx", dsn+sep+"timezone="+tz), sqlsink.Postgres, sqlsink.WithTable(table))
				if err != nil {
					t.Fatal(err)
				}
				check(t, s)
			})
		}
	})
}

// The timestamp columns hold UTC values a person can query with SQL.
func TestHumanReadableColumns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, db := newSink(t, b)
		rec := sinktest.Rec("human", 0)
		if err := s.Write(context.Background(), []logsink.Record{rec}); err != nil {
			t.Fatal(err)
		}
		var q string
		switch b.dialect {
		case sqlsink.Postgres:
			q = `SELECT to_char(tick AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), duration_ns, triggered_by FROM "` + s.Table() + `"`
		case sqlsink.MySQL:
			q = "SELECT DATE_FORMAT(tick, '%Y-%m-%d %H:%i:%s.%f'), duration_ns, triggered_by FROM `" + s.Table() + "`"
		default:
			q = `SELECT strftime('%Y-%m-%d %H:%M:%f', tick), duration_ns, triggered_by FROM "` + s.Table() + `"`
		}
		var tick, trig string
		var dur int64
		if err := db.QueryRow(q).Scan(&tick, &dur, &trig); err != nil {
			t.Fatal(err)
		}
		if want := rec.Tick.Format("2006-01-02 15:04:05.000"); !strings.HasPrefix(tick, want) {
			t.Errorf("tick column reads %q, want %q...", tick, want)
		}
		if dur != int64(rec.Duration) || trig != string(rec.Trigger) {
			t.Errorf("duration_ns %d, triggered_by %q; want %d, %q", dur, trig, rec.Duration, rec.Trigger)
		}
	})
}

func TestRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := newSink(t, b, sqlsink.WithRetention(24*time.Hour))
		ctx := context.Background()
		now := time.Now().UTC()
		var old, fresh []logsink.Record
		for i := range 30 {
			r := sinktest.Rec("retention", i)
			r.Tick = now.Add(-48*time.Hour - time.Duration(i)*time.Minute)
			old = append(old, r)
			r = sinktest.Rec("retention", 100+i)
			r.Tick = now.Add(-time.Duration(i) * time.Minute)
			fresh = append(fresh, r)
		}
		// The first write prunes: the old records go at once.
		if err := s.Write(ctx, append(old, fresh...)); err != nil {
			t.Fatal(err)
		}
		got := sinktest.All(t, s, logsink.Query{})
		if len(got) != len(fresh) {
			t.Fatalf("after a write with retention: %d records, want the %d fresh ones", len(got), len(fresh))
		}
		// Prune on demand.
		n, err := s.Prune(ctx, now.Add(-10*time.Minute).Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Fatalf("Prune deleted %d records, want 20", n)
		}
		if got := sinktest.All(t, s, logsink.Query{}); len(got) != 10 {
			t.Fatalf("after Prune: %d records, want 10", len(got))
		}
	})
}

// Prune deletes in chunks: more rows than one chunk all go.
func TestPruneMany(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := newSink(t, b)
		ctx := context.Background()
		const n = 12000
		for i := 0; i < n; i += 1000 {
			batch := sinktest.Recs("prune", i, i+1000)
			for j := range batch {
				batch[j].Output, batch[j].Error = "", ""
			}
			if err := s.Write(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		deleted, err := s.Prune(ctx, sinktest.Rec("prune", n-1).Tick)
		if err != nil || deleted != n-1 {
			t.Fatalf("Prune: %d, %v; want %d deleted", deleted, err, n-1)
		}
	})
}

// Writers whose batches overlap, as when several pipelines retry: every
// record is stored once and none is skipped. (MariaDB once lost whole
// statements this way with ON DUPLICATE KEY UPDATE id = id.)
func TestConcurrentOverlappingBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const writers, batches, size, rounds = 8, 10, 25, 3
		for round := range rounds {
			s, _ := newSink(t, b)
			ctx := context.Background()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range batches {
						if err := s.Write(ctx, sinktest.Recs(fmt.Sprintf("w%d", w), i*size, (i+1)*size)); err != nil {
							t.Error(err)
						}
						if err := s.Write(ctx, sinktest.Recs(fmt.Sprintf("w%d", (w+1)%writers), i*size, i*size+5)); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if got := sinktest.All(t, s, logsink.Query{OmitOutput: true}); len(got) != writers*batches*size {
				t.Fatalf("round %d: %d records stored, want %d", round, len(got), writers*batches*size)
			}
		}
	})
}
