package distcron

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/etcdtest"
)

// benchInstances makes n unstarted schedulers with their own clients and
// sessions against one etcd (fsync on), sharing a job "j" and a namespace.
func benchInstances(b *testing.B, n int, jobs int) ([]*Scheduler, []*concurrency.Session, []*clientv3.Client, *atomic.Int64) {
	c := etcdtest.Start(b)
	var rtts, ticks atomic.Int64
	var ss []*Scheduler
	var sessions []*concurrency.Session
	var clis []*clientv3.Client
	for i := 0; i < n; i++ {
		cfg := claimCounter(&rtts, &ticks)
		cfg.Endpoints = c.Endpoints()
		cli, err := clientv3.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cli.Close() })
		s, err := New(cli, WithNamespace("/bench/"), WithInstanceID(fmt.Sprintf("i%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < jobs; j++ {
			if err := s.Register(fmt.Sprintf("j%d", j), "@every 1s", executor.Func(func(context.Context) error { return nil })); err != nil {
				b.Fatal(err)
			}
		}
		sess, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sess.Close() })
		ss, sessions, clis = append(ss, s), append(sessions, sess), append(clis, cli)
	}
	return ss, sessions, clis, &rtts
}

// BenchmarkClaimTick measures one tick claimed by n competing instances: each
// sends its one-round-trip claim at once; exactly one wins. ns/op is the
// wall time of the tick; rtt/tick counts claim requests of all instances.
func BenchmarkClaimTick(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			ss, sessions, _, rtts := benchInstances(b, n, 1)
			base := time.Unix(0, 0)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tick := base.Add(time.Duration(i+1) * time.Second)
				var wg sync.WaitGroup
				var won atomic.Int32
				for k, s := range ss {
					wg.Add(1)
					go func() {
						defer wg.Done()
						reqs := []claimReq{{job: s.jobs["j0"], tick: tick, backup: k > 0}} // as the scheduler places them
						out, _, err := s.claim(ctx, reqs, sessions[k].Lease(), s.newInflight(reqs, sessions[k].Lease()))
						if err != nil {
							b.Error(err)
							return
						}
						if out[0].State == claimWon {
							won.Add(1)
						}
					}()
				}
				wg.Wait()
				if won.Load() != 1 {
					b.Fatalf("tick %d: %d winners", i, won.Load())
				}
			}
			b.ReportMetric(float64(rtts.Load())/float64(b.N), "rtt/tick")
		})
	}
}

// BenchmarkMutexTick is the baseline: the same tick guarded by a
// concurrency.Mutex per tick (TryLock by every instance, Unlock by the
// winner), as naive distributed cron libraries do.
func BenchmarkMutexTick(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			_, sessions, _, _ := benchInstances(b, n, 0)
			var rpcs atomic.Int64
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				var won atomic.Int32
				for _, sess := range sessions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						m := concurrency.NewMutex(sess, fmt.Sprintf("/bench/mutex/%d", i))
						err := m.TryLock(ctx)
						rpcs.Add(1) // TryLock: one Txn, plus a Delete when it loses
						if err == concurrency.ErrLocked {
							rpcs.Add(1)
							return
						}
						if err != nil {
							b.Error(err)
							return
						}
						won.Add(1)
						if err := m.Unlock(ctx); err != nil {
							b.Error(err)
						}
						rpcs.Add(1)
					}()
				}
				wg.Wait()
				if won.Load() < 1 {
					b.Fatalf("tick %d: no winner", i)
				}
			}
			b.ReportMetric(float64(rpcs.Load())/float64(b.N), "rtt/tick")
		})
	}
}

// BenchmarkClaimBatch measures claiming many jobs due at the same instant:
// one transaction of maxClaimBatch nested claims per round trip.
func BenchmarkClaimBatch(b *testing.B) {
	ss, sessions, _, rtts := benchInstances(b, 1, maxClaimBatch)
	s := ss[0]
	reqs := make([]claimReq, 0, maxClaimBatch)
	for _, j := range s.jobs {
		reqs = append(reqs, claimReq{job: j})
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range reqs {
			reqs[k].tick = time.Unix(int64(i+1), 0)
		}
		out, _, err := s.claim(ctx, reqs, sessions[0].Lease(), s.newInflight(reqs, sessions[0].Lease()))
		if err != nil || out[0].State != claimWon {
			b.Fatalf("claim: %v %v", out, err)
		}
	}
	b.ReportMetric(float64(maxClaimBatch*b.N)/b.Elapsed().Seconds(), "claims/s")
	b.ReportMetric(float64(rtts.Load())/float64(b.N), "rtt/batch")
}
