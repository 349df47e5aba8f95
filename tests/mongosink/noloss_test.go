package mongosink_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sinktest"
)

// TestNoLossThroughOutage streams run records through a logsink.Delivery
// into the sink, takes the server away in the middle of the stream, brings
// it back, and checks that every record sent before, during and after the
// outage is stored exactly once, in order per job.
//
// The sink reaches the server through a TCP proxy, which first drops the
// reply to one insert (the server stored the batch, the client cannot
// know: the batch is retried). Then, with the embedded FerretDB, the
// server itself is stopped and restarted on the same port with the same
// data; with DISTCRON_MONGODB_URI the proxy cuts every connection and
// refuses new ones instead.
func TestNoLossThroughOutage(t *testing.T) {
	var target, verifyURI string
	var down, up func()
	if u := os.Getenv(envMongo); u != "" {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		target, verifyURI = pu.Host, u
	} else {
		dir := t.TempDir()
		f, err := startFerret(dir, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.stop() }) // the latest one
		target, verifyURI = f.addr, f.uri()
		down = f.stop
		up = func() {
			if f, err = startFerret(dir, target); err != nil {
				t.Fatalf("restart FerretDB: %v", err)
			}
		}
	}
	px := sinktest.NewProxy(t, target)
	if down == nil {
		down, up = px.Cut, px.Restore
	}

	c, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://" + px.Addr() + "/?directConnection=true").
		SetServerSelectionTimeout(time.Second).
		SetConnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	verify, err := connect(verifyURI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { verify.Disconnect(context.Background()) })
	coll := collection(t, verify)
	s, err := mongosink.New(c.Database(testDB).Collection(coll.Name()))
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

	const jobs = 10
	sent := 0
	var maxBuffered int64
	phase := func(name string, d time.Duration) {
		from := sent
		for end := time.Now().Add(d); time.Now().Before(end); {
			for range 10 {
				p.Send(noLossRec(sent, jobs))
				sent++
			}
			maxBuffered = max(maxBuffered, p.Stats().Buffered)
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%-8s %4d records sent", name, sent-from)
	}
	ctx := context.Background()
	phase("before", 700*time.Millisecond)

	px.MuteReplies(func(chunk []byte) bool { return bytes.Contains(chunk, []byte("insert\x00")) })
	phase("lost ack", 300*time.Millisecond)
	stored, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	written := p.Stats().Written
	t.Logf("inserted but not acknowledged: %d records", stored-int64(written))
	if px.Muted() != 1 || stored <= int64(written) {
		t.Errorf("muted %d connections; stored %d, written %d: no stored batch awaits its reply", px.Muted(), stored, written)
	}

	down()
	phase("outage", time.Second)
	up()
	phase("after", 700*time.Millisecond)

	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st := p.Stats()
	t.Logf("sent %d, written %d, dropped %d, failed writes %d, most buffered %d, proxy connections %d",
		sent, st.Written, st.Dropped, st.Failures, maxBuffered, px.Accepted())
	if st.Dropped != 0 || st.Written != uint64(sent) {
		t.Errorf("pipeline: %+v, want all %d written and none dropped", st, sent)
	}
	if st.Failures == 0 {
		t.Errorf("no write failed: the outage was not exercised")
	}

	// Every token once, each job's in insertion order (_id is an
	// ObjectID made by the driver at insert time, increasing).
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetProjection(bson.D{{Key: "job", Value: 1}, {Key: "token", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Job   string `bson:"job"`
		Token int64  `bson:"token"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	seen := make([]int, sent)
	last := map[string]int64{}
	outOfOrder := 0
	for _, d := range docs {
		if d.Token < 0 || d.Token >= int64(sent) {
			t.Fatalf("unexpected token %d", d.Token)
		}
		seen[d.Token]++
		if prev, ok := last[d.Job]; ok && d.Token < prev {
			outOfOrder++
		}
		last[d.Job] = d.Token
	}
	missing, dup := 0, 0
	for _, n := range seen {
		if n == 0 {
			missing++
		} else if n > 1 {
			dup++
		}
	}
	t.Logf("stored %d documents: %d missing, %d duplicated, %d out of order per job", len(docs), missing, dup, outOfOrder)
	if len(docs) != sent || missing != 0 || dup != 0 || outOfOrder != 0 {
		t.Errorf("stored %d documents for %d records sent: %d missing, %d duplicated, %d out of order", len(docs), sent, missing, dup, outOfOrder)
	}
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
