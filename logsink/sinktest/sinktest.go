// Package sinktest checks that a [logsink.Sink] keeps the contract the
// scheduler and the admin side rely on, as testing/fstest does for file
// systems. Durable sinks call [Run] from their tests:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, func(t *testing.T) logsink.Sink {
//			return newEmptySink(t) // a fresh, empty store per call
//		})
//	}
//
// Every sink is checked to accept empty batches, batches of any size,
// concurrent writers, 64 KiB of output, Unicode, and text that is not valid
// UTF-8 or holds NUL bytes, to store an [Oversized] record (300 steps,
// about 19 MiB) or refuse it with an error wrapping [logsink.ErrPermanent]
// (never one a pipeline would retry forever), and to store the clipped form
// of it ([logsink.Record.Clip]) that a pipeline hands over, not to retain a
// batch after Write returns, and to return promptly when its context is
// cancelled.
//
// Sinks that implement [logsink.Querier] are also checked to read back
// every field (the Tick exactly, Started and Finished to the millisecond,
// text exactly when it is valid UTF-8 without NUL; a clipped record of
// 1 MiB and 100 steps too), to store a record once
// however often it is written (the idempotent retry the pipeline relies
// on), to filter by job, status, instance and tick range, to order newest
// first, to paginate with cursors without gaps or repeats, to apply the
// default and maximum page sizes, to reject bad cursors, and to find one
// record by identity.
//
// [Memory] is a reference implementation, also handy as a fake history
// store in tests.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/distcron/distcron/logsink"
)

// TimePrecision is the coarsest precision Run accepts for Started and
// Finished (MongoDB stores milliseconds). Ticks must round-trip exactly.
const TimePrecision = time.Millisecond

// Run runs the conformance suite, each check as a subtest of t. newSink
// must return a fresh, empty sink each time it is called (use t.Cleanup to
// release it); it is called once per subtest. The sink must be safe for
// concurrent use. Run does not call t.Parallel.
func Run(t *testing.T, newSink func(t *testing.T) logsink.Sink) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, s logsink.Sink)
	}{
		{"EmptyBatch", testEmptyBatch},
		{"Batches", testBatches},
		{"Fields", testFields},
		{"IdempotentRetry", testIdempotentRetry},
		{"BatchNotRetained", testNotRetained},
		{"LargeOutput", testLargeOutput},
		{"Oversized", testOversized},
		{"Unicode", testUnicode},
		{"InvalidText", testInvalidText},
		{"ConcurrentWriters", testConcurrentWriters},
		{"CancelledContext", testCancelled},
	}
	query := []struct {
		name string
		f    func(t *testing.T, s logsink.Sink, q logsink.Querier)
	}{
		{"QueryFilters", testQueryFilters},
		{"QueryPagination", testQueryPagination},
		{"QueryLimits", testQueryLimits},
		{"QueryBadCursor", testQueryBadCursor},
		{"QueryOmitOutput", testQueryOmitOutput},
		{"Get", testGet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newSink(t)) })
	}
	for _, tc := range query {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t)
			q, ok := s.(logsink.Querier)
			if !ok {
				t.Skipf("%T does not implement logsink.Querier", s)
			}
			tc.f(t, s, q)
		})
	}
}

// base is the first tick of the generated records: it has nanoseconds,
// like a manual run's tick, to check that ticks round-trip exactly.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)

// Rec returns a generated record of job with sequence number i: tick base
// + i minutes, token i, and every other field set to something that varies
// with i. Tests use it to build data sets.
func Rec(job string, i int) logsink.Record {
	tick := base.Add(time.Duration(i) * time.Minute)
	started := tick.Add(1500*time.Millisecond + time.Duration(i)*time.Microsecond + 789*time.Nanosecond)
	d := time.Duration(i+1)*time.Millisecond + 12345*time.Nanosecond
	statuses := []logsink.Status{logsink.StatusSucceeded, logsink.StatusFailed, logsink.StatusTimeout,
		logsink.StatusKilled, logsink.StatusSkipped, logsink.StatusLost}
	triggers := []logsink.Trigger{logsink.TriggerSchedule, logsink.TriggerManual, logsink.TriggerCatchup, logsink.TriggerRetry}
	r := logsink.Record{
		Job:      job,
		Tick:     tick,
		Shard:    i % 3,
		Instance: fmt.Sprintf("node-%d", i%2+1),
		Trigger:  triggers[i%len(triggers)],
		Attempt:  1 + i%2,
		Token:    int64(1_000_000_000_000 + i),
		Started:  started,
		Finished: started.Add(d),
		Duration: d,
		Status:   statuses[i%len(statuses)],
		ExitCode: i%5 - 1,
	}
	if r.Status != logsink.StatusSucceeded {
		r.Error = fmt.Sprintf("error %d: something went wrong", i)
	}
	if i%2 == 0 {
		r.Output = fmt.Sprintf("line 1 of run %d\nline 2\n", i)
	}
	return r
}

// Recs returns Rec(job, i) for i in [from, to).
func Recs(job string, from, to int) []logsink.Record {
	out := make([]logsink.Record, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, Rec(job, i))
	}
	return out
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func write(t *testing.T, s logsink.Sink, batch []logsink.Record) {
	t.Helper()
	if err := s.Write(ctxFor(t), batch); err != nil {
		t.Fatalf("Write(%d records): %v", len(batch), err)
	}
}

// All returns every record of q matching query's filters, following
// cursors with the largest page size, newest first. It fails the test on
// an error or a page that breaks the order.
func All(t testing.TB, q logsink.Querier, query logsink.Query) []logsink.Record {
	t.Helper()
	query.Limit = logsink.MaxQueryLimit
	query.Cursor = ""
	var out []logsink.Record
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("more than 1000 pages: the cursor does not advance")
		}
		p, err := q.Query(ctx, query)
		if err != nil {
			t.Fatalf("Query(%+v): %v", query, err)
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			break
		}
		if len(p.Records) == 0 {
			t.Fatalf("Query returned an empty page with a Next cursor")
		}
		query.Cursor = p.Next
	}
	checkOrder(t, out)
	return out
}

// checkOrder fails t unless recs are newest Tick first, without repeats.
func checkOrder(t testing.TB, recs []logsink.Record) {
	t.Helper()
	seen := make(map[string]bool, len(recs))
	for i, r := range recs {
		if i > 0 && r.Tick.After(recs[i-1].Tick) {
			t.Fatalf("results not newest first: record %d has tick %v after %v", i, r.Tick, recs[i-1].Tick)
		}
		k := idString(r.ID())
		if seen[k] {
			t.Fatalf("record %s returned twice", k)
		}
		seen[k] = true
	}
}

func idString(id logsink.RecordID) string {
	return fmt.Sprintf("%q/%s/%d/%d/%q", id.Job, id.Tick.UTC().Format(time.RFC3339Nano), id.Shard, id.Attempt, id.Instance)
}

// sameSet fails t unless got holds exactly the identities of want; then it
// compares each record's fields.
func sameSet(t testing.TB, got, want []logsink.Record) {
	t.Helper()
	byID := make(map[string]logsink.Record, len(want))
	for _, r := range want {
		byID[idString(r.ID())] = r
	}
	if len(got) != len(byID) {
		t.Errorf("got %d records, want %d", len(got), len(byID))
	}
	for _, g := range got {
		k := idString(g.ID())
		w, ok := byID[k]
		if !ok {
			t.Errorf("unexpected record %s", k)
			continue
		}
		delete(byID, k)
		CheckRecord(t, g, w)
	}
	n := 0
	for k := range byID {
		if n++; n <= 5 {
			t.Errorf("missing record %s", k)
		}
	}
	if n > 5 {
		t.Errorf("... and %d more missing", n-5)
	}
}

// CheckRecord reports (with t.Errorf) each field of got that differs from
// want: the Tick must be the same instant, Started and Finished equal to
// [TimePrecision], the rest equal.
func CheckRecord(t testing.TB, got, want logsink.Record) {
	t.Helper()
	id := idString(want.ID())
	if !got.Tick.Equal(want.Tick) {
		t.Errorf("%s: Tick = %v, want %v", id, got.Tick, want.Tick)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{{"Started", got.Started, want.Started}, {"Finished", got.Finished, want.Finished}} {
		if d := f.got.Sub(f.want); d <= -TimePrecision || d >= TimePrecision || f.got.IsZero() != f.want.IsZero() {
			t.Errorf("%s: %s = %v, want %v", id, f.name, f.got, f.want)
		}
	}
	checkSteps(t, id, got.Steps, want.Steps)
	g, w := got, want
	g.Tick, g.Started, g.Finished, g.Steps = time.Time{}, time.Time{}, time.Time{}, nil
	w.Tick, w.Started, w.Finished, w.Steps = time.Time{}, time.Time{}, time.Time{}, nil
	if g.Output != w.Output {
		t.Errorf("%s: Output differs: got %d bytes %q, want %d bytes %q", id, len(g.Output), abbrev(g.Output), len(w.Output), abbrev(w.Output))
		g.Output, w.Output = "", ""
	}
	if g.Error != w.Error {
		t.Errorf("%s: Error differs: got %d bytes %q, want %d bytes %q", id, len(g.Error), abbrev(g.Error), len(w.Error), abbrev(w.Error))
		g.Error, w.Error = "", ""
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: got %+v, want %+v", id, g, w)
	}
}

func checkSteps(t testing.TB, id string, got, want []logsink.StepRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d steps, want %d", id, len(got), len(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if d := g.Started.Sub(w.Started); d <= -TimePrecision || d >= TimePrecision || g.Started.IsZero() != w.Started.IsZero() {
			t.Errorf("%s: step %d Started = %v, want %v", id, i, g.Started, w.Started)
		}
		g.Started, w.Started = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("%s: step %d = %+v, want %+v", id, i, g, w)
		}
	}
}

func abbrev(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:40] + "..." + s[len(s)-40:]
}

func testEmptyBatch(t *testing.T, s logsink.Sink) {
	ctx := ctxFor(t)
	if err := s.Write(ctx, nil); err != nil {
		t.Fatalf("Write(nil): %v", err)
	}
	if err := s.Write(ctx, []logsink.Record{}); err != nil {
		t.Fatalf("Write(empty): %v", err)
	}
	if q, ok := s.(logsink.Querier); ok {
		if got := All(t, q, logsink.Query{}); len(got) != 0 {
			t.Fatalf("after empty writes the sink holds %d records", len(got))
		}
	}
}

func testBatches(t *testing.T, s logsink.Sink) {
	var want []logsink.Record
	from := 0
	for _, n := range []int{1, 2, 10, 100, 1000} {
		batch := Recs("batches", from, from+n)
		write(t, s, batch)
		want = append(want, batch...)
		from += n
	}
	if q, ok := s.(logsink.Querier); ok {
		sameSet(t, All(t, q, logsink.Query{}), want)
	}
}

func testFields(t *testing.T, s logsink.Sink) {
	var batch []logsink.Record
	for i := range 24 { // every status and trigger, shards, attempts, exit codes
		batch = append(batch, Rec("fields", i))
	}
	r := Rec("fields", 100)
	r.Tick = time.Date(2025, 6, 1, 12, 0, 0, 1, time.UTC) // one nanosecond past the second
	r.Token = 1<<62 + 7
	r.ExitCode = -1
	r.Shard = 41
	r.Attempt = 7
	r.Duration = 0
	r.Finished = r.Started
	batch = append(batch, r)
	r = Rec("fields", 102) // a pipeline job's record
	r.Steps = []logsink.StepRecord{
		{Name: "fetch", Status: logsink.StatusSucceeded, Started: r.Started, Duration: 1500 * time.Millisecond, Output: "fetched 3 files\n"},
		{Name: "build ü", Status: logsink.StatusSucceeded, Started: r.Started.Add(1500 * time.Millisecond), Duration: time.Second},
		{Name: "deploy", Status: logsink.StatusFailed, Started: r.Started.Add(2500 * time.Millisecond), Duration: 3, Error: "exit status 2", ExitCode: 2, Output: "permission denied\n"},
	}
	r.Status, r.Error, r.ExitCode = logsink.StatusFailed, "step deploy: exit status 2", 2
	batch = append(batch, r)
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	r = Rec("fields", 101)
	r.Tick, r.Started, r.Finished = r.Tick.In(loc), r.Started.In(loc), r.Finished.In(loc) // not UTC
	batch = append(batch, r)
	write(t, s, batch)
	if q, ok := s.(logsink.Querier); ok {
		got := All(t, q, logsink.Query{})
		sameSet(t, got, batch)
		for _, g := range got {
			if g.Tick.Location() != time.UTC {
				t.Errorf("%s: Tick in %v, want UTC", idString(g.ID()), g.Tick.Location())
				break
			}
		}
	}
}

func testIdempotentRetry(t *testing.T, s logsink.Sink) {
	a := Recs("retry", 0, 50)
	b := Recs("retry", 25, 75) // half already written
	write(t, s, a)
	write(t, s, a) // the pipeline's retry after an ambiguous failure
	write(t, s, b)
	write(t, s, a[10:11])
	// The same identity with other fields is still the same record: the
	// first write wins.
	dup := Rec("retry", 3)
	dup.Status, dup.Error, dup.Output = logsink.StatusFailed, "a different error", "different output"
	write(t, s, []logsink.Record{dup})
	if q, ok := s.(logsink.Querier); ok {
		sameSet(t, All(t, q, logsink.Query{}), Recs("retry", 0, 75))
	}
}

func testNotRetained(t *testing.T, s logsink.Sink) {
	batch := Recs("retained", 0, 20)
	want := slices.Clone(batch)
	write(t, s, batch)
	for i := range batch { // the pipeline reuses its batch buffer
		batch[i] = Rec("overwritten", 1000+i)
	}
	if q, ok := s.(logsink.Querier); ok {
		sameSet(t, All(t, q, logsink.Query{}), want)
	}
}

func testLargeOutput(t *testing.T, s logsink.Sink) {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, "%06d some output of a shell task, with a tab\tand \"quotes\" 'and' \\backslashes\\\n", i)
	}
	out := b.String()[:64<<10] // exactly 64 KiB, executor.MaxOutput
	var batch []logsink.Record
	for i := range 20 {
		r := Rec("large", i)
		r.Output = out
		r.Error = strings.Repeat("E", 16<<10)
		batch = append(batch, r)
	}
	write(t, s, batch)
	if q, ok := s.(logsink.Querier); ok {
		sameSet(t, All(t, q, logsink.Query{}), batch)
	}
}

func testUnicode(t *testing.T, s logsink.Sink) {
	texts := []string{
		"héllo wörld ñ ç",
		"日本語の出力 中文输出 한국어",
		"emoji 🎉🚀 and a flag 🇺🇦 and a family 👨‍👩‍👧",
		"עברית ومرحبا RTL",
		"combining e\u0301 and zero\u200bwidth and BOM \ufeff",
		"quotes ' \" ` and SQL ; -- /* */ and $1 ? :name and {\"$gt\": 1}",
		strings.Repeat("ü", 3000),
	}
	var batch []logsink.Record
	for i, txt := range texts {
		r := Rec("unicode-ジョブ-🎉", i)
		r.Instance = "nöde-" + fmt.Sprint(i) + "-節点"
		r.Output = txt
		r.Error = "error: " + txt
		batch = append(batch, r)
	}
	write(t, s, batch)
	if q, ok := s.(logsink.Querier); ok {
		sameSet(t, All(t, q, logsink.Query{}), batch)
		got := All(t, q, logsink.Query{Job: "unicode-ジョブ-🎉", Instance: "nöde-2-節点"})
		if len(got) != 1 || got[0].Output != texts[2] {
			t.Errorf("query by Unicode job and instance: got %d records, want 1", len(got))
		}
	}
}

func testInvalidText(t *testing.T, s logsink.Sink) {
	bad := []string{
		"invalid \xff\xfe UTF-8",
		"a NUL \x00 byte",
		"truncated rune \xe6\x97",
		"\x00",
	}
	var batch []logsink.Record
	for i, txt := range bad {
		r := Rec("invalid", i)
		r.Output = txt
		r.Error = txt
		batch = append(batch, r)
	}
	// A sink that refuses these would block its pipeline for good.
	write(t, s, batch)
	q, ok := s.(logsink.Querier)
	if !ok {
		return
	}
	got := All(t, q, logsink.Query{})
	if len(got) != len(batch) {
		t.Fatalf("got %d records, want %d", len(got), len(batch))
	}
	for _, g := range got {
		for _, txt := range []string{g.Output, g.Error} {
			if !utf8.ValidString(txt) && !slices.Contains(bad, txt) {
				t.Errorf("%s: stored text %q is neither valid UTF-8 nor the original", idString(g.ID()), txt)
			}
			if txt == "" {
				t.Errorf("%s: text lost entirely", idString(g.ID()))
			}
		}
	}
}

func testConcurrentWriters(t *testing.T, s logsink.Sink) {
	const writers, batches, size = 4, 10, 25
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches*2)
	for w := range writers {
		wg.Go(func() {
			job := fmt.Sprintf("concurrent-%d", w)
			for b := range batches {
				if err := s.Write(ctx, Recs(job, b*size, (b+1)*size)); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
				// Also repeat a batch another writer wrote or is writing.
				other := fmt.Sprintf("concurrent-%d", (w+1)%writers)
				if err := s.Write(ctx, Recs(other, b*size, b*size+5)); err != nil {
					errs <- fmt.Errorf("writer %d overlapping batch %d: %w", w, b, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if q, ok := s.(logsink.Querier); ok && !t.Failed() {
		var want []logsink.Record
		for w := range writers {
			want = append(want, Recs(fmt.Sprintf("concurrent-%d", w), 0, batches*size)...)
		}
		sameSet(t, All(t, q, logsink.Query{}), want)
	}
}

func testCancelled(t *testing.T, s logsink.Sink) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx, Recs("cancelled", 0, 10)) }()
	select {
	case <-done: // nil (written anyway) or an error: both are allowed
	case <-time.After(30 * time.Second):
		t.Fatal("Write with a cancelled context did not return within 30s")
	}
}

// queryData is the data set of the query tests: three jobs, two
// instances, every status, ticks shared between jobs.
func queryData() []logsink.Record {
	var out []logsink.Record
	for _, job := range []string{"alpha", "beta", "gamma"} {
		for i := range 40 {
			r := Rec(job, i/2) // pairs of records per tick: shard/attempt differ below
			if i%2 == 1 {
				r.Attempt++
				r.Trigger = logsink.TriggerRetry
			}
			r.Status = []logsink.Status{logsink.StatusSucceeded, logsink.StatusFailed, logsink.StatusTimeout,
				logsink.StatusKilled, logsink.StatusSkipped, logsink.StatusLost}[(i+len(job))%6]
			r.Instance = []string{"node-1", "node-2"}[(i/3)%2]
			out = append(out, r)
		}
	}
	return out
}

func filter(recs []logsink.Record, q logsink.Query) []logsink.Record {
	var out []logsink.Record
	for _, r := range recs {
		if Matches(q, r) {
			out = append(out, r)
		}
	}
	return out
}

func testQueryFilters(t *testing.T, s logsink.Sink, q logsink.Querier) {
	data := queryData()
	write(t, s, data)
	tick := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	queries := []struct {
		name string
		q    logsink.Query
	}{
		{"All", logsink.Query{}},
		{"Job", logsink.Query{Job: "beta"}},
		{"UnknownJob", logsink.Query{Job: "nope"}},
		{"Instance", logsink.Query{Instance: "node-2"}},
		{"Status", logsink.Query{Statuses: []logsink.Status{logsink.StatusFailed}}},
		{"Statuses", logsink.Query{Statuses: []logsink.Status{logsink.StatusTimeout, logsink.StatusLost, logsink.StatusKilled}}},
		{"SinceInclusive", logsink.Query{Since: tick(5)}},
		{"UntilExclusive", logsink.Query{Until: tick(15)}},
		{"OneTick", logsink.Query{Since: tick(5), Until: tick(6)}},
		{"EmptyRange", logsink.Query{Since: tick(5), Until: tick(5)}},
		{"NanosecondBound", logsink.Query{Since: tick(5).Add(time.Nanosecond), Until: tick(7)}},
		{"Combined", logsink.Query{Job: "gamma", Instance: "node-1", Statuses: []logsink.Status{logsink.StatusSucceeded, logsink.StatusSkipped}, Since: tick(2), Until: tick(18)}},
		{"UnknownStatus", logsink.Query{Job: "alpha", Statuses: []logsink.Status{"no-such-status"}}},
	}
	for _, tc := range queries {
		t.Run(tc.name, func(t *testing.T) {
			want := filter(data, tc.q)
			got := All(t, q, tc.q)
			sameSet(t, got, want)
		})
	}
}

func testQueryPagination(t *testing.T, s logsink.Sink, q logsink.Querier) {
	data := queryData()
	write(t, s, data)
	ctx := ctxFor(t)
	for _, query := range []logsink.Query{{}, {Job: "alpha"}, {Statuses: []logsink.Status{logsink.StatusFailed, logsink.StatusSucceeded}}} {
		full := All(t, q, query)
		sameSet(t, full, filter(data, query))
		limits := []int{7, 40, len(full) - 1, len(full), len(full) + 1}
		if len(full) <= 40 {
			limits = append(limits, 1)
		}
		for _, limit := range limits {
			query.Limit, query.Cursor = limit, ""
			var paged []logsink.Record
			for pages := 0; ; pages++ {
				if pages > len(full)+1 {
					t.Fatalf("limit %d: too many pages", limit)
				}
				p, err := q.Query(ctx, query)
				if err != nil {
					t.Fatalf("limit %d: %v", limit, err)
				}
				if len(p.Records) > limit {
					t.Fatalf("limit %d: page of %d records", limit, len(p.Records))
				}
				if p.Next != "" && len(p.Records) != limit {
					t.Fatalf("limit %d: short page of %d records with a Next cursor", limit, len(p.Records))
				}
				paged = append(paged, p.Records...)
				if p.Next == "" {
					break
				}
				query.Cursor = p.Next
			}
			if len(paged) != len(full) {
				t.Fatalf("%+v limit %d: %d records over all pages, want %d", query, limit, len(paged), len(full))
			}
			for i := range paged {
				if !paged[i].ID().Equal(full[i].ID()) {
					t.Fatalf("%+v limit %d: record %d is %s, want %s (the order is not stable)", query, limit, i, idString(paged[i].ID()), idString(full[i].ID()))
				}
			}
		}
	}
	// A cursor keeps working while newer records arrive: they are not in
	// the following pages, older ones still are.
	p, err := q.Query(ctx, logsink.Query{Job: "alpha", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, Recs("alpha", 500, 505))
	rest := queryRest(t, q, logsink.Query{Job: "alpha", Limit: 10, Cursor: p.Next})
	checkOrder(t, append(slices.Clone(p.Records), rest...))
	if want := len(filter(data, logsink.Query{Job: "alpha"})) - 10; len(rest) != want {
		t.Fatalf("after newer inserts the following pages hold %d records, want %d", len(rest), want)
	}
}

// queryRest follows query's cursor page by page.
func queryRest(t *testing.T, q logsink.Querier, query logsink.Query) []logsink.Record {
	t.Helper()
	var out []logsink.Record
	for {
		p, err := q.Query(ctxFor(t), query)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out
		}
		query.Cursor = p.Next
	}
}

func testQueryLimits(t *testing.T, s logsink.Sink, q logsink.Querier) {
	n := logsink.MaxQueryLimit + 1
	write(t, s, Recs("limits", 0, n))
	ctx := ctxFor(t)
	for _, tc := range []struct{ limit, want int }{
		{0, logsink.DefaultQueryLimit},
		{-3, logsink.DefaultQueryLimit},
		{1, 1},
		{logsink.MaxQueryLimit, logsink.MaxQueryLimit},
		{logsink.MaxQueryLimit * 5, logsink.MaxQueryLimit},
	} {
		p, err := q.Query(ctx, logsink.Query{Limit: tc.limit, OmitOutput: true})
		if err != nil {
			t.Fatalf("limit %d: %v", tc.limit, err)
		}
		if len(p.Records) != tc.want || p.Next == "" {
			t.Errorf("limit %d: %d records, Next %q; want %d records and a Next cursor", tc.limit, len(p.Records), p.Next, tc.want)
		}
	}
	p, err := q.Query(ctx, logsink.Query{Limit: n, OmitOutput: true, Since: base})
	if err != nil {
		t.Fatal(err)
	}
	p, err = q.Query(ctx, logsink.Query{Limit: n, OmitOutput: true, Since: base, Cursor: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 1 || p.Next != "" {
		t.Errorf("last page: %d records, Next %q; want 1 record and no cursor", len(p.Records), p.Next)
	}
}

func testQueryBadCursor(t *testing.T, s logsink.Sink, q logsink.Querier) {
	write(t, s, Recs("cursor", 0, 3))
	for _, c := range []string{"!!not base64!!", "bm90IGpzb24", "e30=x", "eyJ0IjoibmF0In0"} {
		_, err := q.Query(ctxFor(t), logsink.Query{Cursor: c})
		if !errors.Is(err, logsink.ErrBadCursor) {
			t.Errorf("cursor %q: error %v, want one wrapping logsink.ErrBadCursor", c, err)
		}
	}
}

func testQueryOmitOutput(t *testing.T, s logsink.Sink, q logsink.Querier) {
	batch := Recs("omit", 0, 10)
	for i := range batch {
		batch[i].Output = strings.Repeat("x", 1000+i)
	}
	batch[3].Steps = []logsink.StepRecord{{Name: "one", Status: logsink.StatusSucceeded, Started: batch[3].Started, Output: "step output"}}
	write(t, s, batch)
	got := All(t, q, logsink.Query{OmitOutput: true})
	if len(got) != len(batch) {
		t.Fatalf("got %d records, want %d", len(got), len(batch))
	}
	for _, g := range got {
		if g.Output != "" {
			t.Fatalf("%s: OmitOutput returned %d bytes of output", idString(g.ID()), len(g.Output))
		}
		if g.Error == "" && g.Status != logsink.StatusSucceeded {
			t.Fatalf("%s: OmitOutput dropped the error too", idString(g.ID()))
		}
		for _, st := range g.Steps {
			if st.Output != "" || st.Name != "one" {
				t.Fatalf("%s: OmitOutput returned step %+v, want its name without output", idString(g.ID()), st)
			}
		}
	}
}

func testGet(t *testing.T, s logsink.Sink, q logsink.Querier) {
	batch := Recs("get", 0, 10)
	batch[4].Tick = batch[4].Tick.Add(987 * time.Nanosecond) // a manual run's tick
	batch[4].Output = strings.Repeat("output ", 2000)
	write(t, s, batch)
	ctx := ctxFor(t)
	for _, want := range batch {
		got, err := q.Get(ctx, want.ID())
		if err != nil {
			t.Fatalf("Get(%s): %v", idString(want.ID()), err)
		}
		CheckRecord(t, got, want)
	}
	// The tick in another zone is the same instant.
	id := batch[4].ID()
	id.Tick = id.Tick.In(time.FixedZone("EST", -5*3600))
	if _, err := q.Get(ctx, id); err != nil {
		t.Errorf("Get with the tick in another zone: %v", err)
	}
	for _, id := range []logsink.RecordID{
		func() logsink.RecordID { id := batch[4].ID(); id.Tick = id.Tick.Add(time.Nanosecond); return id }(),
		func() logsink.RecordID { id := batch[4].ID(); id.Attempt++; return id }(),
		func() logsink.RecordID { id := batch[4].ID(); id.Shard++; return id }(),
		func() logsink.RecordID { id := batch[4].ID(); id.Instance = "other"; return id }(),
		func() logsink.RecordID { id := batch[4].ID(); id.Job = "GET"; return id }(),
	} {
		if _, err := q.Get(ctx, id); !errors.Is(err, logsink.ErrNotFound) {
			t.Errorf("Get(%s): error %v, want one wrapping logsink.ErrNotFound", idString(id), err)
		}
	}
}
