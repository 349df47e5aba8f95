package distcron

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/etcdtest"
)

// BenchmarkRegisteredJobHeap reports the live heap one registered job
// costs (B/job): registered on a scheduler that is not started (the job,
// its schedule and executor), and registered and started against etcd
// (with its place in the tick queue, and the client, session and
// background work of the scheduler spread over the jobs), with the
// goroutines a started scheduler adds, at 1,000 and 100,000 jobs. The
// jobs' period is an hour, so none fires while measured.
func BenchmarkRegisteredJobHeap(b *testing.B) {
	for _, c := range []struct {
		name, spec string
		jobs       int
		start      bool
	}{
		{"registered/every/100000", "@every 1h", 100_000, false},
		{"registered/cron/100000", "0 * * * *", 100_000, false},
		{"started/every/1000", "@every 1h", 1_000, true},
		{"started/every/100000", "@every 1h", 100_000, true},
	} {
		jobs := c.jobs
		b.Run(c.name, func(b *testing.B) {
			cfg := clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, Logger: zap.NewNop()}
			if c.start {
				cfg.Endpoints = etcdtest.Start(b).Endpoints()
			}
			var perJob float64
			var goroutines int
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				cli, err := clientv3.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				s, err := New(cli, WithLogger(zap.NewNop()), WithNamespace(fmt.Sprintf("/heap-%d/", time.Now().UnixNano())))
				if err != nil {
					b.Fatal(err)
				}
				for j := range jobs {
					if err := s.RegisterFunc(fmt.Sprintf("job-%d", j), c.spec, func(context.Context) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
				if c.start {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := s.Start(ctx)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perJob = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(jobs)
				goroutines = runtime.NumGoroutine() - g0
				if c.start {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					s.Stop(ctx)
					cancel()
				}
				cli.Close()
			}
			b.ReportMetric(perJob, "B/job")
			if c.start {
				b.ReportMetric(float64(goroutines), "goroutines")
			}
		})
	}
}
