// Package metrics exports a distcron Scheduler's metrics to Prometheus
// (github.com/prometheus/client_golang), so that the root package never
// imports Prometheus.
//
// # Wiring
//
// A Collector is both a prometheus.Collector and a logsink.Sink. As a sink
// it must be passed to distcron.New (WithSinks), so it is created first and
// attached to the Scheduler afterwards:
//
//	c := metrics.New()
//	sched, err := distcron.New(cli, distcron.WithSinks(c /*, other sinks */))
//	c.Attach(sched)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// New starts no goroutine and does no I/O; the Collector has no listener
// of its own and no global state: the host registers it wherever it likes
// (prometheus.WrapRegistererWith adds constant labels, for example to tell
// two schedulers in one process apart). Pass the Collector to WithSinks
// directly, not inside logsink.Fanout: a Fanout batch that fails on
// another sink is retried as a whole and would be counted twice.
//
// A Collector serves one Scheduler. Without Attach only the series built
// from run records are exported; without WithSinks those stay empty.
//
// # Series
//
// All names start with "distcron_" and are stable.
//
// From run records, as the Scheduler's pipeline delivers them to the
// Collector (by default within 200ms of the run's end, see
// logsink.WithFlushInterval):
//
//	distcron_runs_total{job,status,trigger}     counter    run attempts recorded by this instance
//	distcron_run_duration_seconds{job}          histogram  duration of attempts that executed
//	distcron_fire_lateness_seconds              histogram  started - tick, scheduled runs only
//
// status is one of succeeded, failed, timeout, killed, skipped, lost;
// trigger one of schedule, manual, catchup, retry, chain (logsink.Status,
// logsink.Trigger). Skipped runs (claimed but not run) and lost runs
// (recorded by the leader for an instance that vanished mid-run, so they
// appear on the leader's metrics) are counted in runs_total but observed by
// neither histogram. Lateness buckets run from 100µs to 10s
// (DefaultLatenessBuckets); a run that starts a hair before its tick counts
// as 0. Duration buckets run from 5ms to 1h (DefaultDurationBuckets).
//
// From Scheduler.Stats at scrape time (this instance, since Start):
//
//	distcron_runs_started_total                 counter    runs started here
//	distcron_claims_won_total                   counter    ticks (or units) this instance claimed
//	distcron_claims_lost_total                  counter    claims another instance won first
//	distcron_claim_errors_total                 counter    claim requests that failed
//	distcron_misfired_ticks_total               counter    ticks too old to claim
//	distcron_ticks_left_to_peers_total          counter    ticks not claimed: at the concurrent-runs cap
//	distcron_runs_in_flight                     gauge      claims pending plus runs in progress here
//	distcron_claim_lead_seconds                 gauge      current claim lead
//	distcron_clock_offset_seconds               gauge      clock minus the cluster's median clock (estimate)
//	distcron_clock_offset_error_seconds         gauge      bound on that estimate's error
//	distcron_clock_correction_seconds           gauge      shift applied to follow the median clock
//	distcron_is_leader                          gauge      1 if this instance leads, else 0
//	distcron_sink_buffered_records{sink}        gauge      records waiting in a sink's pipeline
//	distcron_sink_written_records_total{sink}   counter    records written
//	distcron_sink_dropped_records_total{sink}   counter    records dropped (buffer full, or at Stop)
//	distcron_sink_write_failures_total{sink}    counter    failed Write calls
//
// sink is the sink's position in WithSinks: "0", "1", ... The Collector's
// own pipeline is one of them.
//
// From etcd at scrape time:
//
//	distcron_live_instances                     gauge      instances registered in the cluster
//	distcron_scrape_errors_total                counter    scrapes whose etcd read failed
//
// Every instance reports the same live_instances; aggregate with max, not
// sum. The read is bounded by WithInstancesTimeout (default 1s); when it
// fails, live_instances is left out of that scrape (rather than failing the
// whole scrape or reporting a false 0) and scrape_errors_total grows.
//
// # Cardinality
//
// The only unbounded-looking label is job, and it is bounded by the jobs
// the cluster runs: runs_total has at most 6 statuses x 5 triggers series
// per job, run_duration_seconds one histogram per job. Series of a job
// that was unregistered or deleted stay until the process restarts, so a
// cluster that keeps creating jobs with fresh names (one per customer, per
// day, ...) grows its series without bound: give such jobs stable names.
// sink is bounded by WithSinks; the
// other series carry no labels. Instance ids are not labels: Prometheus'
// own target labels tell instances apart.
package metrics
