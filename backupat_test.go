package distcron

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// Backups check ticks on a grid of a quarter of the backup delay, so
// checks of ticks close together share one read: never later than the
// delay (the chaos checker's attempt span relies on it), at most a quarter
// of it earlier, and the same instant for ticks within one grid step.
func TestBackupChecksShareAGrid(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	d := s.backupDelay()
	grid := d / 4
	base := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	for _, off := range []time.Duration{0, time.Microsecond, grid / 3, grid - time.Nanosecond, grid, 7*grid + 1} {
		tick := base.Add(off)
		at := s.backupAt(tick)
		if !at.After(tick.Add(d-grid)) || at.After(tick.Add(d)) {
			t.Errorf("tick +%v: backup at %v after the tick, want within (%v, %v]", off, at.Sub(tick), d-grid, d)
		}
		if !at.Equal(at.Truncate(grid)) {
			t.Errorf("tick +%v: backup at %v, not on the %v grid", off, at, grid)
		}
	}
	if a, b := s.backupAt(base.Add(time.Microsecond)), s.backupAt(base.Add(grid-time.Microsecond)); !a.Equal(b) {
		t.Errorf("ticks in one grid step back up at %v and %v, want one instant", a, b)
	}
}

// A backup's check reads its batch's claims as key ranges of ticks: every
// claimed tick of the batch (at either end of a range, with or without a
// unit) is dropped, every unclaimed one kept, across ranges, and claims of
// ticks next to the batch's change nothing.
func TestBackupCheckDropsExactlyTheClaimedTicks(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	ctx := context.Background()
	base := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	a, b := &job{name: "a"}, &job{name: "b"}
	type entry struct {
		j       *job
		off     time.Duration
		unit    string
		claimed bool
	}
	entries := []entry{
		{a, 0, "", true},
		{b, 0, "s0", false},
		{b, 0, "s1", true},
		{a, time.Nanosecond, "", false},
		{b, 30 * time.Millisecond, "", true},
		{a, backupCheckSpan, "", true}, // the first range's last tick
		{a, backupCheckSpan + time.Nanosecond, "", false},
		{a, 120 * time.Millisecond, "", false},
		{b, 120 * time.Millisecond, "", true}, // the last range's last tick
	}
	var batch []claimReq
	var want []string
	for _, e := range entries {
		r := claimReq{job: e.j, tick: base.Add(e.off), unit: e.unit, backup: true}
		batch = append(batch, r)
		if e.claimed {
			if _, err := cli.Put(ctx, s.claimKey(r), "other 1"); err != nil {
				t.Fatal(err)
			}
		} else {
			want = append(want, s.claimKey(r))
		}
	}
	for _, r := range []claimReq{ // neighbours, not in the batch
		{job: a, tick: base.Add(-time.Nanosecond), backup: true},
		{job: b, tick: base.Add(time.Nanosecond), backup: true},
		{job: a, tick: base.Add(120*time.Millisecond + time.Nanosecond), backup: true},
	} {
		if _, err := cli.Put(ctx, s.claimKey(r), "other 1"); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range s.dropClaimed(ctx, batch) {
		got = append(got, s.claimKey(r))
	}
	if !slices.Equal(got, want) {
		t.Errorf("kept %q\nwant %q", got, want)
	}
}

// A backup check of ticks that share one instant reads only the claims
// between its batch's job names: when thousands of jobs share the instant,
// a read of the instant's whole range would return every job's claim for
// each batch of backups. It still drops every claimed tick of the batch,
// units included, and keeps the unclaimed ones.
func TestBackupCheckOfOneInstantReadsOnlyItsJobs(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	var ranges [][2]string
	cfg := clientv3.Config{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if tr, ok := req.(*pb.TxnRequest); ok {
				mu.Lock()
				for _, op := range tr.Success {
					if rr := op.GetRequestRange(); rr != nil {
						ranges = append(ranges, [2]string{string(rr.Key), string(rr.RangeEnd)})
					}
				}
				mu.Unlock()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})}}
	s, cli := tc.spiedScheduler(cfg)
	ctx := context.Background()
	tick := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	var all []string // every claim key of the instant
	var batch []claimReq
	var want []string
	for i := range 400 {
		j := &job{name: fmt.Sprintf("job-%03d", i)}
		r := claimReq{job: j, tick: tick, backup: true}
		if i == 199 {
			r.unit = "s1" // a unit of the batch's last job
		}
		if i%10 != 3 { // every tenth job's tick is unclaimed
			if _, err := cli.Put(ctx, s.claimKey(r), "other 1"); err != nil {
				t.Fatal(err)
			}
			all = append(all, s.claimKey(r))
		}
		if i >= 100 && i < 200 {
			batch = append(batch, r)
			if i%10 == 3 {
				want = append(want, s.claimKey(r))
			}
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
	var got []string
	for _, r := range s.dropClaimed(ctx, batch) {
		got = append(got, s.claimKey(r))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kept %q\nwant %q", got, want)
	}
	read := 0
	for _, k := range all {
		for _, r := range ranges {
			if k >= r[0] && k < r[1] {
				read++
				break
			}
		}
	}
	if claimed := len(batch) - len(want); read != claimed {
		t.Errorf("the check's ranges %q cover %d of the instant's %d claims, want the batch's %d", ranges, read, len(all), claimed)
	}
}
