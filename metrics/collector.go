package metrics

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/logsink"
)

const namespace = "distcron"

// Collector exports a Scheduler's metrics to Prometheus. It is both a
// prometheus.Collector (register it with a prometheus.Registerer) and a
// logsink.Sink (pass it to distcron.WithSinks so it sees every run
// record); Attach connects it to the Scheduler whose counters it reads at
// scrape time. See the package documentation for the series and the
// wiring.
//
// A Collector serves one Scheduler. All its methods are safe for
// concurrent use.
type Collector struct {
	cfg   config
	sched atomic.Pointer[distcron.Scheduler]

	// From run records (Write).
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lateness prometheus.Histogram

	// Failed etcd reads during scrapes.
	scrapeErrors prometheus.Counter

	// From Scheduler.Stats and Scheduler.Instances (Collect).
	runsStarted, claimsWon, claimsLost, claimErrors *prometheus.Desc
	misfired, leftToPeers                           *prometheus.Desc
	inFlight, claimLead, leader, liveInstances      *prometheus.Desc
	clockOffset, clockError, clockCorrection        *prometheus.Desc
	sinkBuffered, sinkWritten, sinkDropped          *prometheus.Desc
	sinkFailures                                    *prometheus.Desc
}

var (
	_ prometheus.Collector = (*Collector)(nil)
	_ logsink.Sink         = (*Collector)(nil)
)

// New returns a Collector, not yet attached to a Scheduler. It starts no
// goroutine and does not touch the network. It panics if an option is
// invalid (buckets not strictly increasing, a non-positive timeout).
func New(opts ...Option) *Collector {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &Collector{
		cfg: cfg,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "runs_total",
			Help: "Run attempts recorded by this instance, by job, status and trigger (counted when the record reaches the collector's sink).",
		}, []string{"job", "status", "trigger"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "run_duration_seconds",
			Help:    "Duration of run attempts that executed (skipped and lost runs excluded), by job.",
			Buckets: cfg.durationBuckets,
		}, []string{"job"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "fire_lateness_seconds",
			Help:    "How long after its tick a scheduled run started (skipped and lost runs excluded; early starts count as 0).",
			Buckets: cfg.latenessBuckets,
		}),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "scrape_errors_total",
			Help: "Scrapes whose etcd read of the live instances failed or timed out (distcron_live_instances was left out).",
		}),
		runsStarted:     desc("runs_started_total", "Runs started on this instance (scheduled, manual, retries, ...)."),
		claimsWon:       desc("claims_won_total", "Ticks (or units of sharded and broadcast jobs) this instance claimed."),
		claimsLost:      desc("claims_lost_total", "Claims another instance won first."),
		claimErrors:     desc("claim_errors_total", "Claim requests to etcd that failed."),
		misfired:        desc("misfired_ticks_total", "Ticks skipped because they were too old to claim (misfire grace exceeded)."),
		leftToPeers:     desc("ticks_left_to_peers_total", "Ticks not claimed because this instance was at its concurrent-runs cap."),
		inFlight:        desc("runs_in_flight", "Claims pending plus runs in progress on this instance."),
		claimLead:       desc("claim_lead_seconds", "How long before a tick this instance currently sends its claim."),
		clockOffset:     desc("clock_offset_seconds", "This instance's clock minus the cluster's median clock, as estimated through etcd (0 while it has no estimate)."),
		clockError:      desc("clock_offset_error_seconds", "Bound on the error of distcron_clock_offset_seconds (half the exchange's round trip)."),
		clockCorrection: desc("clock_correction_seconds", "What this instance subtracts from its clock when it schedules, to follow the median clock."),
		leader:          desc("is_leader", "1 if this instance is the cluster leader, else 0."),
		liveInstances:   desc("live_instances", "Live instances registered in the cluster, as read from etcd at scrape time."),
		sinkBuffered:    desc("sink_buffered_records", "Run records accepted by a sink's pipeline and not yet written.", "sink"),
		sinkWritten:     desc("sink_written_records_total", "Run records a sink's pipeline wrote successfully.", "sink"),
		sinkDropped:     desc("sink_dropped_records_total", "Run records a sink's pipeline dropped (buffer full, or undelivered at Stop).", "sink"),
		sinkFailures:    desc("sink_write_failures_total", "Write calls to a sink that failed (error, panic or timeout).", "sink"),
	}
}

// Attach makes the Collector read s's counters (Scheduler.Stats) and the
// cluster's live instances (Scheduler.Instances) at every scrape. Call it
// once, after distcron.New; until then only the series built from run
// records are exported. Attaching another Scheduler replaces the first;
// Attach(nil) detaches. It does not block.
func (c *Collector) Attach(s *distcron.Scheduler) { c.sched.Store(s) }

// Write counts a batch of run records into distcron_runs_total,
// distcron_run_duration_seconds and distcron_fire_lateness_seconds. It
// implements logsink.Sink: the scheduler's pipeline calls it. It never
// blocks and never fails, so the pipeline never retries a batch and no
// record is counted twice.
func (c *Collector) Write(_ context.Context, batch []logsink.Record) error {
	for i := range batch {
		c.observe(&batch[i])
	}
	return nil
}

func (c *Collector) observe(r *logsink.Record) {
	c.runs.WithLabelValues(r.Job, string(r.Status), string(r.Trigger)).Inc()
	if r.Status == logsink.StatusSkipped || r.Status == logsink.StatusLost {
		// Skipped runs never executed; a lost run's duration is only the
		// time until the leader noticed.
		return
	}
	c.duration.WithLabelValues(r.Job).Observe(max(r.Duration, 0).Seconds())
	if r.Trigger == logsink.TriggerSchedule {
		c.lateness.Observe(max(r.Lateness(), 0).Seconds())
	}
}

// Describe sends the descriptors of every series the Collector can export.
// It implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.runs.Describe(ch)
	c.duration.Describe(ch)
	c.lateness.Describe(ch)
	c.scrapeErrors.Describe(ch)
	for _, d := range []*prometheus.Desc{
		c.runsStarted, c.claimsWon, c.claimsLost, c.claimErrors, c.misfired, c.leftToPeers,
		c.inFlight, c.claimLead, c.leader, c.liveInstances, c.clockOffset, c.clockError, c.clockCorrection,
		c.sinkBuffered, c.sinkWritten, c.sinkDropped, c.sinkFailures,
	} {
		ch <- d
	}
}

// Collect sends the current value of every series. It implements
// prometheus.Collector and is called by the registry at each scrape. When
// a Scheduler is attached it reads its Stats (no I/O) and lists the live
// instances from etcd, which blocks for at most the instances timeout
// (WithInstancesTimeout).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if s := c.sched.Load(); s != nil {
		c.collectScheduler(ch, s)
	}
	c.runs.Collect(ch)
	c.duration.Collect(ch)
	c.lateness.Collect(ch)
	c.scrapeErrors.Collect(ch)
}

func (c *Collector) collectScheduler(ch chan<- prometheus.Metric, s *distcron.Scheduler) {
	st := s.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.runsStarted, st.RunsStarted)
	counter(c.claimsWon, st.ClaimsWon)
	counter(c.claimsLost, st.ClaimsLost)
	counter(c.claimErrors, st.ClaimErrors)
	counter(c.misfired, st.Misfired)
	counter(c.leftToPeers, st.LeftToPeers)
	gauge(c.inFlight, float64(st.RunsInFlight))
	gauge(c.claimLead, st.ClaimLead.Seconds())
	gauge(c.clockOffset, st.Clock.Offset.Seconds())
	gauge(c.clockError, st.Clock.Error.Seconds())
	gauge(c.clockCorrection, st.Clock.Correction.Seconds())
	leader := 0.0
	if st.Leader {
		leader = 1
	}
	gauge(c.leader, leader)
	for i, p := range st.SinkDeliveries {
		sink := strconv.Itoa(i)
		gauge(c.sinkBuffered, float64(p.Buffered), sink)
		counter(c.sinkWritten, p.Written, sink)
		counter(c.sinkDropped, p.Dropped, sink)
		counter(c.sinkFailures, p.Failures, sink)
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.instancesTimeout)
	defer cancel()
	insts, err := s.Instances(ctx)
	if err != nil {
		c.scrapeErrors.Inc()
		return
	}
	gauge(c.liveInstances, float64(len(insts)))
}
