package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/etcdtest"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "distcron-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "distcron")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the built binary against endpoints and returns its exit
// status, standard output and standard error.
func cli(t *testing.T, endpoints []string, args ...string) (int, string, string) {
	t.Helper()
	return cliEnv(t, nil, endpoints, args...)
}

// cliEnv is cli with env (KEY=VALUE entries) added to the environment.
func cliEnv(t *testing.T, env, endpoints []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--endpoints", strings.Join(endpoints, ","), "--namespace", "/cli-test/"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestNext(t *testing.T) {
	code, out, _ := cli(t, nil, "next", "30 2 * * *", "--tz", "America/New_York", "-n", "3")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "02:30:00 E") {
		t.Errorf("next: exit %d, output %q; want three 02:30 lines", code, out)
	}
	code, _, errOut := cli(t, nil, "next", "61 * * * *")
	if code != 1 || !strings.Contains(errOut, "minute value 61 is out of range 0-59") {
		t.Errorf("next of a bad spec: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := cli(t, nil, "next"); code != 2 {
		t.Errorf("next without a spec: exit %d, want 2", code)
	}
}

func TestCommandsAgainstACluster(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Endpoints()
	s, err := distcron.New(etcdtest.Client(t, etcd), distcron.WithNamespace("/cli-test/"), distcron.WithInstanceID("n0"),
		distcron.WithRemoteShell(true), distcron.WithLogger(zap.NewNop()), distcron.WithRemoteScheduleFloor(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan distcron.RunInfo, 8)
	if err := s.RegisterFunc("report", "@yearly", func(ctx context.Context) error {
		ri, _ := distcron.RunInfoFrom(ctx)
		ran <- ri
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	defNames := func() []string {
		defs, err := s.Definitions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range defs {
			out = append(out, d.Name)
		}
		slices.Sort(out)
		return out
	}

	// apply: a dry run writes nothing; then it creates both jobs.
	good := write("jobs.yaml", `jobs:
  - name: cleanup
    kind: shell
    schedule: "@hourly"
    shell: {command: "true"}
  - name: vacuum
    kind: shell
    schedule: "0 3 * * *"
    shell: {command: "true"}
`)
	code, out, errOut := cli(t, ep, "apply", "-f", good, "--dry-run")
	if code != 0 || !strings.Contains(out, "+ created cleanup (dry run)") || !strings.Contains(out, "2 created, 0 updated, 0 deleted, 0 unchanged (dry run)") {
		t.Fatalf("apply --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if got := defNames(); len(got) != 0 {
		t.Fatalf("a dry run wrote %v", got)
	}
	if code, out, errOut = cli(t, ep, "apply", "-f", good); code != 0 || !strings.Contains(out, "2 created") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if got := defNames(); !slices.Equal(got, []string{"cleanup", "vacuum"}) {
		t.Fatalf("after apply: %v", got)
	}

	// A file with one bad job is refused whole, naming the line.
	bad := write("bad.yaml", `- name: cleanup
  kind: shell
  schedule: "@every 2h"
  shell: {command: "true"}
- name: broken
  kind: shell
  schedule: "0 0 31 2 *"
  shell: {command: "true"}
`)
	code, _, errOut = cli(t, ep, "apply", "-f", bad, "--prune")
	if code != 1 || !strings.Contains(errOut, "bad.yaml:5:") || !strings.Contains(errOut, `"broken"`) || !strings.Contains(errOut, "never fires") {
		t.Fatalf("apply of a bad file: exit %d, stderr %q; want the line (5), the job and the reason", code, errOut)
	}
	if got := defNames(); !slices.Equal(got, []string{"cleanup", "vacuum"}) {
		t.Fatalf("a refused apply changed the definitions: %v", got)
	}

	// --prune deletes what the file does not name; -o json gives the plan.
	one := write("one.json", `[{"name": "cleanup", "kind": "shell", "schedule": "@every 2h", "shell": {"command": "true"}}]`)
	code, out, errOut = cli(t, ep, "apply", "-f", one, "--prune", "-o", "json")
	var plan distcron.ApplyPlan
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !slices.Equal(plan.Updated, []string{"cleanup"}) || !slices.Equal(plan.Deleted, []string{"vacuum"}) {
		t.Fatalf("apply --prune: exit %d, %q %s", code, out, errOut)
	}

	// jobs and instances see the whole cluster.
	waitFor(t, func() bool {
		_, out, _ := cli(t, ep, "jobs", "-o", "json")
		var rows []jobRow
		_ = json.Unmarshal([]byte(out), &rows)
		return slices.ContainsFunc(rows, func(r jobRow) bool { return r.Name == "cleanup" && slices.Equal(r.Instances, []string{"n0"}) }) &&
			slices.ContainsFunc(rows, func(r jobRow) bool { return r.Name == "report" && r.Source == "code" })
	}, "jobs to list report and cleanup on n0")
	if code, out, _ = cli(t, ep, "instances"); code != 0 || !regexpMatch(`(?m)^n0\s+\*\s`, out) {
		t.Errorf("instances: exit %d\n%s; want n0 as the leader", code, out)
	}
	if code, out, _ = cli(t, ep, "get", "cleanup", "-o", "yaml"); code != 0 || !strings.Contains(out, "name: cleanup\n") || !strings.Contains(out, "schedule: '@every 2h'") {
		t.Errorf("get -o yaml: exit %d\n%s", code, out)
	}

	// trigger runs the job now; pause and resume show in jobs.
	if code, out, errOut = cli(t, ep, "trigger", "report"); code != 0 || !regexpMatch(`^report: triggered; claimed by n0 \(run report/m\S+, token [1-9][0-9]*\)\n$`, out) {
		t.Fatalf("trigger: exit %d, %q %q", code, out, errOut)
	}
	select {
	case ri := <-ran:
		if ri.Instance != "n0" {
			t.Errorf("ran on %q", ri.Instance)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("trigger: the job did not run")
	}
	if code, _, _ = cli(t, ep, "pause", "report"); code != 0 {
		t.Fatalf("pause: exit %d", code)
	}
	_, out, _ = cli(t, ep, "jobs")
	if !regexpMatch(`(?m)^report\s+code\s+@yearly\s+UTC\s+\d{4}-01-01 00:00:00 UTC\s+yes\s`, out) {
		t.Errorf("jobs after pause:\n%s", out)
	}
	if code, _, errOut = cli(t, ep, "trigger", "report"); code != 1 || !strings.Contains(errOut, "paused") {
		t.Errorf("trigger of a paused job: exit %d, %q", code, errOut)
	}
	if code, _, _ = cli(t, ep, "resume", "report"); code != 0 {
		t.Fatalf("resume: exit %d", code)
	}
	if code, _, errOut = cli(t, ep, "trigger", "--no-wait", "nosuchjob"); code != 1 || !strings.Contains(errOut, "unknown job") {
		t.Errorf("trigger of an unknown job: exit %d, %q", code, errOut)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
