package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/admintest"
	"github.com/distcron/distcron/logsink"
)

// Environment of the browser tests.
const (
	// envChromium names the browser binary; default: chromium (Debian's
	// package), chromium-browser or google-chrome on $PATH.
	envChromium = "DISTCRON_CHROMIUM"
	// envScreenshots names a directory for the screenshots; default: the
	// test's artifact directory (kept with go test -artifacts).
	envScreenshots = "DISTCRON_SCREENSHOTS"
)

// chromiumPath finds the browser. Without one the test fails in CI
// (CI=true) and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const how = "install Debian's chromium (apt-get install -y chromium) or set " + envChromium + " to a Chromium or Chrome binary"
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Chromium found, and CI=true: the browser test must run in CI; %s", how)
	}
	t.Skipf("no Chromium found: skipping the browser test; %s", how)
	return ""
}

// browser is a headless Chromium tab on the console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the console's URL
	dir  string // where screenshots go

	mu      sync.Mutex
	console []string // exceptions and console errors of the page
}

// startBrowser starts a fresh headless Chromium (its own profile, no
// network chatter) and opens base in a tab. It is closed at cleanup.
func startBrowser(t *testing.T, base string, width, height int, scale float64) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Env("TZ=UTC"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, base: base, dir: dir}
	// Start the browser, then follow the page's console.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(scale))); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", chromiumPath(t), err)
	}
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// API errors the test causes on purpose show as failed loads.
			if m.IsException() || m.Type == "error" && !strings.HasPrefix(m.Text, "Failed to load resource") {
				b.mu.Lock()
				b.console = append(b.console, m.String())
				b.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
	})
	b.do("open the console", chromedp.Navigate(base))
	return b
}

// do runs actions, failing the test (with a screenshot) on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// until waits for a JavaScript expression to become true (an exception
// counts as false: the page may not be there yet).
func (b *browser) until(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("(() => { try { return !!("+expr+"); } catch (e) { return false; } })()", chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.fail("wait for "+what, err)
	}
}

// js evaluates an expression.
func (b *browser) js(expr string) {
	b.t.Helper()
	b.do(expr, chromedp.Evaluate[chromedp.Void](expr))
}

// text evaluates an expression whose value is a string.
func (b *browser) text(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail(expr, err)
	}
	return v
}

// open shows a page of the console by its hash route.
func (b *browser) open(route string) {
	b.t.Helper()
	b.js("location.hash = " + strconv.Quote(route))
	b.until("route "+route, "document.body.dataset.route === "+strconv.Quote(route))
}

// click clicks (a real mouse click) the first element matching css once
// it is visible and enabled.
func (b *browser) click(what, css string) {
	b.t.Helper()
	b.until(what+" clickable", fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && !e.disabled && e.offsetParent !== null; })()`, css))
	b.do("click "+what, chromedp.Click(chromedp.CSS(css)))
}

// typeInto replaces the value of an input with text, typed as keys.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	b.js(fmt.Sprintf("document.querySelector(%q).value = %q", css, ""))
	b.do("type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
}

// shot saves a screenshot of the viewport as name.png and returns its path.
func (b *browser) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(b.dir, "failure.png")
		if os.WriteFile(path, png, 0o644) == nil {
			b.t.Logf("screenshot of the failure: %s", path)
		}
	}
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	b.t.Fatalf("%s: %v\npage:\n%s\nconsole errors:\n%s", what, err, text, console)
}

// checkConsole fails the test on uncaught exceptions or errors in the
// page's console.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		b.t.Errorf("browser console: %s", m)
	}
}

// TestBrowser operates a 3-instance cluster from its console in headless
// Chromium: sign in with a token (nothing shows before), define a shell
// job through the form (a bad schedule first), see it fire and read its
// output in the runs view, pause it (run now is off then), resume it and
// run it by hand, kill a long run, edit and delete that job, and look at
// the instances and the dashboard.
// Screenshots of the main pages go to $DISTCRON_SCREENSHOTS or the test's
// artifact directory (go test -run TestBrowser -artifacts ./admin).
func TestBrowser(t *testing.T) {
	chromiumPath(t) // skip or fail early
	c := admintest.NewCluster(t)
	var nodes []*distcron.Scheduler
	for i := range 3 {
		s := c.Node(fmt.Sprintf("node-%d", i+1), distcron.WithRemoteShell(true))
		if err := s.RegisterFunc("report", "0 7 * * MON-FRI", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c.Start(s))
	}
	base := admintest.Serve(t, nodes[1], admin.WithAuthorizer(admintest.Allow), admin.WithHistory(c.History))
	b := startBrowser(t, base, 1360, 900, 1)
	t.Logf("screenshots in %s", b.dir)

	// Without a token the console shows nothing but a sign-in prompt.
	b.until("the console live", "document.querySelector('#live.ok')")
	b.until("sign-in banner", "!document.querySelector('#banner').hidden && document.querySelector('#token') && document.querySelector('#locked')")
	b.open("#/jobs")
	b.until("still signed out", `document.querySelector('#locked') && !document.querySelector('tr[data-job]') && !/node-/.test(document.body.textContent)`)
	b.typeInto("#token", "sesame")
	b.click("use token", "#banner button[type=submit]")
	b.until("changes allowed", `document.querySelector('#banner').hidden && document.querySelector('#mode').hidden && document.querySelector('button[data-action="trigger"][data-job="report"]:enabled')`)

	// Define a job through the form; a bad schedule is refused first.
	b.click("new job", "#new-job")
	b.until("the form", "location.hash === '#/new' && document.querySelector('#f-name')")
	b.typeInto("#f-name", "hello")
	b.typeInto("#f-schedule", "every second")
	b.typeInto("#f-command", "echo hello from the console; sleep 0.2")
	b.click("create", "#f-submit")
	b.until("the schedule error", `!document.querySelector('#f-error').hidden && /schedule/.test(document.querySelector('#f-error').textContent)`)
	b.shot("define-error")
	if defs, _ := nodes[0].Definitions(context.Background()); len(defs) != 0 {
		t.Fatalf("a refused form defined %v", defs)
	}
	b.typeInto("#f-schedule", "@every 1s")
	b.click("create", "#f-submit")
	b.until("the job's page", "location.hash === '#/jobs/hello'")

	// It fires; the runs view shows it with its output.
	b.until("a run on the job page", `document.querySelector('tr[data-job="hello"][data-status="succeeded"]')`)
	b.open("#/runs")
	b.click("a run of hello", `tr[data-job="hello"][data-status="succeeded"]`)
	b.until("its output", `[...document.querySelectorAll('pre[data-output]')].some((p) => p.textContent.includes('hello from the console'))`)
	b.shot("runs")

	// Pause it from the jobs list.
	b.open("#/jobs")
	b.click("pause hello", `button[data-action="pause"][data-job="hello"]`)
	b.until("hello paused", `document.querySelector('tr[data-job="hello"][data-paused="true"] button[data-action="resume"]')`)
	admintest.WaitFor(t, 5*time.Second, "hello paused on every instance", func() bool {
		for _, s := range nodes {
			if info, _ := s.JobInfo("hello"); !info.Paused {
				return false
			}
		}
		return true
	})
	b.until("run now off while paused", `document.querySelector('button[data-action="trigger"][data-job="hello"]:disabled')`)
	time.Sleep(1500 * time.Millisecond) // a tick claimed before the pause ends
	pausedAt := time.Now()

	// Resume it, and run it now, by hand: a manual run appears. Ticks from
	// the click on may run (the page shows the change a poll later).
	resumedAt := time.Now()
	b.click("resume hello", `button[data-action="resume"][data-job="hello"]`)
	b.until("hello resumed", `document.querySelector('tr[data-job="hello"][data-paused="false"] button[data-action="pause"]')`)
	admintest.WaitFor(t, 5*time.Second, "hello resumed on every instance", func() bool {
		for _, s := range nodes {
			if info, _ := s.JobInfo("hello"); info.Paused {
				return false
			}
		}
		return true
	})
	b.click("run hello now", `button[data-action="trigger"][data-job="hello"]`)
	b.open("#/runs?job=hello")
	b.until("the manual run", `document.querySelector('tr[data-job="hello"][data-trigger="manual"]')`)
	for _, r := range c.History.Records() {
		if r.Job == "hello" && r.Trigger == logsink.TriggerSchedule && r.Tick.After(pausedAt) && r.Tick.Before(resumedAt) {
			t.Errorf("scheduled run of a paused job: %+v", r)
		}
	}

	// A long run, killed from its page.
	b.open("#/new")
	b.typeInto("#f-name", "sleeper")
	b.typeInto("#f-schedule", "@yearly")
	// It says when it has printed, so the kill cannot come before the echo.
	asleep := filepath.Join(t.TempDir(), "asleep")
	sleeper := "echo going to sleep; touch " + asleep + "; sleep 30"
	b.typeInto("#f-command", sleeper)
	b.click("create", "#f-submit")
	b.until("the sleeper's page", "location.hash === '#/jobs/sleeper' && document.querySelector('#edit-job')")
	b.click("run sleeper now", `button[data-action="trigger"][data-job="sleeper"]`)
	b.until("the sleeper running", `document.querySelector('tr[data-running-on]')`)
	admintest.WaitFor(t, 10*time.Second, "the sleeper's echo", func() bool { _, err := os.Stat(asleep); return err == nil })
	b.shot("job-running")
	killedAt := time.Now()
	b.click("kill sleeper", `button[data-action="kill"][data-job="sleeper"]`)
	b.until("the killed run", `document.querySelector('tr[data-job="sleeper"][data-status="killed"]')`)
	var killed []logsink.Record
	for _, r := range c.History.Records() {
		if r.Job == "sleeper" {
			killed = append(killed, r)
		}
	}
	if len(killed) != 1 || killed[0].Status != logsink.StatusKilled || killed[0].Finished.Sub(killedAt) > 10*time.Second {
		t.Errorf("sleeper records %+v", killed)
	}
	b.click("the killed run", `tr[data-job="sleeper"][data-status="killed"]`)
	b.until("its output", `[...document.querySelectorAll('pre[data-output]')].some((p) => p.textContent.includes('going to sleep'))`)
	b.shot("job-detail")

	// Edit it: the form comes filled in; save a new schedule.
	b.click("edit sleeper", "#edit-job")
	b.until("the filled-in form", "location.hash === '#/edit/sleeper' && document.querySelector('#f-command').value === '"+sleeper+"'")
	b.typeInto("#f-schedule", "@monthly")
	b.click("save", "#f-submit")
	b.until("the new schedule", `location.hash === '#/jobs/sleeper' && /@monthly/.test(document.querySelector('dl.kv').textContent)`)
	admintest.WaitFor(t, 5*time.Second, "the new schedule everywhere", func() bool {
		for _, s := range nodes {
			if info, _ := s.JobInfo("sleeper"); info.Schedule != "@monthly" {
				return false
			}
		}
		return true
	})

	// Delete it (two clicks, no dialog).
	b.click("delete sleeper", `button[data-action="delete"]`)
	b.until("delete armed", `document.querySelector('button[data-action="delete"].confirm')`)
	b.click("confirm delete", `button[data-action="delete"].confirm`)
	b.until("back to the jobs", `location.hash === '#/jobs' && document.querySelector('tr[data-job="hello"]') && !document.querySelector('tr[data-job="sleeper"]')`)
	admintest.WaitFor(t, 5*time.Second, "sleeper gone everywhere", func() bool {
		for _, s := range nodes {
			if _, ok := s.JobInfo("sleeper"); ok {
				return false
			}
		}
		return true
	})

	// Instances, with the leader marked.
	b.open("#/instances")
	b.until("three instances and a leader", `document.querySelectorAll('tr[data-instance]').length === 3 && document.querySelectorAll('tr[data-leader="true"]').length === 1`)
	b.shot("instances")

	b.open("#/jobs")
	b.until("the jobs", `document.querySelectorAll('tr[data-job]').length === 2`)
	b.shot("jobs")
	b.open("#/")
	b.until("the dashboard", `document.querySelectorAll('.stat').length === 6 && document.querySelector('tr[data-job="hello"] .bar span')`)
	b.shot("dashboard")
	b.checkConsole()
}

// TestBrowserSecurity: a console whose reads need a token shows nothing
// before it; a job's secret header shows as <redacted> on its page and in
// the edit form, and saving the form keeps it; a new job named like a job
// registered in code is refused without suggesting to overwrite it.
func TestBrowserSecurity(t *testing.T) {
	chromiumPath(t)
	c := admintest.NewCluster(t)
	n := c.Node("node-1")
	if err := n.RegisterFunc("report", "0 7 * * MON-FRI", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Start(n)
	const secret = "Bearer topsecret-in-the-browser"
	hook := distcron.Definition{Name: "hook", Kind: "http", Schedule: "@yearly",
		HTTP: &distcron.HTTPSpec{URL: "https://hooks.example.com/report", Headers: map[string]string{"Authorization": secret}}}
	if err := n.Define(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	base := admintest.Serve(t, n, admin.WithAuthorizer(admintest.Allow), admin.WithHistory(c.History))
	b := startBrowser(t, base+"#/jobs/hook", 1360, 900, 1)

	b.until("the sign-in prompt", `document.querySelector('#locked') && !document.querySelector('#banner').hidden && /Sign in/.test(document.querySelector('#banner').textContent)`)
	b.until("nothing of the cluster", `!/hook|report|node-1|hooks.example/.test(document.querySelector('#main').textContent)`)
	b.shot("signed-out")
	b.typeInto("#token", "sesame")
	b.click("use token", "#banner button[type=submit]")

	// The job's page: the header name, its value redacted.
	b.until("hook's definition", `document.querySelector('#edit-job') && /"Authorization": "<redacted>"/.test(document.querySelector('pre.json').textContent)`)
	b.until("no secret on the page", `!document.body.textContent.includes('topsecret')`)
	b.click("edit hook", "#edit-job")
	b.until("the filled-in form", `location.hash === '#/edit/hook' && document.querySelector('#f-headers').value === 'Authorization: <redacted>' && document.querySelector('#f-url').value === 'https://hooks.example.com/report'`)
	b.until("the write-only hint", `/write-only/.test(document.querySelector('#define-form').textContent)`)
	b.shot("edit-redacted")
	b.typeInto("#f-schedule", "@monthly")
	b.click("save", "#f-submit")
	b.until("saved", `location.hash === '#/jobs/hook' && /@monthly/.test(document.querySelector('dl.kv').textContent)`)
	d, err := n.Definition(context.Background(), "hook")
	if err != nil || d.Schedule != "@monthly" || d.HTTP.Headers["Authorization"] != secret || len(d.HTTP.Headers) != 1 {
		t.Fatalf("hook after the edit: %+v %+v, %v", d, d.HTTP, err)
	}

	// A new job with the name of a code job.
	b.open("#/new")
	b.typeInto("#f-name", "report")
	b.typeInto("#f-schedule", "@every 1h")
	b.typeInto("#f-command", "echo mine now")
	b.click("create", "#f-submit")
	b.until("the refusal", `!document.querySelector('#f-error').hidden && /registered in code/.test(document.querySelector('#f-error').textContent)`)
	b.until("no PUT suggested", `!/PUT/.test(document.querySelector('#f-error').textContent)`)
	b.shot("define-code-job")
	if info, _ := n.JobInfo("report"); info.Kind != "func" || info.Source != "code" {
		t.Errorf("report %+v", info)
	}
	b.checkConsole()
}
