package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/logsink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's embedded server and gRPC leave these behind briefly after Close.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// endpoint serves a collector through promhttp on a pedantic registry (which
// checks that every collected metric matches a described one), the way a
// host would mount it.
type endpoint struct {
	t   *testing.T
	srv *httptest.Server
}

func serve(t *testing.T, c prometheus.Collector) *endpoint {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return &endpoint{t: t, srv: srv}
}

// scrape GETs the endpoint, lints the exposition and parses it.
func (e *endpoint) scrape() scrape {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/metrics", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("scrape: status %d, err %v\n%s", resp.StatusCode, err, body)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		e.t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		e.t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return scrape{mfs: mfs, text: string(body)}
}

// waitScrape scrapes until cond holds or the deadline passes, and returns
// the scrape that satisfied it.
func (e *endpoint) waitScrape(timeout time.Duration, what string, cond func(scrape) bool) scrape {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := e.scrape()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s; last scrape:\n%s", timeout, what, s.text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape is one parsed exposition.
type scrape struct {
	mfs  map[string]*dto.MetricFamily
	text string
}

// metric finds the first series of name whose labels include all of
// labels ("k=v" pairs).
func (s scrape) metric(name string, labels ...string) (*dto.Metric, bool) {
	for _, m := range s.mfs[name].GetMetric() {
		if matches(m, labels) {
			return m, true
		}
	}
	return nil, false
}

func matches(m *dto.Metric, labels []string) bool {
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k {
				found = lp.GetValue() == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// has reports whether a series of name with labels is present.
func (s scrape) has(name string, labels ...string) bool {
	_, ok := s.metric(name, labels...)
	return ok
}

// value is the value of the first matching counter or gauge, or the sample
// count of a histogram; 0 when no series matches.
func (s scrape) value(name string, labels ...string) float64 {
	m, ok := s.metric(name, labels...)
	if !ok {
		return 0
	}
	return valueOf(m)
}

func valueOf(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// sum adds the values of every series of name whose labels include labels.
func (s scrape) sum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.mfs[name].GetMetric() {
		if matches(m, labels) {
			total += valueOf(m)
		}
	}
	return total
}

// bucket is the cumulative count of the bucket with upper bound le of a
// histogram series.
func (s scrape) bucket(t *testing.T, name string, le float64, labels ...string) uint64 {
	t.Helper()
	m, ok := s.metric(name, labels...)
	if !ok || m.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	for _, b := range m.GetHistogram().GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("histogram %s has no bucket le=%v", name, le)
	return 0
}

// names lists the metric families present.
func (s scrape) names() []string { return slices.Sorted(maps.Keys(s.mfs)) }

// newScheduler returns a scheduler on cli in the test's namespace whose
// pipelines flush quickly, stopped (if started) on cleanup.
func newScheduler(t *testing.T, cli *clientv3.Client, id string, sinks ...logsink.Sink) *distcron.Scheduler {
	t.Helper()
	s, err := distcron.New(cli,
		distcron.WithNamespace("/distcron/"+t.Name()+"/"),
		distcron.WithInstanceID(id),
		distcron.WithLogger(zaptest.NewLogger(t)),
		distcron.WithSinks(sinks...),
		distcron.WithDeliveryOptions(logsink.WithFlushInterval(10*time.Millisecond)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil && !errors.Is(err, distcron.ErrNotStarted) {
			t.Errorf("stop %s: %v", id, err)
		}
	})
	return s
}

// registerJobs registers a job that succeeds and one that fails, both
// every 100ms.
func registerJobs(t *testing.T, s *distcron.Scheduler) {
	t.Helper()
	if err := s.RegisterFunc("fast", "@every 100ms", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunc("failing", "@every 100ms", func(context.Context) error { return errors.New("boom") }); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, s *distcron.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
}
