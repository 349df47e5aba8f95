package sinktest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// Oversized returns Rec(job, i) as the record of a failed pipeline job of
// 300 steps, each with 64 KiB of output (executor.MaxOutput), as is the
// record's own Output: about 19 MiB, more than a MongoDB document holds
// (16 MiB) and than MariaDB accepts in a packet by default (16 MiB). A
// Pipeline clips it ([logsink.Record.Clip]) before a sink sees it.
func Oversized(job string, i int) logsink.Record {
	var b strings.Builder
	for n := 0; b.Len() < 64<<10; n++ {
		fmt.Fprintf(&b, "%06d output of a step of a long pipeline, <html> & \"quotes\"\n", n)
	}
	out := b.String()[:64<<10]
	r := Rec(job, i)
	r.Status, r.ExitCode, r.Error, r.Output = logsink.StatusFailed, 1, "step step-299: exit status 1", out
	r.Steps = make([]logsink.StepRecord, 300)
	for k := range r.Steps {
		r.Steps[k] = logsink.StepRecord{Name: fmt.Sprintf("step-%d", k), Status: logsink.StatusSucceeded,
			Started: r.Started.Add(time.Duration(k) * time.Second), Duration: time.Second, Output: out}
	}
	last := &r.Steps[len(r.Steps)-1]
	last.Status, last.Error, last.ExitCode = logsink.StatusFailed, "exit status 1", 1
	return r
}

// testOversized checks that a sink never refuses an oversized record in a
// way that a pipeline would retry forever (it stores it, or refuses it
// with an error wrapping logsink.ErrPermanent), and that the clipped form
// a pipeline hands it is stored exactly, with the records around it.
func testOversized(t *testing.T, s logsink.Sink) {
	raw := Oversized("oversized", 0)
	if err := s.Write(ctxFor(t), []logsink.Record{raw}); err != nil && !errors.Is(err, logsink.ErrPermanent) {
		t.Errorf("Write of a %d-byte record of %d steps: %v; want nil or an error wrapping logsink.ErrPermanent (a pipeline retries any other error forever)",
			raw.Size(), len(raw.Steps), err)
	}

	big := Oversized("oversized", 1)
	want, clipped := big.Clip()
	if !clipped || want.Size() > logsink.MaxRecordBytes || len(want.Steps) > logsink.MaxRecordSteps || !strings.Contains(want.Error, logsink.ClipNote) {
		t.Fatalf("Clip: %d bytes, %d steps, clipped %v; want at most %d bytes and %d steps, and a note",
			want.Size(), len(want.Steps), clipped, logsink.MaxRecordBytes, logsink.MaxRecordSteps)
	}
	p, err := logsink.NewDelivery(s, logsink.WithFlushInterval(time.Millisecond),
		logsink.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	around := []logsink.Record{Rec("oversized", 2), Rec("oversized", 3)}
	p.Send(around[0])
	p.Send(big)
	p.Send(around[1])
	if err := p.Stop(ctxFor(t)); err != nil {
		t.Fatalf("pipeline Stop: %v", err)
	}
	if st := p.Stats(); st.Written != 3 || st.Clipped != 1 {
		t.Errorf("pipeline Stats = %+v, want Written 3 Clipped 1", st)
	}
	q, ok := s.(logsink.Querier)
	if !ok {
		return
	}
	ctx := ctxFor(t)
	for _, w := range append(around, want) {
		got, err := q.Get(ctx, w.ID())
		if err != nil {
			t.Errorf("Get(%s): %v", idString(w.ID()), err)
			continue
		}
		CheckRecord(t, got, w)
	}
}
