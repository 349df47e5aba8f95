package main

import (
	"fmt"
	"os"
	"time"

	"github.com/distcron/distcron/internal/usage"
)

// Cost accounting: where each fire's work goes. The parent samples, at the
// window's start and end, the etcd member's counters (its /metrics, which
// etcd serves on the client URL) and the CPU time of the processes involved
// (utime+stime from /proc/<pid>/stat), and divides the differences by the
// fires of the window.

// etcdCounters are the etcd 3.7 counters the bench reads. mvcc counts
// operations as its write transactions see them: a Put (a claim's create,
// a running key, a lease attach included) and a DeleteRange call (one per
// request, however many keys it removes; a lease revoke counts one per
// attached key) each count once; txn_total counts transactions of more than
// one operation (ranges included). events_total counts watch events sent to
// clients. keys_total is a gauge of live keys: a put that creates a key
// adds one, a deleted key takes one away. The window's puts less the
// change in live keys is the keys it deleted plus the puts that rewrote a
// key (in-flight keys rewritten as their runs end, progress statements,
// clock samples): an upper bound on the keys deleted, printed as such.
// The compaction counters show what etcd's auto-compaction did.
var etcdCounters = []string{
	"etcd_debugging_mvcc_keys_total",
	"etcd_debugging_mvcc_db_compaction_keys_total",
	"etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_sum",
	"etcd_mvcc_put_total",
	"etcd_mvcc_delete_total",
	"etcd_mvcc_txn_total",
	"etcd_mvcc_range_total",
	"etcd_debugging_mvcc_events_total",
	"etcd_server_proposals_applied_total",
	"etcd_disk_wal_fsync_duration_seconds_count",
	"process_cpu_seconds_total",
}

// costSample is one sampling instant: etcd's counters and CPU times.
type costSample struct {
	etcd      map[string]float64
	instances time.Duration // CPU of the instance processes together
}

// sampleCosts samples the etcd member at endpoint and the processes pids.
func sampleCosts(endpoint string, pids []int) (costSample, error) {
	m, err := usage.Scrape(endpoint, etcdCounters...)
	if err != nil {
		return costSample{}, err
	}
	s := costSample{etcd: m}
	for _, pid := range pids {
		t, err := usage.CPUTime(pid)
		if err != nil {
			return costSample{}, err
		}
		s.instances += t
	}
	return s, nil
}

// costs is what the window cost, as differences of two samples.
type costs struct {
	etcd      map[string]float64
	instances time.Duration
	ok        bool
	split     bool // instances run in processes of their own: CPU split between them and etcd
}

func (b costSample) until(e costSample) costs {
	c := costs{etcd: map[string]float64{}, instances: e.instances - b.instances, ok: true}
	for k, v := range e.etcd {
		c.etcd[k] = v - b.etcd[k]
	}
	return c
}

// measureCosts samples at start and start+window; it returns a func that
// waits for the second sample. A failed sample is reported on stderr and
// leaves the costs out.
func measureCosts(endpoint string, pids []int, start time.Time, window time.Duration) func() costs {
	done := make(chan costs, 1)
	go func() {
		time.Sleep(time.Until(start))
		b, err := sampleCosts(endpoint, pids)
		if err == nil {
			time.Sleep(time.Until(start.Add(window)))
			var e costSample
			if e, err = sampleCosts(endpoint, pids); err == nil {
				done <- b.until(e)
				return
			}
		}
		fmt.Fprintln(os.Stderr, "bench: cost sample:", err)
		done <- costs{}
	}()
	return func() costs { return <-done }
}

// print writes the cost of one fire.
func (c costs) print(fired int) {
	if !c.ok || fired == 0 {
		return
	}
	f := float64(fired)
	e := c.etcd
	puts, dels := e["etcd_mvcc_put_total"], e["etcd_mvcc_delete_total"]
	deleted := max(puts-e["etcd_debugging_mvcc_keys_total"], dels) // keys, not calls: at most
	fmt.Printf("per fire: etcd key writes=%.2f-%.2f (puts=%.2f; deletes: %.3f calls, at most %.2f keys) txns=%.2f ranges=%.2f raft proposals applied=%.2f wal fsyncs=%.3f watch events sent=%.2f\n",
		(puts+dels)/f, (puts+deleted)/f, puts/f, dels/f, deleted/f, e["etcd_mvcc_txn_total"]/f, e["etcd_mvcc_range_total"]/f,
		e["etcd_server_proposals_applied_total"]/f, e["etcd_disk_wal_fsync_duration_seconds_count"]/f, e["etcd_debugging_mvcc_events_total"]/f)
	fmt.Printf("etcd compaction in the window: %.2f revisions removed per fire, %.0f ms of pauses\n",
		e["etcd_debugging_mvcc_db_compaction_keys_total"]/f, e["etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds_sum"])
	etcdCPU := e["process_cpu_seconds_total"] * 1e6 / f
	if c.split {
		fmt.Printf("per fire: CPU instances=%.1f µs (all instance processes) etcd=%.1f µs (its process)\n",
			float64(c.instances.Microseconds())/f, etcdCPU)
	} else {
		fmt.Printf("per fire: CPU %.1f µs (instances and etcd share the process)\n", etcdCPU)
	}
}
