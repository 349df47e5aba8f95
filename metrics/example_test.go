package metrics_test

import (
	"context"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/metrics"
)

// Wiring: the collector is created first because it is also a sink of the
// scheduler (it counts run records); Attach then lets it read the
// scheduler's counters and the cluster's instances at scrape time. The
// host mounts the registry's handler on its own server.
func Example() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	c := metrics.New()
	sched, err := distcron.New(cli, distcron.WithNamespace("/distcron/myapp/"), distcron.WithSinks(c))
	if err != nil {
		log.Fatal(err)
	}
	c.Attach(sched)

	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	if err := sched.RegisterShell("cleanup", "@every 10m", "find /tmp/x -mtime +1 -delete"); err != nil {
		log.Fatal(err)
	}
	if err := sched.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer sched.Stop(context.Background())
	log.Fatal(http.ListenAndServe(":8080", mux))
}
