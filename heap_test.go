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
// costs (B/job) at 100,000 jobs: registered on a scheduler that is not
// started (the job, its schedule and executor), and registered and
// started against etcd (with its place in the tick queue, and the
// client, session and background work of the scheduler spread over the
// jobs). The jobs' period is an hour, so none fires while measured.
func BenchmarkRegisteredJobHeap(b *testing.B) {
	const jobs = 100_000
	for _, c := range []struct {
		name, spec string
		start      bool
	}{{"registered/every", "@every 1h", false}, {"registered/cron", "0 * * * *", false}, {"started/every", "@every 1h", true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, Logger: zap.NewNop()}
			if c.start {
				cfg.Endpoints = etcdtest.Start(b).Endpoints()
			}
			var perJob float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
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
				perJob = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / jobs
				if c.start {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					s.Stop(ctx)
					cancel()
				}
				cli.Close()
			}
			b.ReportMetric(perJob, "B/job")
		})
	}
}
