package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron/internal/usage"
)

// What a window cost etcd and the nodes, from the member's /metrics (etcd
// serves it on the client URL) and /proc/<pid>/stat, sampled at the
// window's start and end. The same accounting as tests/bench's (costs.go
// there), kept apart because the two are main packages of different modules.

// etcdCounters are the etcd 3.7 counters read: mvcc's puts and DeleteRange
// calls (one per request however many keys it removes, one per key a lease
// revoke removes), and the watch events sent to clients.
var etcdCounters = []string{
	"etcd_mvcc_put_total",
	"etcd_mvcc_delete_total",
	"etcd_debugging_mvcc_events_total",
}

// peakRSS is pid's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// sample is etcd's counters and CPU times at one instant.
type sample struct {
	etcd     map[string]float64
	etcdCPU  time.Duration
	nodesCPU time.Duration
}

func takeSample(endpoint string, etcdPid int, nodes []int) (sample, error) {
	m, err := usage.Scrape(endpoint, etcdCounters...)
	if err != nil {
		return sample{}, err
	}
	s := sample{etcd: m}
	if s.etcdCPU, err = usage.CPUTime(etcdPid); err != nil {
		return sample{}, err
	}
	for _, pid := range nodes {
		t, err := usage.CPUTime(pid)
		if err != nil {
			return sample{}, err
		}
		s.nodesCPU += t
	}
	return s, nil
}

// cost is what a window cost: the differences of two samples.
type cost struct {
	writes, events    float64 // etcd key writes (puts+deletes), watch events sent
	etcdCPU, nodesCPU time.Duration
	ok                bool
}

func (b sample) until(e sample) cost {
	d := func(k string) float64 { return e.etcd[k] - b.etcd[k] }
	return cost{
		writes:   d("etcd_mvcc_put_total") + d("etcd_mvcc_delete_total"),
		events:   d("etcd_debugging_mvcc_events_total"),
		etcdCPU:  e.etcdCPU - b.etcdCPU,
		nodesCPU: e.nodesCPU - b.nodesCPU,
		ok:       true,
	}
}

// loadAvg is the machine's 1-minute load average, "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
