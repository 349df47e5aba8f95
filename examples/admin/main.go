// Command admin is a service with a distcron scheduler, its web console
// and its Prometheus metrics, mounted on the service's own HTTP server:
//
//	mux.Handle("/cron/", http.StripPrefix("/cron", admin.NewHandler(sched, ...)))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// It registers a few demo jobs, keeps the run history in SQLite (or
// MongoDB, PostgreSQL, MySQL: -sink, -sink-dsn) so the console can show it,
// and prints the console's URL. With no flags it needs nothing but Go (an
// embedded etcd, an SQLite file in the temporary directory):
//
//	go run ./examples/admin
//	# open http://127.0.0.1:8080/cron/
//
// The console and its API need an authorization: with -token, requests
// must carry "Authorization: Bearer <token>" (the console asks for it) to
// see the jobs, runs and instances and to change anything (define, run
// now, kill, pause, delete); without it, only clients on this machine may
// (connections from a loopback address; behind a reverse proxy on the same
// host, use -token). -read-only turns changes off; reads still need the
// token when one is set. The console answers only to the host names it is
// reached by on this machine (localhost, 127.0.0.1, [::1]); list others
// with -allowed-hosts (DNS rebinding protection). Secret values (HTTP
// headers, env) are never shown. Shell jobs defined from the console run
// only with -allow-remote-shell, HTTP jobs only with -allow-remote-http: a
// command from the network is remote code execution.
//
// Run it several times against one etcd (-etcd, different -addr) for a
// cluster; each instance serves the whole cluster's console. The first
// instance prints its embedded etcd's address for the others:
//
//	go run ./examples/admin -allow-remote-shell
//	# etcd: http://127.0.0.1:PORT (embedded; ...)
//	go run ./examples/admin -allow-remote-shell -etcd http://127.0.0.1:PORT -addr 127.0.0.1:8081
//
// By default (-sink sqlite, no -sink-dsn) the instances of one cluster on
// one machine share one SQLite file, named by the etcd cluster and the
// namespace, so every console shows the whole cluster's history. Instances
// on several machines need a shared store: -sink postgres, mysql or mongo.
// SIGINT or SIGTERM stops it gracefully.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/examples/internal/examplesinks"
	"github.com/distcron/distcron/examples/internal/exampleutil"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/metrics"
)

type flags struct {
	addr, etcd, ns, id, sink, sinkDSN, token, remoteHTTP, hosts string
	readOnly, remoteShell                                       bool
}

func main() {
	var f flags
	flag.StringVar(&f.addr, "addr", "127.0.0.1:8080", "HTTP listen address (port 0: any free port)")
	flag.StringVar(&f.etcd, "etcd", os.Getenv("DISTCRON_ETCD"), "etcd endpoints, comma-separated (empty: start an embedded etcd)")
	flag.StringVar(&f.ns, "ns", "/distcron/admin-example/", "etcd namespace prefix")
	flag.StringVar(&f.id, "id", "", "instance id (default host-pid-random)")
	flag.StringVar(&f.sink, "sink", "sqlite", "run history store: "+examplesinks.SinkKinds+" (stdout keeps no history)")
	flag.StringVar(&f.sinkDSN, "sink-dsn", "", "data source for -sink: a SQLite file, a MongoDB URI, a PostgreSQL or MySQL DSN (empty sqlite: one file in the temporary directory shared by this cluster's instances on this machine; empty mongo: an embedded FerretDB)")
	flag.StringVar(&f.token, "token", os.Getenv("DISTCRON_ADMIN_TOKEN"), "bearer token that allows changes from the console and the API (empty: loopback clients only)")
	flag.BoolVar(&f.readOnly, "read-only", false, "refuse every change from the console and the API")
	flag.StringVar(&f.hosts, "allowed-hosts", "", "host names the console answers to besides localhost and loopback addresses, comma-separated (name, name:port, *.domain; \"*\": any)")
	flag.BoolVar(&f.remoteShell, "allow-remote-shell", false, "run shell jobs defined from the console (remote code execution: only where intended)")
	flag.StringVar(&f.remoteHTTP, "allow-remote-http", "", "run HTTP jobs defined from the console, to these hosts (comma-separated; \"*\": any host)")
	flag.Parse()
	log, _ := zap.NewDevelopment() // operational logs on stderr
	defer log.Sync()
	if err := run(f, log); err != nil {
		log.Fatal("admin example", zap.Error(err))
	}
}

func run(f flags, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	etcd, err := exampleutil.Connect(f.etcd, log)
	if err != nil {
		return err
	}
	defer etcd.Close()
	shared := ""
	if f.sink == "sqlite" && f.sinkDSN == "" {
		// One history for the cluster's instances on this machine, so that
		// every console shows every instance's runs.
		if f.sinkDSN, err = sharedHistory(ctx, etcd.Client, f.ns); err != nil {
			return err
		}
		shared = f.sinkDSN
	}
	sink, closeSink, err := examplesinks.OpenSink(f.sink, f.sinkDSN, log)
	if err != nil {
		return err
	}
	defer closeSink()

	// The metrics collector is a sink too (it counts run records), so it
	// is made first and attached to the scheduler afterwards.
	collector := metrics.New()
	opts := []distcron.Option{
		distcron.WithNamespace(f.ns), distcron.WithLogger(log),
		distcron.WithSinks(sink, collector), distcron.WithRemoteShell(f.remoteShell),
	}
	if f.id != "" {
		opts = append(opts, distcron.WithInstanceID(f.id))
	}
	if f.remoteHTTP != "" {
		opts = append(opts, distcron.WithRemoteHTTP(strings.Split(f.remoteHTTP, ",")...))
	}
	sched, err := distcron.New(etcd.Client, opts...)
	if err != nil {
		return err
	}
	collector.Attach(sched)
	if err := registerDemoJobs(sched); err != nil {
		return err
	}

	// The console: read-only unless an authorizer says yes, and readable
	// with the same authorization; the run history comes from the sink
	// when it can be queried.
	adminOpts := []admin.Option{admin.WithLogger(log)}
	if q, ok := sink.(logsink.Querier); ok {
		adminOpts = append(adminOpts, admin.WithHistory(q))
	}
	if f.readOnly {
		if f.token != "" {
			adminOpts = append(adminOpts, admin.WithReadAuthorizer(authorizer(f.token)))
		} // else: the default, reads from this machine only
	} else {
		adminOpts = append(adminOpts, admin.WithAuthorizer(authorizer(f.token)))
	}
	if f.hosts != "" {
		adminOpts = append(adminOpts, admin.WithAllowedHosts(strings.Split(f.hosts, ",")...))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/cron/", http.StripPrefix("/cron", admin.NewHandler(sched, adminOpts...)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /{$}", http.RedirectHandler("/cron/", http.StatusFound))

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sched.Start(startCtx); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	access := "from this machine only (set -token to allow others)"
	if f.token != "" {
		access = "with the header \"Authorization: Bearer <-token>\" (the console asks for the token)"
	}
	fmt.Println("reads:            " + access)
	if f.readOnly {
		fmt.Println("changes:          off (-read-only)")
	} else {
		fmt.Println("changes:          " + access)
	}
	if _, ok := sink.(logsink.Querier); !ok {
		fmt.Printf("history:          none (-sink %s cannot be queried)\n", f.sink)
	} else if shared != "" {
		fmt.Printf("history:          %s (SQLite, shared by this cluster's instances on this machine)\n", shared)
	}
	if etcd.Embedded() {
		eps := strings.Join(etcd.Endpoints(), ",")
		fmt.Printf("etcd:             %s (embedded; start more instances with -etcd %s -addr <another port>)\n", eps, eps)
	}
	fmt.Printf("metrics:          %s/metrics\n", base)
	fmt.Printf("distcron console: %s/cron/\n", base) // last: the others are out when it is

	var err2 error
	select {
	case <-ctx.Done():
	case err2 = <-served:
	}
	log.Info("stopping")
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelStop()
	if err := sched.Stop(stopCtx); errors.Is(err, distcron.ErrRunsCancelled) {
		// A slow job (search-reindex) outlasted the stop timeout: it was
		// cancelled and recorded as killed; that is a normal shutdown.
		log.Warn("shutdown cancelled runs in progress", zap.Error(err))
	} else if err != nil {
		return err
	}
	if errors.Is(err2, http.ErrServerClosed) {
		err2 = nil
	}
	return err2
}

// sharedHistory returns the SQLite file of the run history shared by the
// instances of one cluster (one etcd cluster, one namespace) on this
// machine: in the temporary directory, named by the etcd cluster's id and
// the namespace, so that a new embedded etcd starts a new history while
// instances joining it (-etcd) share its file. The file stays after exit:
// an instance restarted against the same etcd sees the history again.
func sharedHistory(ctx context.Context, cli *clientv3.Client, ns string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("etcd: %w", err)
	}
	dir := filepath.Join(os.TempDir(), "distcron-admin-example")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, ns), "_")
	return filepath.Join(dir, fmt.Sprintf("%016x-%s.db", resp.Header.ClusterId, name)), nil
}

// authorizer allows requests with the bearer token or, when there is no
// token, from loopback clients.
func authorizer(token string) func(*http.Request) error {
	if token != "" {
		want := []byte("Bearer " + token)
		return func(r *http.Request) error {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				return errors.New("a valid access token is required (Authorization: Bearer ...)")
			}
			return nil
		}
	}
	return func(r *http.Request) error {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return errors.New("this console is open to this machine only; start the service with -token to allow others")
		}
		return nil
	}
}

// registerDemoJobs registers a few jobs in code: quick ones, one that
// fails now and then, a shell command and a slow one.
func registerDemoJobs(sched *distcron.Scheduler) error {
	var calls atomic.Int64
	regs := []error{
		sched.RegisterFunc("heartbeat", "@every 5s", func(ctx context.Context) error { return nil }),
		sched.RegisterFunc("sync-crm", "@every 20s", func(ctx context.Context) error {
			if calls.Add(1)%3 == 0 {
				return errors.New("crm api: 503 Service Unavailable")
			}
			return nil
		}, distcron.Retry(2, time.Second, 5*time.Second)),
		sched.RegisterShell("disk-usage", "@every 30s", "df -h / | tail -n 1", distcron.Timeout(10*time.Second)),
		sched.RegisterFunc("search-reindex", "*/2 * * * *", func(ctx context.Context) error {
			select { // a slow job: watch it run, or kill it from the console
			case <-time.After(40 * time.Second):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}, distcron.Overlap(distcron.OverlapForbid)),
		sched.RegisterFunc("invoice-run", "CRON_TZ=Europe/Berlin 0 6 * * MON-FRI", func(ctx context.Context) error { return nil }),
	}
	return errors.Join(regs...)
}
