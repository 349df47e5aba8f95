package main

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary be a node: runSystem starts this
// executable with -role node.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// logWriter sends the run's log (the nodes' stderr included) to t.Log.
type logWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSmoke runs every system for a short window at a few jobs, the
// systems side by side, and checks that fires were counted, and that
// distcron ran no tick twice.
func TestSmoke(t *testing.T) {
	log := &logWriter{t: t}
	b, err := buildBinaries(systemNames, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.remove)
	c := config{nodes: 3, jobs: 5, every: time.Second, window: 2 * time.Second, warmup: time.Second,
		setup: 3 * time.Second, drain: time.Second}
	for _, name := range systemNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := runSystem(c, name, b, &logWriter{t: t})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: fired %d of %d ticks, %d duplicates, p99 %v, peak RSS %d MiB", name, r.fired, r.expected, r.dups, r.p99, r.rssMax>>20)
			if r.fired == 0 {
				t.Errorf("%s: no fires counted", name)
			}
			if name == "distcron" && r.dups != 0 {
				t.Errorf("distcron: %d duplicate fires", r.dups)
			}
		})
	}
}
