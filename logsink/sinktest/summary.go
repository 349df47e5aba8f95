package sinktest

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

var _ logsink.Summarizer = (*Memory)(nil)

// Summarize implements [logsink.Summarizer]: it counts the stored records
// that pass the filters of q ([Matches]) by job and status, sorted by job
// and status.
func (m *Memory) Summarize(ctx context.Context, q logsink.Query) ([]logsink.StatusCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type key struct {
		job    string
		status logsink.Status
	}
	counts := map[key]*logsink.StatusCount{}
	m.mu.RLock()
	for _, r := range m.recs {
		if !Matches(q, r) {
			continue
		}
		k := key{r.Job, r.Status}
		c := counts[k]
		if c == nil {
			c = &logsink.StatusCount{Job: r.Job, Status: r.Status}
			counts[k] = c
		}
		c.Runs++
		if r.Tick.After(c.Last) {
			c.Last = r.Tick
		}
	}
	m.mu.RUnlock()
	out := make([]logsink.StatusCount, 0, len(counts))
	for _, c := range counts {
		c.Last = c.Last.UTC()
		out = append(out, *c)
	}
	SortCounts(out)
	return out, nil
}

// SortCounts sorts counts by job, then status (byte order), as [Memory]
// returns them; use it to compare the answers of two Summarizers.
func SortCounts(counts []logsink.StatusCount) {
	slices.SortFunc(counts, func(a, b logsink.StatusCount) int {
		return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.Status, b.Status))
	})
}

// CheckSummarizer checks a sink's [logsink.Summarizer] against [Memory]:
// it writes the same records to both (s must be empty) and compares the
// counts and newest ticks for queries with every filter. It fails t if s is
// not a Summarizer.
func CheckSummarizer(t *testing.T, s logsink.Sink) {
	t.Helper()
	sum, ok := s.(logsink.Summarizer)
	if !ok {
		t.Fatalf("%T is not a logsink.Summarizer", s)
	}
	// Deadlines are per call: a slow server (FerretDB on a loaded machine
	// answers each group's newest tick with a query of its own) must not
	// fail the later queries for the time the earlier ones took.
	ctx := context.Background()
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 30*time.Second) }
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	jobs := []string{"backup", "report", "sync"}
	statuses := []logsink.Status{logsink.StatusSucceeded, logsink.StatusSucceeded, logsink.StatusFailed,
		logsink.StatusTimeout, logsink.StatusSkipped, logsink.StatusKilled, logsink.StatusLost}
	var recs []logsink.Record
	for i := range 300 {
		tick := base.Add(time.Duration(i) * time.Minute)
		recs = append(recs, logsink.Record{
			Job: jobs[i%len(jobs)], Tick: tick, Instance: []string{"n0", "n1"}[i%2], Trigger: logsink.TriggerSchedule,
			Attempt: 1, Token: int64(i + 1), Started: tick, Finished: tick.Add(time.Second), Duration: time.Second,
			Status: statuses[(i/3)%len(statuses)],
		})
	}
	var ref Memory
	if err := ref.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := call()
	err := s.Write(wctx, recs)
	cancel()
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	queries := []logsink.Query{
		{},
		{Job: "report"},
		{Instance: "n1"},
		{Statuses: []logsink.Status{logsink.StatusFailed, logsink.StatusLost}},
		{Since: base.Add(100 * time.Minute)},
		{Until: base.Add(100 * time.Minute)},
		{Job: "sync", Instance: "n0", Since: base.Add(30 * time.Minute), Until: base.Add(200*time.Minute + time.Nanosecond)},
		{Job: "nothing"},
		{Limit: 1, Cursor: "ignored", OmitOutput: true},
	}
	for _, q := range queries {
		want, _ := ref.Summarize(ctx, q)
		qctx, cancel := call()
		got, err := sum.Summarize(qctx, q)
		cancel()
		if err != nil {
			t.Errorf("Summarize(%+v): %v", q, err)
			continue
		}
		SortCounts(got)
		if !equalCounts(got, want) {
			t.Errorf("Summarize(%+v):\n got %v\nwant %v", q, got, want)
		}
	}
}

func equalCounts(a, b []logsink.StatusCount) bool {
	return slices.EqualFunc(a, b, func(x, y logsink.StatusCount) bool {
		return x.Job == y.Job && x.Status == y.Status && x.Runs == y.Runs && x.Last.Equal(y.Last)
	})
}
