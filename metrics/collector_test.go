package metrics_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/metrics"
)

const (
	runsTotal     = "distcron_runs_total"
	duration      = "distcron_run_duration_seconds"
	lateness      = "distcron_fire_lateness_seconds"
	runsStarted   = "distcron_runs_started_total"
	claimsWon     = "distcron_claims_won_total"
	claimsLost    = "distcron_claims_lost_total"
	claimErrors   = "distcron_claim_errors_total"
	misfired      = "distcron_misfired_ticks_total"
	leftToPeers   = "distcron_ticks_left_to_peers_total"
	inFlight      = "distcron_runs_in_flight"
	claimLead     = "distcron_claim_lead_seconds"
	clockOffset   = "distcron_clock_offset_seconds"
	clockCorrect  = "distcron_clock_correction_seconds"
	isLeader      = "distcron_is_leader"
	liveInstances = "distcron_live_instances"
	sinkBuffered  = "distcron_sink_buffered_records"
	sinkWritten   = "distcron_sink_written_records_total"
	sinkDropped   = "distcron_sink_dropped_records_total"
	sinkFailures  = "distcron_sink_write_failures_total"
	scrapeErrors  = "distcron_scrape_errors_total"
)

// schedulerSeries are exported only while a Scheduler is attached.
var schedulerSeries = []string{
	runsStarted, claimsWon, claimsLost, claimErrors, misfired, leftToPeers,
	inFlight, claimLead, clockOffset, clockCorrect, isLeader, liveInstances, sinkBuffered, sinkWritten, sinkDropped, sinkFailures,
}

func TestRecordsBecomeSeries(t *testing.T) {
	c := metrics.New()
	ep := serve(t, c)

	empty := ep.scrape()
	if got, want := empty.names(), []string{lateness, scrapeErrors}; !slices.Equal(got, want) {
		t.Fatalf("before any record and without a scheduler: families %v, want %v", got, want)
	}

	tick := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	rec := func(job string, st logsink.Status, tr logsink.Trigger, late, dur time.Duration) logsink.Record {
		return logsink.Record{Job: job, Tick: tick, Trigger: tr, Attempt: 1, Status: st,
			Started: tick.Add(late), Finished: tick.Add(late + dur), Duration: dur}
	}
	batch := []logsink.Record{
		rec("fast", logsink.StatusSucceeded, logsink.TriggerSchedule, 3*time.Millisecond, 20*time.Millisecond),
		rec("fast", logsink.StatusSucceeded, logsink.TriggerSchedule, 3*time.Millisecond, 20*time.Millisecond),
		rec("fast", logsink.StatusFailed, logsink.TriggerSchedule, 0, 1500*time.Millisecond),
		rec("fast", logsink.StatusSucceeded, logsink.TriggerManual, 10*time.Second, 100*time.Millisecond), // no lateness
		rec("fast", logsink.StatusSkipped, logsink.TriggerSchedule, 6*time.Second, 0),                     // counted only
		rec("gone", logsink.StatusLost, logsink.TriggerSchedule, -time.Second, 30*time.Second),            // counted only
		rec("slow", logsink.StatusTimeout, logsink.TriggerSchedule, -time.Millisecond, time.Hour),         // early: lateness 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Write neither blocks nor looks at ctx
	if err := c.Write(ctx, batch[:4]); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, batch[4:]); err != nil {
		t.Fatal(err)
	}

	s := ep.scrape()
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"job=fast", "status=succeeded", "trigger=schedule"}, 2},
		{[]string{"job=fast", "status=failed", "trigger=schedule"}, 1},
		{[]string{"job=fast", "status=succeeded", "trigger=manual"}, 1},
		{[]string{"job=fast", "status=skipped", "trigger=schedule"}, 1},
		{[]string{"job=gone", "status=lost", "trigger=schedule"}, 1},
		{[]string{"job=slow", "status=timeout", "trigger=schedule"}, 1},
	} {
		if got := s.value(runsTotal, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", runsTotal, tc.labels, got, tc.want)
		}
	}
	if got := s.sum(runsTotal); got != float64(len(batch)) {
		t.Errorf("sum of %s = %v, want %d", runsTotal, got, len(batch))
	}

	// Durations: the skipped and lost records are not observed.
	if got := s.value(duration, "job=fast"); got != 4 {
		t.Errorf("%s{job=fast} has %v observations, want 4", duration, got)
	}
	if s.has(duration, "job=gone") {
		t.Errorf("%s{job=gone}: a lost run was observed", duration)
	}
	if got := s.bucket(t, duration, 0.025, "job=fast"); got != 2 {
		t.Errorf("%s{job=fast} le=0.025 = %d, want 2", duration, got)
	}
	if got := s.bucket(t, duration, 2.5, "job=fast"); got != 4 {
		t.Errorf("%s{job=fast} le=2.5 = %d, want 4", duration, got)
	}
	if got := s.bucket(t, duration, 1800, "job=slow"); got != 0 {
		t.Errorf("%s{job=slow} le=1800 = %d, want 0", duration, got)
	}

	// Lateness: scheduled runs that executed; the early start counts as 0.
	if got := s.value(lateness); got != 4 {
		t.Errorf("%s has %v observations, want 4", lateness, got)
	}
	if got := s.bucket(t, lateness, 0.0001); got != 2 {
		t.Errorf("%s le=0.0001 = %d, want 2 (on time, and early)", lateness, got)
	}
	if got := s.bucket(t, lateness, 0.005); got != 4 {
		t.Errorf("%s le=0.005 = %d, want 4", lateness, got)
	}

	// Nothing is attached: no scheduler series, no etcd read.
	for _, name := range schedulerSeries {
		if s.has(name) {
			t.Errorf("%s exported without an attached scheduler", name)
		}
	}
	if got := s.value(scrapeErrors); got != 0 {
		t.Errorf("%s = %v, want 0", scrapeErrors, got)
	}
}

func TestOptions(t *testing.T) {
	c := metrics.New(metrics.WithLatenessBuckets(0.5, 1), metrics.WithDurationBuckets(60))
	tick := time.Now()
	_ = c.Write(context.Background(), []logsink.Record{{Job: "j", Tick: tick, Started: tick.Add(time.Second),
		Duration: time.Minute, Status: logsink.StatusSucceeded, Trigger: logsink.TriggerSchedule}})
	s := serve(t, c).scrape()
	if got := s.bucket(t, lateness, 1); got != 1 {
		t.Errorf("custom lateness bucket le=1 = %d, want 1", got)
	}
	if got := s.bucket(t, duration, 60, "job=j"); got != 1 {
		t.Errorf("custom duration bucket le=60 = %d, want 1", got)
	}

	for name, opt := range map[string]metrics.Option{
		"no duration buckets":     metrics.WithDurationBuckets(),
		"unsorted duration":       metrics.WithDurationBuckets(1, 0.5),
		"repeated lateness":       metrics.WithLatenessBuckets(0.1, 0.1),
		"zero instances timeout":  metrics.WithInstancesTimeout(0),
		"negative instances wait": metrics.WithInstancesTimeout(-time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New accepted an invalid option")
				}
			}()
			metrics.New(opt)
		})
	}
}

// TestScrapeFollowsARealScheduler scrapes a collector wired as the package
// documentation says, on one instance over a real etcd, while a succeeding
// and a failing job run every 100ms.
func TestScrapeFollowsARealScheduler(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcdtest.Client(t, etcd)
	c := metrics.New()
	var other logsink.Discard
	s := newScheduler(t, cli, "m1", c, &other)
	c.Attach(s)
	registerJobs(t, s)
	ep := serve(t, c)

	// Attached but not started: counters at zero, nobody registered yet.
	before := ep.scrape()
	for _, name := range schedulerSeries {
		if !before.has(name) {
			t.Errorf("%s missing once a scheduler is attached", name)
		}
	}
	if v := before.value(liveInstances); v != 0 {
		t.Errorf("%s before Start = %v, want 0", liveInstances, v)
	}
	if before.has(runsTotal) {
		t.Errorf("%s before any run", runsTotal)
	}
	if !before.has(sinkWritten, "sink=0") || !before.has(sinkWritten, "sink=1") || before.has(sinkWritten, "sink=2") {
		t.Errorf("want sink series for sinks 0 and 1 only:\n%s", before.text)
	}

	start(t, s)
	first := ep.waitScrape(15*time.Second, "both jobs to run three times, leadership, registration", func(sc scrape) bool {
		return sc.value(runsTotal, "job=fast", "status=succeeded", "trigger=schedule") >= 3 &&
			sc.value(runsTotal, "job=failing", "status=failed", "trigger=schedule") >= 3 &&
			sc.value(isLeader) == 1 && sc.value(liveInstances) == 1 &&
			// The pipelines count a batch as written after Write returns,
			// so these may trail runs_total by a batch.
			sc.value(sinkWritten, "sink=0") > 0 && sc.value(sinkWritten, "sink=1") > 0
	})
	for _, check := range []struct {
		what string
		ok   bool
	}{
		{"claims won", first.value(claimsWon) >= 6},
		{"runs started", first.value(runsStarted) >= 6},
		{"no claims lost on a single instance", first.value(claimsLost) == 0},
		{"fast durations observed", first.value(duration, "job=fast") >= 3},
		{"failing durations observed", first.value(duration, "job=failing") >= 3},
		{"lateness observed", first.value(lateness) >= 6},
		{"failing job never succeeded", !first.has(runsTotal, "job=failing", "status=succeeded")},
		{"fast job never failed", !first.has(runsTotal, "job=fast", "status=failed")},
		{"no drops", first.sum(sinkDropped) == 0},
		{"no sink failures", first.sum(sinkFailures) == 0},
		{"claim lead at least the 20ms default", first.value(claimLead) >= 0.02},
		{"clock offset and correction exported, 0 when alone", first.has(clockOffset) && first.value(clockOffset) == 0 && first.has(clockCorrect) && first.value(clockCorrect) == 0},
		{"no scrape errors", first.value(scrapeErrors) == 0},
	} {
		if !check.ok {
			t.Errorf("%s: not so in\n%s", check.what, first.text)
		}
	}

	// The series keep moving as runs happen.
	ep.waitScrape(10*time.Second, "more runs, claims and observations", func(sc scrape) bool {
		return sc.value(runsTotal, "job=fast", "status=succeeded", "trigger=schedule") >= first.value(runsTotal, "job=fast", "status=succeeded", "trigger=schedule")+3 &&
			sc.value(runsTotal, "job=failing", "status=failed", "trigger=schedule") > first.value(runsTotal, "job=failing", "status=failed", "trigger=schedule") &&
			sc.value(claimsWon) > first.value(claimsWon) &&
			sc.value(duration, "job=fast") > first.value(duration, "job=fast") &&
			sc.value(lateness) > first.value(lateness) &&
			sc.value(sinkWritten, "sink=0") > first.value(sinkWritten, "sink=0")
	})

	// After Stop every record has been flushed: each run started here is
	// counted exactly once, and the instance is gone from the cluster.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	final := ep.waitScrape(5*time.Second, "the stopped instance to leave", func(sc scrape) bool {
		return sc.value(liveInstances) == 0 && sc.value(isLeader) == 0
	})
	executed := final.sum(runsTotal) - final.sum(runsTotal, "status=skipped") - final.sum(runsTotal, "status=lost")
	if started := final.value(runsStarted); executed != started {
		t.Errorf("runs counted from records %v != runs started %v", executed, started)
	}
	if got := final.sum(duration); got != executed {
		t.Errorf("%s observations %v != executed runs %v", duration, got, executed)
	}
	if got, want := final.value(sinkWritten, "sink=0"), final.sum(runsTotal); got != want {
		t.Errorf("collector sink wrote %v records, runs_total sums to %v", got, want)
	}
	if got := final.value(sinkBuffered, "sink=0") + final.value(inFlight); got != 0 {
		t.Errorf("after Stop: %v records buffered plus runs in flight, want 0", got)
	}
}

// TestLiveInstancesReadErrorSkipsTheSeries checks that a failed etcd read
// leaves live_instances out and counts the error, while the rest of the
// scrape succeeds.
func TestLiveInstancesReadErrorSkipsTheSeries(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcdtest.Client(t, etcd)
	c := metrics.New(metrics.WithInstancesTimeout(200 * time.Millisecond))
	s := newScheduler(t, cli, "m1", c)
	c.Attach(s)
	ep := serve(t, c)

	if sc := ep.scrape(); sc.value(liveInstances) != 0 || !sc.has(liveInstances) || sc.value(scrapeErrors) != 0 {
		t.Fatalf("with etcd up: want %s 0 and no scrape errors:\n%s", liveInstances, sc.text)
	}
	etcd.Close()
	for i := 1; i <= 2; i++ {
		sc := ep.scrape()
		if sc.has(liveInstances) {
			t.Errorf("scrape %d: %s exported although etcd is down", i, liveInstances)
		}
		if got := sc.value(scrapeErrors); got != float64(i) {
			t.Errorf("scrape %d: %s = %v, want %d", i, scrapeErrors, got, i)
		}
		if !sc.has(isLeader) || !sc.has(claimsWon) {
			t.Errorf("scrape %d: the Stats series are missing:\n%s", i, sc.text)
		}
	}

	c.Attach(nil)
	if sc := ep.scrape(); sc.has(isLeader) || sc.has(liveInstances) {
		t.Errorf("detached: scheduler series still exported:\n%s", sc.text)
	}
}

// TestTwoInstancesOneLeader runs two instances, each with its own
// collector, and follows leadership as the leader stops.
func TestTwoInstancesOneLeader(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcdtest.Client(t, etcd)
	ca, cb := metrics.New(), metrics.New()
	a, b := newScheduler(t, cli, "a", ca), newScheduler(t, cli, "b", cb)
	ca.Attach(a)
	cb.Attach(b)
	registerJobs(t, a)
	registerJobs(t, b)
	epa, epb := serve(t, ca), serve(t, cb)
	start(t, a)
	start(t, b)

	var sa, sb scrape
	deadline := time.Now().Add(15 * time.Second)
	for {
		sa, sb = epa.scrape(), epb.scrape()
		if sa.value(liveInstances) == 2 && sb.value(liveInstances) == 2 &&
			sa.value(isLeader)+sb.value(isLeader) == 1 &&
			sa.value(claimsLost)+sb.value(claimsLost) > 0 &&
			sa.value(runsTotal, "job=fast", "status=succeeded")+sb.value(runsTotal, "job=fast", "status=succeeded") >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for 2 live instances, one leader, lost claims and runs:\n--- a\n%s\n--- b\n%s", sa.text, sb.text)
		}
		time.Sleep(20 * time.Millisecond)
	}

	leader, follower, epFollower := a, b, epb
	if sb.value(isLeader) == 1 {
		leader, follower, epFollower = b, a, epa
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	epFollower.waitScrape(10*time.Second, follower.InstanceID()+" to lead alone", func(sc scrape) bool {
		return sc.value(isLeader) == 1 && sc.value(liveInstances) == 1
	})
}
