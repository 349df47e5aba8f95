package sqlsink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// A record the database refuses for good (here because of a CHECK
// constraint added to the table on PostgreSQL, a trigger elsewhere: MySQL's
// INSERT IGNORE would skip a CHECK failure silently) does not stall a
// pipeline: on PostgreSQL and SQLite the sink says the error is permanent,
// on MySQL the pipeline finds out by itself, and either way that record is
// dropped and every other one is stored.
func TestPoisonRecord(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, db := newSink(t, b)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
		tbl := s.Table()
		ddl := map[sqlsink.Dialect]string{
			sqlsink.Postgres: `ALTER TABLE "` + tbl + `" ADD CONSTRAINT "` + tbl + `_short" CHECK (length(output) < 1000)`,
			sqlsink.MySQL: "CREATE TRIGGER `" + tbl + "_short` BEFORE INSERT ON `" + tbl + "` FOR EACH ROW " +
				"IF CHAR_LENGTH(NEW.output) >= 1000 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'output too long'; END IF",
			sqlsink.SQLite: `CREATE TRIGGER "` + tbl + `_short" BEFORE INSERT ON "` + tbl + `" WHEN length(NEW.output) >= 1000
				BEGIN SELECT RAISE(ABORT, 'output too long'); END`,
		}[b.dialect]
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			t.Fatal(err)
		}
		recs := sinktest.Recs("poison", 0, 30)
		recs[7].Output = strings.Repeat("x", 2000)

		err := s.Write(ctx, recs[:10])
		if err == nil {
			t.Fatal("Write of a batch with a refused record succeeded")
		}
		if permanent := errors.Is(err, logsink.ErrPermanent); permanent != (b.dialect != sqlsink.MySQL) {
			t.Errorf("Write error %v: wraps logsink.ErrPermanent %v, want %v", err, permanent, !permanent)
		}

		p, err := logsink.NewDelivery(s, logsink.WithBatchSize(8), logsink.WithFlushInterval(time.Millisecond),
			logsink.WithBackoff(time.Millisecond, 10*time.Millisecond), logsink.WithLogger(zaptest.NewLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		p.Start()
		for _, r := range recs {
			p.Send(r)
		}
		if err := p.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v (the pipeline stalled on the refused record)", err)
		}
		if st := p.Stats(); st.Written != 29 || st.Dropped != 1 || st.Rejected != 1 {
			t.Errorf("Stats = %+v, want Written 29, Dropped = Rejected = 1", st)
		}
		got := sinktest.All(t, s, logsink.Query{Job: "poison"})
		if len(got) != 29 {
			t.Errorf("stored %d records, want 29", len(got))
		}
		if _, err := s.Get(ctx, recs[7].ID()); !errors.Is(err, logsink.ErrNotFound) {
			t.Errorf("Get(refused record) = %v, want ErrNotFound", err)
		}
	})
}
