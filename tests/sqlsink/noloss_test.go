package sqlsink_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// outage is what the no-loss test does to the database connection.
type outage struct {
	db      *sql.DB // the sink's connections, through the fault
	verify  *sql.DB // a direct connection, to count what was stored
	table   string
	begin   func() // start the outage
	end     func() // end it
	armed   func() // make the next commit's reply get lost (nil: not possible)
	summary func() string
}

// TestNoLossThroughOutage streams run records through a logsink.Delivery
// into the sink, breaks the database connection in the middle of the
// stream, restores it, and checks that every record sent before, during
// and after the outage is stored exactly once, in order per job.
//
// PostgreSQL and MySQL are reached through a TCP proxy that first drops
// the reply to one COMMIT (the server committed, the client cannot know:
// the batch is retried) and then cuts every connection (RST) and refuses
// new ones for a second. SQLite is made unavailable by another connection
// holding an exclusive lock for a second.
func TestNoLossThroughOutage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := setUpOutage(t, b)
		s, err := sqlsink.New(o.db, b.dialect, sqlsink.WithTable(o.table))
		if err != nil {
			t.Fatal(err)
		}
		p, err := logsink.NewDelivery(s,
			logsink.WithBatchSize(50),
			logsink.WithFlushInterval(10*time.Millisecond),
			logsink.WithBackoff(20*time.Millisecond, 250*time.Millisecond),
			logsink.WithWriteTimeout(2*time.Second),
			logsink.WithLogger(zaptest.NewLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		p.Start()

		const jobs, perTick = 10, 10
		sent := 0
		send := func() {
			for range perTick {
				p.Send(noLossRec(sent, jobs))
				sent++
			}
		}
		var maxBuffered int64
		phase := func(name string, d time.Duration) int {
			from := sent
			end := time.Now().Add(d)
			for time.Now().Before(end) {
				send()
				maxBuffered = max(maxBuffered, p.Stats().Buffered)
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%-8s %4d records sent", name, sent-from)
			return sent - from
		}
		phase("before", 700*time.Millisecond)
		if o.armed != nil {
			o.armed()
			phase("lost ack", 300*time.Millisecond)
			// The pipeline waits for the dropped reply (until its write
			// timeout or the cut); the server has committed that batch.
			stored := countRows(t, o.verify, b.dialect, o.table)
			written := p.Stats().Written
			t.Logf("committed but not acknowledged: %d records", stored-int64(written))
			if stored <= int64(written) {
				t.Errorf("stored %d, written %d: no committed batch awaits its reply", stored, written)
			}
		}
		o.begin()
		phase("outage", time.Second)
		o.end()
		phase("after", 700*time.Millisecond)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		st := p.Stats()
		t.Logf("sent %d, written %d, dropped %d, failed writes %d, most buffered %d; %s",
			sent, st.Written, st.Dropped, st.Failures, maxBuffered, o.summary())
		if st.Dropped != 0 || st.Written != uint64(sent) {
			t.Errorf("pipeline: %+v, want all %d written and none dropped", st, sent)
		}
		if st.Failures == 0 {
			t.Errorf("no write failed: the outage was not exercised")
		}
		checkStoredOnce(t, o.verify, b.dialect, o.table, sent, jobs)
	})
}

func noLossRec(seq, jobs int) logsink.Record {
	tick := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond)
	return logsink.Record{
		Job:      fmt.Sprintf("job-%d", seq%jobs),
		Tick:     tick,
		Instance: "node-1",
		Trigger:  logsink.TriggerSchedule,
		Attempt:  1,
		Token:    int64(seq),
		Started:  tick,
		Finished: tick.Add(time.Millisecond),
		Duration: time.Millisecond,
		Status:   logsink.StatusSucceeded,
		Output:   fmt.Sprintf("run %d\n", seq),
	}
}

// checkStoredOnce checks that the table holds tokens 0..sent-1 once each,
// each job's in increasing insertion order.
func checkStoredOnce(t *testing.T, db *sql.DB, d sqlsink.Dialect, table string, sent, jobs int) {
	t.Helper()
	q := `SELECT job, token FROM "` + table + `" ORDER BY id`
	if d == sqlsink.MySQL {
		q = "SELECT job, token FROM `" + table + "` ORDER BY id"
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := make([]int, sent)
	last := map[string]int64{}
	n, outOfOrder := 0, 0
	for rows.Next() {
		var job string
		var token int64
		if err := rows.Scan(&job, &token); err != nil {
			t.Fatal(err)
		}
		n++
		if token < 0 || token >= int64(sent) {
			t.Fatalf("unexpected token %d", token)
		}
		seen[token]++
		if prev, ok := last[job]; ok && token < prev {
			outOfOrder++
		}
		last[job] = token
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing, dup := 0, 0
	for _, c := range seen {
		switch {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	t.Logf("stored %d rows: %d missing, %d duplicated, %d out of order per job", n, missing, dup, outOfOrder)
	if n != sent || missing != 0 || dup != 0 || outOfOrder != 0 {
		t.Errorf("stored %d rows for %d records sent: %d missing, %d duplicated, %d out of order", n, sent, missing, dup, outOfOrder)
	}
}

func setUpOutage(t *testing.T, b backend) *outage {
	verify := b.open(t)
	o := &outage{verify: verify, table: tableName(t, verify, b.dialect)}
	if b.openVia != nil {
		px := sinktest.NewProxy(t, b.target(t))
		o.db = b.openVia(t, px.Addr())
		o.begin, o.end = px.Cut, px.Restore
		o.armed = func() {
			px.MuteReplies(func(chunk []byte) bool { return bytes.Contains(bytes.ToLower(chunk), []byte("commit")) })
		}
		o.summary = func() string {
			return fmt.Sprintf("commits whose reply was dropped: %d", px.Muted())
		}
		return o
	}
	// SQLite: a short busy timeout, so that writes fail while another
	// connection holds the lock.
	o.db = openDB(t, "sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(50)&_pragma=journal_mode(WAL)&_txlock=immediate")
	locker := openDB(t, "sqlite", sqliteDSN(sqlitePath))
	var conn *sql.Conn
	o.begin = func() {
		var err error
		if conn, err = locker.Conn(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
	}
	o.end = func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	o.summary = func() string { return "database locked for 1s" }
	return o
}

func countRows(t *testing.T, db *sql.DB, d sqlsink.Dialect, table string) int64 {
	t.Helper()
	q := `SELECT COUNT(*) FROM "` + table + `"`
	if d == sqlsink.MySQL {
		q = "SELECT COUNT(*) FROM `" + table + "`"
	}
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
