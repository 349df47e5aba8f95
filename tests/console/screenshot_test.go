package console_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/admintest"
	"github.com/distcron/distcron/logsink"
)

// envUpdateDocs, when "1", makes TestConsoleScreenshot write the README's
// screenshot to docs/console.png.
const envUpdateDocs = "DISTCRON_UPDATE_DOCS"

// demoJob is a job of the screenshot's cluster and its made-up last day.
type demoJob struct {
	name, spec string
	every      time.Duration // how often it ran over the last day
	fail       float64       // share of failed runs
	timeout    float64       // share of timed-out runs
	error      string
}

var demoJobs = []demoJob{
	{name: "cache-warmup", spec: "*/5 * * * *", every: 5 * time.Minute, fail: 0.004, error: "redis: connection reset by peer"},
	{name: "db-backup", spec: "0 2 * * *", every: 24 * time.Hour},
	{name: "heartbeat", spec: "@every 1m", every: time.Minute},
	{name: "invoice-run", spec: "CRON_TZ=Europe/Berlin 0 6 * * MON-FRI", every: 24 * time.Hour},
	{name: "search-reindex", spec: "0 */6 * * *", every: 6 * time.Hour},
	{name: "sync-crm", spec: "*/15 * * * *", every: 15 * time.Minute, fail: 0.07, timeout: 0.03, error: "crm api: 503 Service Unavailable"},
}

// TestConsoleScreenshot photographs the dashboard of a 3-instance cluster
// whose history holds a made-up day of runs (and real runs in progress),
// into the artifact directory; with DISTCRON_UPDATE_DOCS=1 also into
// docs/console.png for the README.
func TestConsoleScreenshot(t *testing.T) {
	chromiumPath(t)
	c := admintest.NewCluster(t)
	started := make(chan struct{}, 1)
	var nodes []*distcron.Scheduler
	for _, id := range []string{"api-1", "api-2", "worker-1"} {
		s := c.Node(id, distcron.WithRemoteShell(true))
		for _, j := range demoJobs {
			fn := func(context.Context) error { return nil }
			if j.name == "search-reindex" {
				fn = func(ctx context.Context) error {
					select {
					case started <- struct{}{}:
					default:
					}
					<-ctx.Done()
					return context.Cause(ctx)
				}
			}
			if err := s.RegisterFunc(j.name, j.spec, fn); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, c.Start(s))
	}
	ctx := context.Background()
	for _, d := range []distcron.Definition{
		{Name: "cleanup-tmp", Kind: "shell", Schedule: "@hourly", Shell: &distcron.ShellSpec{Command: "find /tmp/app -mtime +2 -delete"}},
		{Name: "legacy-export", Kind: "shell", Schedule: "30 3 * * *", Paused: true, Shell: &distcron.ShellSpec{Command: "/opt/export/run.sh"}},
	} {
		if err := nodes[0].Define(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	seedHistory(t, c, nodes)
	if err := nodes[0].Trigger(ctx, "search-reindex"); err != nil {
		t.Fatal(err)
	}
	<-started
	t.Cleanup(func() { _ = nodes[0].Kill(context.Background(), "search-reindex") })

	base := admintest.Serve(t, nodes[0], admin.WithAuthorizer(func(*http.Request) error { return nil }), admin.WithHistory(c.History))
	b := startBrowser(t, base, 1360, 940, 1.5)
	b.open("#/")
	b.until("the dashboard", `document.querySelectorAll('tr[data-job]').length === 8 && document.querySelectorAll('.stat').length === 6 && /running/.test(document.querySelector('tr[data-job="search-reindex"]').textContent)`)
	path := b.shot("console")
	b.open("#/jobs")
	b.until("the jobs", `document.querySelectorAll('tr[data-job]').length === 8`)
	b.shot("console-jobs")
	b.open("#/new")
	b.click("HTTP kind", `button[data-kind="http"]`)
	b.typeInto("#f-name", "report-webhook")
	b.typeInto("#f-schedule", "0 7 * * MON-FRI")
	b.typeInto("#f-url", "https://hooks.example.com/report")
	b.typeInto("#f-headers", "Authorization: Bearer …")
	b.until("the HTTP form", `document.querySelector('#f-url').offsetParent !== null && document.querySelector('#f-command').offsetParent === null && /hooks.example.com/.test(document.querySelector('#f-preview').textContent)`)
	b.shot("define-http")
	// Empty states of a read-only console without history.
	empty := admintest.NewCluster(t)
	lone := empty.Start(empty.Node("solo"))
	bare := admintest.Serve(t, lone)
	b.do("open the bare console", chromedp.Navigate(bare))
	b.until("the empty dashboard", `document.body.dataset.route === '#/' && document.querySelector('#mode:not([hidden])') && /No jobs yet/.test(document.body.textContent) && /history is not configured/.test(document.body.textContent)`)
	b.shot("empty-dashboard")
	b.open("#/runs")
	b.until("no history", `/history is not configured/.test(document.querySelector('#main').textContent)`)
	b.open("#/new")
	b.until("a disabled form", `document.querySelector('#f-submit').disabled && /Read-only/.test(document.querySelector('#define-form').textContent)`)
	b.shot("empty-define-readonly")
	b.do("back to the demo", chromedp.Navigate(base+"#/jobs"))
	b.until("the jobs", `document.body.dataset.route === '#/jobs' && document.querySelectorAll('tr[data-job]').length === 8`)

	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("dark mode: %v", err)
	}
	b.shot("console-jobs-dark")
	b.checkConsole()
	t.Logf("screenshot: %s", path)
	if os.Getenv(envUpdateDocs) == "1" {
		png, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("..", "..", "docs", "console.png")
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", dst)
	}
}

// seedHistory writes a made-up last day of runs of the demo jobs.
func seedHistory(t *testing.T, c *admintest.Cluster, nodes []*distcron.Scheduler) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	var recs []logsink.Record
	for _, j := range demoJobs {
		sched, err := distcron.ParseSchedule(j.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for tick := sched.Next(now.Add(-24 * time.Hour)); tick.Before(now.Add(-30 * time.Second)); tick = sched.Next(tick) {
			if j.name == "search-reindex" && now.Sub(tick) < time.Hour {
				continue
			}
			d := time.Duration(200+rng.IntN(1800)) * time.Millisecond
			r := logsink.Record{Job: j.name, Tick: tick, Instance: nodes[rng.IntN(len(nodes))].InstanceID(),
				Trigger: logsink.TriggerSchedule, Attempt: 1, Started: tick.Add(3 * time.Millisecond), Status: logsink.StatusSucceeded}
			switch x := rng.Float64(); {
			case x < j.fail:
				r.Status, r.Error = logsink.StatusFailed, j.error
			case x < j.fail+j.timeout:
				r.Status, r.Error, d = logsink.StatusTimeout, "context deadline exceeded", 30*time.Second
			}
			r.Finished, r.Duration = r.Started.Add(d), d
			recs = append(recs, r)
		}
	}
	hourly, _ := distcron.ParseSchedule("@hourly", nil)
	for tick := hourly.Next(now.Add(-24 * time.Hour)); tick.Before(now); tick = hourly.Next(tick) {
		r := logsink.Record{Job: "cleanup-tmp", Tick: tick, Instance: "worker-1", Trigger: logsink.TriggerSchedule, Attempt: 1,
			Started: tick, Finished: tick.Add(40 * time.Millisecond), Duration: 40 * time.Millisecond, Status: logsink.StatusSucceeded}
		if now.Sub(tick) > 20*time.Hour && now.Sub(tick) < 21*time.Hour {
			r.Status, r.Error = logsink.StatusLost, "instance worker-1 lost its session mid-run"
		}
		recs = append(recs, r)
	}
	if err := c.History.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Fatal(errors.New("no demo records"))
	}
}
