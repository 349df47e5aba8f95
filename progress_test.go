package distcron

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/logsink"
)

// Healthy instances vouch for the ticks they claim, so their backups drop
// most ticks without a read, and still every tick runs exactly once.
func TestBackupsSkipTheTicksTheirPreferredClaimerVouchedFor(t *testing.T) {
	tc := newTestCluster(t)
	const every = 100 * time.Millisecond
	jobs := jobNames(100)
	var scheds []*Scheduler
	for i := range 3 {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i))
		registerNoop(t, s, jobs, "@every 100ms")
		tc.start(s)
		scheds = append(scheds, s)
	}
	vouched := func() (n uint64) {
		for _, s := range scheds {
			n += s.Stats().BackupsVouched
		}
		return n
	}
	waitFor(t, 15*time.Second, "backups vouched for", func() bool { return vouched() > 0 })
	const window = 2 * time.Second
	perWindow := uint64(len(jobs)) * uint64(window/every)
	var best uint64
	w := quietWindow(t, window, scheds, func() func() bool {
		before := vouched()
		return func() bool {
			best = max(best, vouched()-before)
			return best >= perWindow/10
		}
	})
	for _, s := range scheds {
		stopNow(t, s)
	}
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	n := w.assertEveryTick(t, recs, jobs, every)
	// Two backups per tick. At this rate (about 330 preferred ticks a
	// second per instance) a statement goes out every 100ms or so, about
	// the time a backup waits (twice the backup delay), so many backups
	// still read: on a quiet machine a tenth of the ticks or more are
	// vouched for (done above waits for that). A loaded one delays the
	// statements past the backups' wait, so what is required is that
	// statements still arrive in time for some backups, window after
	// window; how many is the benchmarks' to show.
	if best == 0 {
		t.Errorf("no backup tick vouched for in any window of %d ticks", perWindow)
	}
	t.Logf("%d ticks checked; %d backup ticks vouched for in the best window of %d", n, best, perWindow)
}

// workWindow is a span of a test's workload; quiet when no instance
// watched had a claim request fail or a tick misfire in it.
type workWindow struct {
	from, to time.Time
	quiet    bool
}

// quietWindow runs the workload for windows of d, up to three, until one
// is quiet and done (from start, called as each window begins, returns
// whether the window gave what the test needs) says so. On a loaded
// machine etcd can stall past the claim timeout or the misfire grace, and
// then ticks are given up by design: "every tick runs" holds while an
// eligible instance reaches etcd in time, so it is checked over a quiet
// window (see workWindow.assertEveryTick).
func quietWindow(t *testing.T, d time.Duration, watched []*Scheduler, start func() func() bool) workWindow {
	t.Helper()
	troubles := func() (n uint64) {
		for _, s := range watched {
			st := s.Stats()
			n += st.ClaimErrors + st.Misfired
		}
		return n
	}
	var found workWindow
	for i := range 3 {
		done := start()
		w := workWindow{from: time.Now()}
		before := troubles()
		time.Sleep(d) // the workload's length, not an assertion
		w.to, w.quiet = time.Now(), troubles() == before
		if w.quiet && !found.quiet {
			found = w
		}
		if !w.quiet {
			t.Logf("window %d: etcd answered late (claim errors or misfires); trying another", i+1)
		}
		if found.quiet && done() {
			break
		}
	}
	return found
}

// assertEveryTick checks that every tick of jobs in w, but for its first
// and last 200ms, ran exactly once; it fails when no window was quiet.
func (w workWindow) assertEveryTick(t *testing.T, recs []logsink.Record, jobs []string, every time.Duration) int {
	t.Helper()
	if !w.quiet {
		t.Error("no quiet window: the instances' claims failed or misfired in every one")
		return 0
	}
	return assertEveryTick(t, recs, jobs, every, w.from.Add(200*time.Millisecond), w.to.Add(-200*time.Millisecond))
}

// An instance whose claims stay unresolved (every claim request fails,
// and with a short misfire grace it gives them up quickly and goes on)
// must not vouch for those ticks: its peer backs them up, and every tick
// still runs exactly once.
func TestBackupsClaimTheTicksOfAPreferredClaimerWhoseClaimsFail(t *testing.T) {
	tc := newTestCluster(t)
	jobs := jobNames(40)
	grace := WithMisfireGrace(400 * time.Millisecond)
	healthy, _ := tc.newScheduler("healthy", grace)
	failing, fcli := tc.newScheduler("failing", grace)
	registerNoop(t, healthy, jobs, "@every 100ms")
	registerNoop(t, failing, jobs, "@every 100ms")
	faults := etcdfault.Wrap(fcli)
	tc.start(healthy)
	tc.start(failing)
	waitFor(t, 60*time.Second, "both instances claiming, with statements", func() bool {
		return failing.Stats().ClaimsWon > 0 && healthy.Stats().BackupsVouched > 0
	})
	faults.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: tc.ns + "claims/", Action: etcdfault.Fail, Err: rpctypes.ErrTimeout})
	// Only the healthy instance is watched: the failing one's claims fail
	// by design.
	w := quietWindow(t, 2*time.Second, []*Scheduler{healthy}, func() func() bool { return func() bool { return true } })
	stopNow(t, healthy)
	stopNow(t, failing)
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	// Ticks due within the lead of the fault were claimed before it.
	w.assertEveryTick(t, recs, jobs, 100*time.Millisecond)
}

// A statement stays below every tick this instance has not resolved: the
// queue's head, each flight's bound and each hole; and it ends its holes
// after holeKeep.
func TestStatementStaysBelowUnresolvedTicks(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return now.Add(d).UnixNano() }
	s.mu.Lock()
	defer s.mu.Unlock()
	s.progress.from = now.Add(-time.Minute)
	if st := s.statementNow(now); st.through != at(s.fromMargin())-1 {
		t.Errorf("empty: through %v after now, want the margin %v", time.Duration(st.through-now.UnixNano()), s.fromMargin())
	}
	j := &job{name: "a", index: -1, claimAt: now.Add(300 * time.Millisecond)}
	s.queue.push(j)
	if st := s.statementNow(now); st.through != at(300*time.Millisecond)-1 {
		t.Errorf("queued: through %v after now, want just below the head (300ms)", time.Duration(st.through-now.UnixNano()))
	}
	f := &flight{bound: at(200 * time.Millisecond), pending: 1}
	s.progress.flights = append(s.progress.flights, f)
	if st := s.statementNow(now); st.through != at(200*time.Millisecond)-1 {
		t.Errorf("in flight: through %v after now, want just below the flight (200ms)", time.Duration(st.through-now.UnixNano()))
	}
	s.progress.holes = append(s.progress.holes, hole{tick: at(100 * time.Millisecond), until: now.Add(100 * time.Millisecond).Add(s.holeKeep())})
	if st := s.statementNow(now); st.through != at(100*time.Millisecond)-1 {
		t.Errorf("hole: through %v after now, want just below the hole (100ms)", time.Duration(st.through-now.UnixNano()))
	}
	f.pending = 0
	later := now.Add(100 * time.Millisecond).Add(s.holeKeep()).Add(time.Nanosecond)
	if st := s.statementNow(later); st.through != at(300*time.Millisecond)-1 || len(s.progress.flights) != 0 || len(s.progress.holes) != 0 {
		t.Errorf("landed and expired: through %v after now, flights %d, holes %d; want the head again and none",
			time.Duration(st.through-now.UnixNano()), len(s.progress.flights), len(s.progress.holes))
	}
}

// Holes beyond maxHoles merge without ever raising the statement's end or
// shortening how long the earliest hole holds it.
func TestHolesMergeConservatively(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	base := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	j := &job{name: "a"}
	var reqs []claimReq
	for i := range 3 * maxHoles {
		reqs = append(reqs, claimReq{job: j, tick: base.Add(time.Duration(3*maxHoles-i) * time.Millisecond)})
	}
	s.addHoles(reqs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.progress.holes); n > maxHoles {
		t.Fatalf("%d holes kept, want at most %d", n, maxHoles)
	}
	s.progress.from = base.Add(-time.Minute)
	at := base.Add(time.Millisecond) // the earliest hole's tick
	if st := s.statementNow(base); st.through != at.UnixNano()-1 {
		t.Errorf("through %v after the earliest hole, want just below it", time.Duration(st.through-at.UnixNano()))
	}
	last := base.Add(time.Duration(3*maxHoles) * time.Millisecond).Add(s.holeKeep()) // the latest hole's end
	if st := s.statementNow(last); st.through >= last.Add(s.fromMargin()).UnixNano()-1 {
		t.Errorf("at the latest hole's end no hole held the statement")
	}
	after := last.Add(time.Nanosecond)
	if st := s.statementNow(after); st.through != after.Add(s.fromMargin()).UnixNano()-1 || len(s.progress.holes) != 0 {
		t.Errorf("past the latest hole's end: through %v after now, %d holes left; want none", time.Duration(st.through-after.UnixNano()), len(s.progress.holes))
	}
}

// A backup trusts a statement only with its own view and jobs, from the
// statement's start, up to its end; a fresh statement just short of the
// tick defers the check once.
func TestVouchedNeedsTheSameViewAndJobs(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	tick := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	d := s.backupDelay()
	now := s.backupAt(tick)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view.digest, s.progress.jobs = 7, 9
	r := claimReq{job: &job{name: "a"}, tick: tick, backup: true}
	good := statement{view: 7, jobs: 9, from: tick.Add(-time.Second).UnixNano(), through: tick.UnixNano(), seen: now}
	for _, c := range []struct {
		name string
		edit func(*statement)
		want vouch
	}{
		{"covers the tick", func(*statement) {}, vouchedYes},
		{"another view", func(st *statement) { st.view = 8 }, vouchedNo},
		{"other jobs", func(st *statement) { st.jobs = 8 }, vouchedNo},
		{"starts after the tick", func(st *statement) { st.from = tick.UnixNano() + 1 }, vouchedNo},
		{"none", func(st *statement) { *st = statement{} }, vouchedNo},
		{"fresh, just short", func(st *statement) { st.through = tick.UnixNano() - 1 }, vouchedSoon},
		{"stale, just short", func(st *statement) { st.through, st.seen = tick.UnixNano()-1, now.Add(-d) }, vouchedNo},
		{"fresh, far behind (a hole)", func(st *statement) { st.through = tick.Add(-d).UnixNano() }, vouchedNo},
	} {
		st := good
		c.edit(&st)
		if got := s.vouched(st, r, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// The deferred check is the last: no second deferral.
	st := good
	st.through = tick.UnixNano() - 1
	if got := s.vouched(st, r, tick.Add(2*d)); got != vouchedNo {
		t.Errorf("second check: %v, want vouchedNo", got)
	}
}

// A queued backup never waits past its job's next tick, so a statement
// below the queue's head covers no tick hidden behind it.
func TestBackupCheckNeverHidesTheNextTick(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	tick := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	for _, every := range []time.Duration{10 * time.Millisecond, time.Hour} {
		sched, err := ParseSchedule("@every "+every.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		j := &job{name: "a", schedule: sched, next: tick}
		s.checkAt(j, s.backupAt(tick))
		want := s.backupAt(tick)
		if next := tick.Add(every); next.Before(want) {
			want = next
		}
		if !j.claimAt.Equal(want) {
			t.Errorf("every %v: checked %v after the tick, want %v", every, j.claimAt.Sub(tick), want.Sub(tick))
		}
	}
}

func TestStatementEncoding(t *testing.T) {
	st := statement{view: 0xfeed, jobs: 1, from: -5, through: 1 << 62}
	got, err := parseStatement([]byte(st.encode()))
	if err != nil || got != st {
		t.Fatalf("round trip of %+v: %+v, %v", st, got, err)
	}
	for _, bad := range []string{"", "v1 1 2 3", "v2 1 2 3 4", "v1 x 2 3 4", "v1 1 2 3 four"} {
		if _, err := parseStatement([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
