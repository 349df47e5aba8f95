// Package distcron is cron for Go services that run as several instances:
// each tick of each registered job runs on exactly one instance, chosen
// through etcd, and every run leaves a record in pluggable sinks.
//
// # Overview
//
// Create a Scheduler with New (it borrows an etcd client and only validates
// its options), register jobs, then Start it:
//
//	// run runs report and a cleanup on the cluster until ctx ends.
//	func run(ctx context.Context, cli *clientv3.Client, report func(context.Context) error) error {
//		sched, err := distcron.New(cli, distcron.WithNamespace("/distcron/myapp/"),
//			distcron.WithSinks(logsink.NewJSON(os.Stdout)))
//		if err != nil {
//			return err
//		}
//		err = sched.RegisterFunc("report", "0 7 * * MON-FRI", report, distcron.Timeout(time.Minute))
//		if err != nil {
//			return err
//		}
//		err = sched.RegisterShell("cleanup", "@every 10m", "find /tmp/x -mtime +1 -delete")
//		if err != nil {
//			return err
//		}
//		if err := sched.Start(ctx); err != nil {
//			return err
//		}
//		<-ctx.Done()
//		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
//		defer cancel()
//		return sched.Stop(stopCtx) // waits for runs up to 30s, then at most ~4s more
//	}
//
// Every instance that shares the namespace and registers a job competes for
// its ticks; instances may register different jobs. Unregister removes a
// job; Reschedule (its spec) and Reconfigure (its options) change a job
// registered in code in place: it keeps its name, executor, pause state,
// runs in progress and last run, and its next tick is computed from now,
// with no tick run twice or given up by the instance around the change.
// They change one instance; a definition without a kind (see Jobs defined
// in etcd) changes a code job's schedule on every instance. A job's context carries
// RunInfo (job, tick, instance, attempt, shard, fencing token); read it with
// RunInfoFrom. A pipeline of steps is an executor.Pipeline; its record lists
// each step's outcome.
//
// # Schedules
//
// ParseSchedule accepts 5 fields (minute first), 6 fields (seconds first),
// 7 fields (seconds first, year last), the descriptors @yearly @annually
// @monthly @weekly @daily @midnight @hourly, and "@every <duration>" with a
// duration of at least 10ms, whose ticks fall on multiples of the duration
// since the Unix epoch so that all instances agree. A "CRON_TZ=Zone " or
// "TZ=Zone " prefix, InLocation and WithLocation pick the zone; the default
// is UTC. Specs are validated strictly: reversed ranges, out-of-range values
// and trailing junk are errors (ErrInvalidSpec), never silent surprises, and
// so is a spec that matches no date at all, such as "0 0 31 2 *".
// When both day-of-month and day-of-week are restricted a day matches either
// (cron's rule); a day field that starts with "*" is unrestricted.
//
// Daylight saving follows cronie. A fixed-time job (minute and hour fields
// without "*") whose time falls into a skipped hour runs once, right after
// the jump; in a repeated hour it runs once, at the first pass. A wildcard
// job (minute or hour starting with "*", or @hourly) skips the missing hour
// and runs in both passes of a repeated one.
//
// # Guarantees
//
// At most one run per tick per job (per shard, per attempt), for every
// trigger kind (schedule, Trigger, retry, chain, re-run of a lost run,
// catch-up), under instance crashes, restarts, pauses longer than the
// session TTL, clock skew, etcd member crashes and leader changes,
// compaction, and answers lost in flight (see RELIABILITY.md for the
// drills, the per-trigger table and the figures). A tick is missed only when no eligible instance can reach etcd
// at that time, or when every eligible instance is at its
// WithMaxConcurrentRuns cap, or when the instance that claimed it dies
// before the job starts (within the claim lead). Missed ticks follow the
// job's misfire policy: skipped by default, as cron does; never replayed as
// a backlog.
//
// The claim is one etcd transaction per batch of due ticks (up to 123
// ticks per request: those due within half the lead, at most 10ms, of the
// first), sent shortly before the tick (see WithClaimLead; the lead grows
// by itself when etcd answers slowly), so the winner starts the job on
// time. Each tick has a preferred claimer: the live instance, among
// those that list the job in their registration, with the highest hash of
// (instance, job, tick). It claims ahead of the tick; every other instance
// backs it up max(2 x lead, 50ms) after the tick (at most half the misfire
// grace; rounded down to a quarter of that, so that the checks of ticks
// close together share one read: claim keys begin with their tick, so
// those ticks' claims are one key range, narrowed to the batch's job names
// when its ticks share one instant), claiming only the ticks the read
// shows still unclaimed. So etcd sees about one claim per fire, and a dead or
// paused preferred instance costs a tick that delay, not the tick. Most
// backups do not even read: every instance publishes, every 10ms while it
// is busy, a progress statement ("every tick I am preferred for, from F
// to W, is resolved", for its view of the members and its jobs), and a
// backup drops a tick its preferred claimer's statement covers. A statement
// that is stale, or from another view or job set, only sends the backup
// back to the read (see progress.go for why a statement is never wrong). A claim
// request that fails is retried (each attempt bounded to 1s) until the
// misfire grace runs out, reading back after each failure which ticks it
// holds. The revision of the claim is the run's fencing token, handed
// to the job in RunInfo and written to the record; downstream systems can
// refuse writes that carry an older token than one they have seen.
//
// # Key layout
//
// All keys live under the namespace prefix (WithNamespace, default
// "/distcron/default/"):
//
//	instances/<id>                 JSON registration (id, host, pid, tags, jobs); session lease
//	clock/<id>                     clock-offset exchange (send time, delays seen); session lease
//	leader/                        election keys; session lease
//	claims/<tick>/<job>[/<unit>]   the claim of one tick: "<instance id> <session lease, hex>"
//	running/<job>/[<unit>/]<run>   a run in progress; the runner's session lease
//	inflight/<id>/<lease>.<seq>    the scheduled Allow runs of one claim batch; session lease
//	progress/<id>                  progress statement: "v1 <view> <jobs> <from> <through>"; session lease
//	defs/<job>                     a job definition (JSON, see Definition)
//	control/paused/<job>           pause flag (Pause, Resume)
//	control/kill/<job>/<id>        kill request (Kill, OverlapReplace); short lease
//	control/killrun/<job>/<id>     kill request for one run (KillRun); short lease
//	control/requests/<job>/<id>    run request (Trigger, retries, chaining, catch-up)
//	last/<job>                     last claimed tick of a MisfireRunOnce job
//	duties/lost-cursor             revision up to which the leaders handled lost runs
//	left/<id>                      leave marker put by Stop just before it revokes its lease,
//	                               on that lease (Departed tells a stop from an expiry by it)
//
// Ticks are written in UTC with a fixed width
// ("2006-01-02T15:04:05.000000000Z"), so byte order is time order. A unit is
// "s<n>" for shard n of a Sharded job and "i<id>" for one instance's run of a
// Broadcast job. A tick is claimed by creating its claim key if it does not
// exist (CreateRevision = 0), together with the running key, in one
// transaction; losing is normal and silent. A scheduled run of an
// OverlapAllow job has no running key: nothing reads one for overlap, so
// the batch's transaction puts one in-flight key for all such runs instead,
// and a fire costs etcd one key write (see inflight.go). Forbid and Replace
// runs and every run off the schedule keep running keys, so a job switched
// from Allow to Forbid or Replace does not see the runs it started under
// Allow.
//
// A run's key names it uniquely: <run> is the tick for scheduled runs and
// catch-ups (both hold the tick's claim), "m<tick>" for a manual run,
// "c<tick>-<hash of the parent run>" for a chained run, followed by
// "#<attempt>" from the second attempt on. Only the instance that created
// a running key deletes it, in a transaction conditioned on the key still
// being on its lease, so an instance that failed to learn the fate of its
// own claims can never delete another's.
//
// Claim keys are kept for WithClaimRetention (default 1m), then the leader
// deletes the older claims with one range delete every second (the tick
// comes first in the key), so each delete holds about a second's claims. A claim for a tick can only be sent while the tick is at most
// the misfire grace old, and only with a live session lease (the running
// key is attached to it, so a claim from an instance whose lease expired
// fails as a whole). New therefore requires the retention to exceed the
// session TTL plus the misfire grace plus 1s plus 10s of clock skew: any
// claim that arrives late finds the earlier claim and loses.
//
// # Failure modes
//
// Each instance holds one etcd session (lease, WithSessionTTL, default
// 10s) for its registration, election key, running and in-flight keys. When the
// session ends, the instance stops claiming, creates a new session, and in
// one transaction registers again and moves the keys of its runs in
// progress (running keys, in-flight keys) onto the new lease (a run is not killed because the lease
// blinked), then campaigns again. A run whose key went with an expired
// lease (the instance was paused or cut off past its TTL) was recorded
// lost by the leader, is invisible to the overlap policy and may have been
// re-run: the instance cancels it with cause ErrLeaseLost (recorded
// killed) instead of putting its key back.
//
// While etcd is unreachable nothing is claimed and nothing fires (safety
// first); runs already in progress finish; errors are logged; the instance
// recovers by itself when etcd returns. A tick that cannot be claimed
// within WithMisfireGrace (default 5s) of its instant is skipped; so is a
// claimed tick whose instance was paused between claim and start for longer
// than that, or whose lease expired during such a pause (it is recorded as
// skipped; no other instance can run it, and the leader may have recorded
// it as lost). The check is made again at the moment the run starts when
// the process was paused after the first check.
//
// A run whose instance loses its lease mid-run (crash, long pause, cut off
// from etcd) is recorded as lost by the leader: it sees the registration
// vanish together with running and in-flight keys, and reads which runs were in progress
// just before. Each such run is recorded lost once, however often the
// leader changes: the leaders share a cursor (duties/lost-cursor) that is
// moved past a registration delete in the same transaction that stores the
// re-run requests, and only then are the records written. The leader's
// writes are fenced on its election key, so a deposed leader writes
// nothing; its watch is restarted from the cursor after any error. History
// compacted before the leader read it cannot be examined: that is logged
// as an error and counted (Stats.LostRunsUnchecked). RerunLost re-runs a
// lost run elsewhere, as the next attempt; an instance that was only cut
// off may still finish the original, so that can duplicate work.
//
// # Clocks
//
// Instances should run NTP, but a skewed clock never causes a second run
// of a tick. Every instance also estimates its clock's offset from the
// cluster's median clock, NTP-style, through etcd: every 2s it puts
// clock/<id> with its send time and the delays it measured from each
// peer, and half the round trip bounds the error. The estimate is in
// Stats.Clock, in each Instance.Clock (Instances), in the metrics package
// and the console. Past WithClockSkewWarning (default 500ms) the instance
// logs a warning. Once its offset is larger than the claim lead plus twice
// the error, it schedules on the median clock: a fast clock waits for the
// median instead of starting ticks early, a slow one stops claiming late.
// Run records then carry median-clock times too. WithClockCorrection(false)
// keeps the estimate and the warning but schedules on the instance's own
// clock.
//
// # Overlap, capacity, groups
//
// OverlapAllow (default) starts every tick. OverlapForbid skips a tick,
// recording it as skipped, when a run of the job is in progress anywhere in
// the cluster; the check is part of the claim transaction. OverlapReplace
// kills the runs in progress (wherever they are) and then starts.
// Instances at their WithMaxConcurrentRuns cap (default 1024) do not claim,
// so idle peers take the tick; a tick no instance had a free slot for is
// recorded skipped with that reason, never dropped unrecorded. Instances carry tags (WithTags); a job with RequireTags
// runs only on instances carrying all of them. Sharded(n) claims n units
// per tick, each run exactly once with RunInfo.Shard; Broadcast runs each
// tick once on every eligible instance.
//
// # Cluster control
//
// Every instance can steer the whole cluster, through etcd:
//
//   - Trigger runs a job now, once, on exactly one eligible instance
//     (trigger manual); every shard of a Sharded job, once on every
//     eligible instance of a Broadcast job. It coalesces with a manual run
//     still pending (or, for plain jobs, running), so concurrent Triggers
//     cause one run. Run requests (Trigger, retries, chained runs,
//     catch-ups, re-runs) are claimed like ticks, read back after an
//     ambiguous answer, and subject to pause and the overlap policy:
//     Trigger on a paused job returns ErrPaused. TriggerAndWait also
//     waits until an instance claims the run and returns it (which
//     instance, its fencing token), or ErrNotRun when it was taken and
//     skipped.
//   - Kill cancels a job's runs wherever they are (also of a job deleted
//     while it runs): Go funcs see ctx
//     cancelled (context.Cause is ErrKilled), shell commands and every
//     process they started get SIGTERM, then SIGKILL after the grace
//     period; the runs are recorded as killed. KillRun does the same for
//     one run in progress (a Run.ID from Running), leaving the job's other
//     runs alone.
//   - Departed lists the instances that left in the last hour, as this
//     instance's watch saw them: stopped (Stop marks its leave in etcd
//     before revoking its lease) or expired (its lease ran out: a crash, a
//     kill, a lost connection).
//   - Pause and Resume stop and restart a job's scheduled ticks on every
//     instance. Paused ticks are not claimed and leave no record.
//   - Retry re-runs failed attempts with exponential backoff, each attempt
//     its own record, possibly on another instance. OnSuccess and OnFailure
//     trigger other jobs, exactly once per parent run (trigger chain).
//   - Misfire(MisfireRunOnce, deadline): when no instance claimed a tick
//     (a cluster-wide outage, etcd unreachable), the leader requests one
//     catch-up run for the newest missed tick if it is between 1s and the
//     deadline old and the job ran before it (last/<job> holds an earlier
//     tick), for any period. Ticks missed while paused are not caught up.
//   - WithNotifier sends failure (or any) records to webhooks or mail; see
//     package notify.
//   - JobInfos and JobInfo show each job as this instance sees it, with
//     its next tick and its last run (JobInfo.Last: the newest run this
//     instance recorded itself, not a peer's); NextRuns lists its next fire
//     instants; Running and Instances show the cluster's state.
//
// # Jobs defined in etcd
//
// Define stores a Definition (shell command, HTTP request, or a pipeline
// of such steps, with schedule, zone, timeout, overlap, misfire, retry,
// tags, shards, chaining, paused) at defs/<name>; Delete removes it. Every
// instance watches the definitions and applies changes live, touching no
// other job. A definition without a kind overrides the schedule, zone or
// pause state of a job registered in code, and deleting it restores the
// code job; a definition with a kind never replaces a job registered in
// code (ErrCodeJob): Define refuses it, and one written into etcd directly
// is skipped by every instance while any live instance registers its name
// in code, and applies once none does (an instance whose session lapsed
// counts again once it has registered anew). Schedules from definitions may fire at most once per
// WithRemoteScheduleFloor (default 1s), and a definition is at most
// MaxDefinitionSize bytes of JSON. Definitions are validated by Define;
// one written into etcd directly that does not validate is skipped, logged,
// and listed by InvalidDefinitions, and never stops the watch.
//
// Apply makes the definitions in etcd match a set, as a tool that keeps
// jobs in git does: it creates, updates and (with Prune) deletes in one
// transaction, all or nothing, refuses the whole set when one definition
// is invalid, and with DryRun only reports the plan. The distcron command
// (module cmd/distcron) wraps it as "distcron apply -f jobs.yaml", beside
// instances, jobs, get, trigger, pause, resume, kill and next. Package
// distcrontest (its own module) gives tests a real etcd and a clock they
// step.
//
// Security: a shell job from the network is remote code execution. Shell
// jobs from definitions run only on instances started with
// WithRemoteShell(true), with a minimal environment (PATH, HOME, LANG, TZ,
// the names given to WithRemoteShellEnv, and their own entries); HTTP jobs
// only with WithRemoteHTTP(hosts...), whose resolved addresses are checked
// when the connection is made (loopback, link-local and private addresses
// only when listed by address or CIDR). Elsewhere such jobs are listed as
// refused (JobInfo.Refused) and left to instances that allow them.
// SECURITY.md has the threat model and every default.
//
// # Shutdown
//
// Stop(ctx) stops claiming, waits for runs in progress until ctx ends, then
// cancels them (Go funcs see ctx cancelled; shell commands and all their
// descendants get SIGTERM, then SIGKILL) and waits up to WithStopGrace
// (default 2s) for them (they are recorded as killed, and Stop's error
// matches ErrRunsCancelled). It then leaves etcd within 1s (the keys of
// finished runs are deleted, the lease revoked, so peers see the instance
// leave at once) and flushes the sinks until ctx ends, for at least 1s
// (exactly 1s when ctx has no deadline); records it could not deliver are
// reported in its error (logsink.ErrUndelivered). So Stop returns at most
// the stop grace plus about 2s after ctx ends, whatever is down; a run it
// abandoned may end later without harm. The caller closes the etcd client
// afterwards.
//
// # Run records and sinks
//
// Every attempt produces one logsink.Record. Each sink passed to WithSinks
// gets its own logsink.Delivery: records are batched (by size or interval),
// retried with backoff while the sink is down, held in a bounded buffer
// (drops are counted and logged, never silent), and flushed by Stop.
// logsink.NewJSON and logsink.NewZap write lines; logsink/sqlsink
// (PostgreSQL, MySQL/MariaDB, SQLite, through a *sql.DB) and
// logsink/mongosink (a *mongo.Collection) store records durably and
// idempotently, and answer history queries through logsink.Querier.
// logsink/sinktest checks a sink of your own against the same contract.
//
// # Admin console and metrics
//
// Package admin turns a Scheduler into an http.Handler (JSON API and an
// embedded web console) that the host app mounts under any prefix;
// read-only unless given an authorizer. Package metrics is a Prometheus
// collector that is also a sink. Neither is linked unless imported.
//
// # Logging vs run records
//
// Operational messages (session lost, claim errors, leadership) go to the
// zap logger from WithLogger, named "distcron", with stable field keys job,
// tick and instance. The default logger prints warnings and errors to
// standard error (one line each, rate-limited per message), so an
// unreachable etcd, a failing sink and dropped records are never silent;
// pass zap.NewNop() to quiet it. The etcd client has its own logger
// (clientv3.Config.Logger; zap.NewNop() quiets it too). Run records go to
// sinks (WithSinks): one logsink.Record per attempt, delivered in batches by
// an asynchronous delivery per sink that retries with backoff through sink
// outages, within a bounded buffer whose drops are counted and logged.
package distcron
