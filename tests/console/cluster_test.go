package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/admintest"
	"github.com/distcron/distcron/logsink"
)

// TestBrowserCluster: the console of an instance that has none of the
// jobs shows the cluster: a job registered in code on another instance,
// with its schedule and where it runs, paused, resumed and run from here;
// a shell job this instance refuses but another runs, not shown as an
// error; one of two runs killed from the job's page (after a second
// click), the other going on; the instances with their running counts and
// remote-job permissions, and those that stopped or crashed.
func TestBrowserCluster(t *testing.T) {
	chromiumPath(t)
	c := admintest.NewCluster(t)
	here := c.Start(c.Node("api-1"))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	worker := c.Node("worker-1", distcron.WithRemoteShell(true), distcron.WithTags("batch"))
	err := worker.RegisterFunc("reindex", "CRON_TZ=Europe/Berlin 30 2 * * *", func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-release:
			return nil
		}
	}, distcron.Sharded(2))
	if err != nil {
		t.Fatal(err)
	}
	c.Start(worker)
	leaving := c.Start(c.Node("api-2", distcron.WithClock(aheadClock{2 * time.Second})))
	crashCli := admintest.EtcdClient(t)
	c.Start(c.NodeOn(crashCli, "api-3"))
	ctx := context.Background()
	if err := here.Define(ctx, distcron.Definition{Name: "cleanup", Kind: "shell", Schedule: "@yearly", Shell: &distcron.ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}

	base := admintest.Serve(t, here, admin.WithAuthorizer(admintest.Allow), admin.WithHistory(c.History))
	b := startBrowser(t, base+"#/jobs", 1360, 900, 1)
	b.signIn()

	// The code job of worker-1, with its schedule and where it runs.
	b.until("reindex listed", `(() => { const r = document.querySelector('tr[data-job="reindex"][data-local="false"]');
		return r && r.dataset.instances === 'worker-1' && r.textContent.includes('CRON_TZ=Europe/Berlin 30 2 * * *') &&
			/runs on worker-1/.test(r.textContent) && r.querySelector('button[data-action="trigger"]:enabled'); })()`)
	// cleanup: refused here, run by worker-1: no error badge.
	b.until("cleanup runs elsewhere", `(() => { const r = document.querySelector('tr[data-job="cleanup"]');
		return r && r.dataset.instances === 'worker-1' && /runs on worker-1/.test(r.textContent) && !r.querySelector('.badge.refused'); })()`)
	if info, _ := here.JobInfo("cleanup"); info.Refused == nil {
		t.Fatalf("cleanup is not refused on api-1: %+v", info)
	}
	b.shot("cluster-jobs")

	// Pause and resume it from here: worker-1 follows.
	b.click("pause reindex", `button[data-action="pause"][data-job="reindex"]`)
	b.until("reindex paused", `document.querySelector('tr[data-job="reindex"][data-paused="true"] button[data-action="resume"]')`)
	admintest.WaitFor(t, 5*time.Second, "reindex paused on worker-1", func() bool { info, _ := worker.JobInfo("reindex"); return info.Paused })
	b.click("resume reindex", `button[data-action="resume"][data-job="reindex"]`)
	b.until("reindex resumed", `document.querySelector('tr[data-job="reindex"][data-paused="false"] button[data-action="pause"]')`)
	admintest.WaitFor(t, 5*time.Second, "reindex resumed on worker-1", func() bool { info, _ := worker.JobInfo("reindex"); return !info.Paused })

	// Run it now: two shards run on worker-1; kill one of them.
	b.click("run reindex now", `button[data-action="trigger"][data-job="reindex"]`)
	b.open("#/jobs/reindex")
	b.until("two runs", `document.querySelectorAll('tr[data-running-on="worker-1"] button[data-action="kill-run"]:enabled').length === 2`)
	b.until("its schedule on the page", `/CRON_TZ=Europe\/Berlin 30 2/.test(document.querySelector('dl.kv').textContent) && /worker-1/.test(document.querySelector('dl.kv').textContent)`)
	b.shot("kill-run")
	victim := b.text(`document.querySelector('tr[data-run-id]').dataset.runId`)
	sel := `tr[data-run-id=` + strconv.Quote(victim) + `] button[data-action="kill-run"]`
	b.click("kill one run", sel)
	b.until("kill armed", `document.querySelector('tr[data-run-id=`+strconv.Quote(victim)+`] button.confirm')`)
	if runs, _ := here.Running(ctx); len(runs) != 2 {
		t.Fatalf("a single click killed: %+v", runs)
	}
	b.click("confirm the kill", sel+".confirm")
	b.until("the killed run and the other running", `document.querySelector('tr[data-job="reindex"][data-status="killed"]') &&
		document.querySelectorAll('tr[data-running-on="worker-1"]').length === 1 && !document.querySelector('tr[data-run-id=`+strconv.Quote(victim)+`]')`)
	var killed []logsink.Record
	for _, r := range c.History.Records() {
		if r.Job == "reindex" {
			killed = append(killed, r)
		}
	}
	runs, err := here.Running(ctx)
	if err != nil || len(killed) != 1 || killed[0].Status != logsink.StatusKilled || len(runs) != 1 || runs[0].ID == victim {
		t.Fatalf("after killing %s: records %+v, running %+v (%v)", victim, killed, runs, err)
	}

	// Instances: running counts, remote-job permissions; one stops, one
	// crashes (its etcd client closes: the lease expires).
	b.open("#/instances")
	b.until("the instances", `document.querySelectorAll('tr[data-instance]').length === 4 &&
		document.querySelector('tr[data-instance="worker-1"][data-running="1"][data-remote-shell="true"][data-remote-http="false"]') &&
		document.querySelector('tr[data-instance="api-1"][data-running="0"][data-remote-shell="false"]')`)
	// api-2's clock runs 2s ahead: the instances estimate it through etcd.
	b.until("api-2's clock offset", `(() => { const td = document.querySelector('tr[data-instance="api-2"] td[data-clock-offset]');
		const ns = td && Number(td.dataset.clockOffset);
		return td && td.dataset.clockOffset !== '' && Math.abs(ns - 2e9) < 50e6 && td.querySelector('.badge') &&
			/following the median/.test(td.textContent) &&
			[...document.querySelectorAll('tr[data-instance] td[data-clock-offset]')].every((c) =>
				c.dataset.clockOffset !== '' && (c === td || Math.abs(Number(c.dataset.clockOffset)) < 50e6)); })()`)
	updateDoc(t, b.shot("instances-clock"), "console-instances.png")
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := leaving.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	crashCli.Close()
	b.until("the departed", `document.querySelectorAll('tr[data-instance]').length === 2 &&
		document.querySelector('tr[data-departed="api-2"][data-reason="stopped"]') &&
		document.querySelector('tr[data-departed="api-3"][data-reason="expired"]') &&
		/lease expired/.test(document.querySelector('tr[data-departed="api-3"]').textContent)`)
	b.shot("instances")
	b.checkConsole()
}

// aheadClock is the machine's clock shifted by a fixed offset.
type aheadClock struct{ by time.Duration }

func (c aheadClock) Now() time.Time                        { return time.Now().Add(c.by) }
func (aheadClock) NewTimer(d time.Duration) distcron.Timer { return timer{time.NewTimer(d)} }

type timer struct{ t *time.Timer }

func (t timer) C() <-chan time.Time        { return t.t.C }
func (t timer) Reset(d time.Duration) bool { return t.t.Reset(d) }
func (t timer) Stop() bool                 { return t.t.Stop() }

// TestBrowserDefineForm defines a pipeline job with everything a
// definition holds through the form, watching the next fire times follow
// the schedule as it is typed (a bad spec says why, live); then overrides
// the schedule of a job registered in code and deletes the override.
func TestBrowserDefineForm(t *testing.T) {
	chromiumPath(t)
	c := admintest.NewCluster(t)
	n := c.Node("node-1", distcron.WithRemoteShell(true))
	if err := n.RegisterFunc("report", "0 7 * * MON-FRI", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Start(n)
	base := admintest.Serve(t, n, admin.WithAuthorizer(admintest.Allow), admin.WithHistory(c.History))
	b := startBrowser(t, base, 1360, 1500, 1)
	b.signIn()
	b.open("#/new")

	// The live preview.
	b.typeInto("#f-schedule", "every 5 minutes")
	b.until("the spec's error", `/invalid schedule/.test(document.querySelector('#f-next-error').textContent)`)
	b.typeInto("#f-schedule", "15 9 * * MON-FRI")
	b.typeInto("#f-location", "Asia/Tokyo")
	b.until("five times in Tokyo", `document.querySelectorAll('#f-next-list li').length === 5 && /Asia\/Tokyo/.test(document.querySelector('#f-next').textContent) &&
		[...document.querySelectorAll('#f-next-list li')].every((li) => / 09:15:00/.test(li.textContent) && !/Sat|Sun/.test(li.textContent))`)
	b.typeInto("#f-location", "Mars/Olympus")
	b.until("the zone's error", `/not an IANA zone/.test(document.querySelector('#f-next-error').textContent)`)
	b.typeInto("#f-location", "Asia/Tokyo")
	b.until("the times again", `document.querySelectorAll('#f-next-list li').length === 5`)

	// A pipeline with a shell and an HTTP step, retries, chaining and the rest.
	b.click("pipeline kind", `button[data-kind="pipeline"]`)
	b.typeInto("#f-name", "etl")
	b.until("one step", `document.querySelectorAll('#f-steps .step').length === 1 && document.querySelector('#f-command').offsetParent === null`)
	b.typeInto(".step:nth-child(1) .s-name", "extract")
	b.typeInto(".step:nth-child(1) .s-command", "echo extracting")
	b.click("add a step", "#f-add-step")
	b.until("two steps", `document.querySelectorAll('#f-steps .step').length === 2`)
	b.typeInto(".step:nth-child(2) .s-name", "notify")
	b.js(`(() => { const k = document.querySelector('.step:nth-child(2) .s-kind'); k.value = 'http'; k.dispatchEvent(new Event('change', { bubbles: true })); })()`)
	b.typeInto(".step:nth-child(2) .s-url", "https://hooks.example.com/etl-done")
	b.typeInto(".step:nth-child(2) .s-headers", "X-Token: abc123")
	b.js(`(() => { const s = document.querySelector('#f-overlap'); s.value = 'forbid'; s.dispatchEvent(new Event('change', { bubbles: true }));
		const m = document.querySelector('#f-misfire'); m.value = 'run_once'; m.dispatchEvent(new Event('change', { bubbles: true })); })()`)
	b.typeInto("#f-timeout", "2m")
	b.typeInto("#f-deadline", "20s")
	b.typeInto("#f-retries", "3")
	b.typeInto("#f-backoff", "10s")
	b.typeInto("#f-max-backoff", "1m")
	b.click("rerun lost", "#f-rerun-lost")
	b.typeInto("#f-on-success", "report")
	b.typeInto("#f-on-failure", "page-oncall, report")
	b.typeInto("#f-tags", "batch")
	b.typeInto("#f-shards", "2")
	b.until("the JSON", `/"on_failure"/.test(document.querySelector('#f-preview').textContent) && /etl-done/.test(document.querySelector('#f-preview').textContent)`)
	b.js(`window.scrollTo(0, 0)`)
	updateDoc(t, b.shot("define-pipeline"), "console-define.png")
	b.click("create", "#f-submit")
	b.until("the job's page", `location.hash === '#/jobs/etl' && document.querySelector('#edit-job')`)
	d, err := n.Definition(context.Background(), "etl")
	if err != nil {
		t.Fatal(err)
	}
	want := distcron.Definition{Name: "etl", Kind: "pipeline", Schedule: "15 9 * * MON-FRI", Location: "Asia/Tokyo",
		Steps: []distcron.StepSpec{
			{Name: "extract", Kind: "shell", Shell: &distcron.ShellSpec{Command: "echo extracting"}},
			{Name: "notify", Kind: "http", HTTP: &distcron.HTTPSpec{Method: "GET", URL: "https://hooks.example.com/etl-done", Headers: map[string]string{"X-Token": "abc123"}}},
		},
		Timeout: distcron.Duration(2 * time.Minute), Overlap: distcron.OverlapForbid, Misfire: distcron.MisfireRunOnce,
		Deadline: distcron.Duration(20 * time.Second), Retry: &distcron.RetrySpec{MaxAttempts: 3, Backoff: distcron.Duration(10 * time.Second), MaxBackoff: distcron.Duration(time.Minute)},
		Tags: []string{"batch"}, Shards: 2, OnSuccess: []string{"report"}, OnFailure: []string{"page-oncall", "report"}, RerunLost: true}
	if got, exp := mustJSON(t, d), mustJSON(t, want); got != exp {
		t.Errorf("stored definition\n%s\nwant\n%s", got, exp)
	}

	// Edit: the form comes back filled in, the step's header redacted.
	b.click("edit etl", "#edit-job")
	b.until("the filled-in pipeline", `document.querySelectorAll('#f-steps .step').length === 2 && document.querySelector('.step:nth-child(2) .s-headers').value === 'X-Token: <redacted>' &&
		document.querySelector('#f-retries').value === '3' && document.querySelector('#f-on-failure').value === 'page-oncall, report' && document.querySelector('#f-misfire').value === 'run_once'`)
	b.typeInto("#f-schedule", "45 9 * * MON-FRI")
	b.click("save", "#f-submit")
	b.until("saved", `location.hash === '#/jobs/etl' && /45 9/.test(document.querySelector('dl.kv').textContent)`)
	if d, _ := n.Definition(context.Background(), "etl"); d.Schedule != "45 9 * * MON-FRI" || d.Steps[1].HTTP.Headers["X-Token"] != "abc123" || !slices.Equal(d.OnFailure, want.OnFailure) {
		t.Errorf("after the edit: %+v %+v", d, d.Steps[1].HTTP)
	}

	// Override the schedule of the code job, then delete the override.
	b.open("#/jobs/report")
	b.click("override", "#override-job")
	b.until("the override form", `location.hash === '#/edit/report' && document.querySelector('button[data-kind="override"].on') &&
		document.querySelector('#f-command').offsetParent === null && document.querySelector('#f-retries').offsetParent === null &&
		document.querySelector('#f-schedule').placeholder === '0 7 * * MON-FRI' && /as in code/.test(document.querySelector('#f-next').textContent)`)
	b.typeInto("#f-schedule", "30 8 * * *")
	b.typeInto("#f-location", "Europe/Berlin")
	b.until("the override's times", `[...document.querySelectorAll('#f-next-list li')].length === 5 && / 08:30:00/.test(document.querySelector('#f-next-list li').textContent)`)
	b.shot("define-override")
	b.click("save the override", "#f-submit")
	b.until("the overridden job", `location.hash === '#/jobs/report' && /30 8 \* \* \*/.test(document.querySelector('dl.kv').textContent) && document.querySelector('button[data-action="delete"]')`)
	if info, _ := n.JobInfo("report"); info.Source != "override" || info.Schedule != "30 8 * * *" || info.Location != "Europe/Berlin" || info.Kind != "func" {
		t.Errorf("report overridden: %+v", info)
	}
	b.click("delete the override", `button[data-action="delete"]`)
	b.click("confirm", `button[data-action="delete"].confirm`)
	// The page goes to the job list once the delete is answered; the next
	// route must not race that navigation.
	b.until("back to the jobs", `location.hash === '#/jobs'`)
	admintest.WaitFor(t, 5*time.Second, "the code's schedule back", func() bool {
		info, _ := n.JobInfo("report")
		return info.Source == "code" && info.Schedule == "0 7 * * MON-FRI"
	})

	// An override needs a job registered in code.
	b.open("#/new?kind=override")
	b.until("the override form", `document.querySelector('button[data-kind="override"].on')`)
	b.typeInto("#f-name", "nosuch")
	b.typeInto("#f-schedule", "@hourly")
	b.click("save", "#f-submit")
	b.until("the refusal", `!document.querySelector('#f-error').hidden && /No live instance registers a job named “nosuch”/.test(document.querySelector('#f-error').textContent)`)
	if _, err := n.Definition(context.Background(), "nosuch"); err == nil {
		t.Error("an override of nothing was stored")
	}
	b.checkConsole()
}

// TestBrowserRunsTimeRange filters the run history by a preset range and
// by a custom one.
func TestBrowserRunsTimeRange(t *testing.T) {
	chromiumPath(t)
	c := admintest.NewCluster(t)
	n := c.Start(c.Node("node-1"))
	now := time.Now().UTC().Truncate(time.Minute)
	var recs []logsink.Record
	for _, ago := range []time.Duration{30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 500 * time.Hour} {
		tick := now.Add(-ago)
		recs = append(recs, logsink.Record{Job: "ago-" + ago.String(), Tick: tick, Instance: "node-1", Trigger: logsink.TriggerSchedule,
			Attempt: 1, Started: tick, Finished: tick.Add(time.Second), Duration: time.Second, Status: logsink.StatusSucceeded})
	}
	if err := c.History.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	base := admintest.Serve(t, n, admin.WithAuthorizer(admintest.Allow), admin.WithHistory(c.History))
	b := startBrowser(t, base, 1360, 900, 1)
	b.signIn()
	b.open("#/runs")
	rows := `[...document.querySelectorAll('tr[data-job]')].map((r) => r.dataset.job).join(',')`
	b.until("all four", rows+` === 'ago-30m0s,ago-2h0m0s,ago-5h0m0s,ago-500h0m0s'`)
	b.js(`(() => { const s = document.querySelector('#runs-range'); s.value = '1h'; s.dispatchEvent(new Event('change')); })()`)
	b.until("the last hour", rows+` === 'ago-30m0s' && /since=1h/.test(location.hash)`)
	b.js(`(() => { const s = document.querySelector('#runs-range'); s.value = '168h'; s.dispatchEvent(new Event('change')); })()`)
	b.until("the last week", rows+` === 'ago-30m0s,ago-2h0m0s,ago-5h0m0s'`)
	// Custom: from 6h to 1h ago (browser time is UTC here).
	b.js(`(() => { const s = document.querySelector('#runs-range'); s.value = 'custom'; s.dispatchEvent(new Event('change')); })()`)
	b.until("the custom inputs", `document.querySelector('#runs-since').offsetParent !== null`)
	b.js(fmt.Sprintf(`(() => { const a = document.querySelector('#runs-since'), z = document.querySelector('#runs-until');
		a.value = %q; a.dispatchEvent(new Event('change')); z.value = %q; z.dispatchEvent(new Event('change')); })()`,
		now.Add(-6*time.Hour).Format("2006-01-02T15:04"), now.Add(-time.Hour).Format("2006-01-02T15:04")))
	b.until("the custom range", rows+` === 'ago-2h0m0s,ago-5h0m0s' && /until=/.test(location.hash)`)
	b.shot("runs-range")
	// The range survives a reload of the page (it is in the URL).
	b.do("reload the page", chromedp.Reload())
	b.until("the range after a reload", `document.querySelector('#runs-range') && document.querySelector('#runs-range').value === 'custom' && `+rows+` === 'ago-2h0m0s,ago-5h0m0s'`)
	b.checkConsole()
}

// signIn gives the console the token admintest.Allow accepts.
func (b *browser) signIn() {
	b.t.Helper()
	b.until("the sign-in banner", `document.querySelector('#token')`)
	b.typeInto("#token", "sesame")
	b.click("use token", "#banner button[type=submit]")
	b.until("signed in", `document.querySelector('#banner').hidden`)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// updateDoc copies a screenshot to docs/name for the README when
// DISTCRON_UPDATE_DOCS=1.
func updateDoc(t *testing.T, shot, name string) {
	t.Helper()
	if os.Getenv(envUpdateDocs) != "1" {
		return
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join("..", "..", "docs", name)
	if err := os.WriteFile(dst, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", dst)
}
