package main

import (
	"context"
	"sync"
	"time"

	"github.com/distcron/distcron/logsink"
)

type runKey struct {
	Job  string `json:"j"`
	Tick int64  `json:"t"`
}

// recorder is the sink: it counts runs per tick and keeps lateness samples
// of the ticks in the measured window [from, to); until the window is set,
// every record falls outside it. A soak recorder keeps no per-tick counts
// and one lateness sample in soakSampling, so that its own memory stays
// flat over a long window: it counts runs but cannot tell duplicates.
type recorder struct {
	mu       sync.Mutex
	soak     bool
	runs     map[runKey]int
	fired    int
	lateness []time.Duration
	worst    []time.Duration // the latest run of each second of the window
	from, to time.Time
}

const soakSampling = 100

func newRecorder(soak bool) *recorder { return &recorder{soak: soak, runs: make(map[runKey]int)} }

func (r *recorder) setWindow(from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from, r.to = from, to
}

func (r *recorder) Write(_ context.Context, batch []logsink.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range batch {
		if rec.Tick.Before(r.from) || !rec.Tick.Before(r.to) {
			continue
		}
		r.fired++
		late := rec.Started.Sub(rec.Tick)
		i := int(rec.Tick.Sub(r.from) / time.Second)
		if i >= len(r.worst) {
			r.worst = append(r.worst, make([]time.Duration, i+1-len(r.worst))...)
		}
		r.worst[i] = max(r.worst[i], late)
		if r.soak {
			if r.fired%soakSampling == 0 {
				r.lateness = append(r.lateness, late)
			}
			continue
		}
		r.runs[runKey{rec.Job, rec.Tick.UnixNano()}]++
		r.lateness = append(r.lateness, late)
	}
	return nil
}
