package logsink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var errSinkDown = errors.New("sink down")

// fault is what testSink does on a failing call.
type fault int

const (
	faultError fault = iota // return errSinkDown
	faultBlock              // block until ctx is done, return ctx.Err()
	faultPanic              // panic
)

// testSink records successful batches and fails on demand: always while
// failing is set, and on the first failFirst calls.
type testSink struct {
	mu        sync.Mutex
	batches   [][]Record
	failing   bool
	failFirst int
	fault     fault
	calls     int
	fails     int
}

func (s *testSink) Write(ctx context.Context, batch []Record) error {
	s.mu.Lock()
	s.calls++
	fail := s.failing || s.calls <= s.failFirst
	f := s.fault
	if fail {
		s.fails++
	} else {
		s.batches = append(s.batches, slices.Clone(batch))
	}
	s.mu.Unlock()
	if !fail {
		return nil
	}
	switch f {
	case faultBlock:
		<-ctx.Done()
		return ctx.Err()
	case faultPanic:
		panic("test sink exploded")
	default:
		return errSinkDown
	}
}

func (s *testSink) setFailing(v bool) {
	s.mu.Lock()
	s.failing = v
	s.mu.Unlock()
}

func (s *testSink) failCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails
}

func (s *testSink) records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

func (s *testSink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var testTick = time.Date(2025, 3, 30, 1, 30, 0, 0, time.UTC)

// rec returns a record of job whose Token is seq, so order can be checked.
func rec(job string, seq int) Record {
	started := testTick.Add(time.Duration(seq) * time.Millisecond)
	return Record{
		Job:      job,
		Tick:     testTick,
		Instance: "node-1",
		Trigger:  TriggerSchedule,
		Attempt:  1,
		Token:    int64(seq),
		Started:  started,
		Finished: started.Add(time.Second),
		Duration: time.Second,
		Status:   StatusSucceeded,
	}
}

func sendN(p *Delivery, job string, from, to int) {
	for i := from; i < to; i++ {
		p.Send(rec(job, i))
	}
}

// tokens returns the Tokens of records, grouped by job.
func tokens(records []Record) map[string][]int64 {
	out := map[string][]int64{}
	for _, r := range records {
		out[r.Job] = append(out[r.Job], r.Token)
	}
	return out
}

func seq(from, to int) []int64 {
	out := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, int64(i))
	}
	return out
}

func jobName(i int) string { return fmt.Sprintf("job-%d", i) }
