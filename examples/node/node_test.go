package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

type line struct {
	Job      string    `json:"job"`
	Tick     time.Time `json:"tick"`
	Instance string    `json:"instance"`
	Status   string    `json:"status"`
	Trigger  string    `json:"trigger"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Token    int64     `json:"token"`
}

// node is one examples/node process whose stdout records are collected.
type node struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	recs []line
	done chan struct{}
}

func startNode(t *testing.T, bin string, args ...string) *node {
	t.Helper()
	n := &node{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	out, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = io.Discard
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("bad record line %q: %v", sc.Text(), err)
				continue
			}
			n.mu.Lock()
			n.recs = append(n.recs, l)
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { n.cmd.Process.Kill(); n.cmd.Wait() })
	return n
}

func (n *node) count() int { n.mu.Lock(); defer n.mu.Unlock(); return len(n.recs) }

func (n *node) wait(t *testing.T) error {
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		t.Fatal("node did not exit")
	}
	return n.cmd.Wait()
}

// TestNodesKillAndStopExactlyOnce runs three real node processes against one
// etcd, SIGKILLs one mid-stream and SIGTERMs the others: every tick in the
// window ran exactly once, and the graceful stops exit 0.
func TestNodesKillAndStopExactlyOnce(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "node")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	etcd := etcdtest.Start(t)
	const jobs, every = 5, 100 * time.Millisecond
	var nodes []*node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, startNode(t, bin, "-etcd", etcd.Endpoints()[0], "-id", fmt.Sprintf("p%d", i),
			"-jobs", fmt.Sprint(jobs), "-every", every.String(), "-ttl", "2s", "-shell", "echo hi"))
	}
	deadline := time.Now().Add(30 * time.Second)
	for nodes[0].count()+nodes[1].count()+nodes[2].count() < 100 {
		if time.Now().After(deadline) {
			t.Fatal("no records from the nodes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	from := time.Now()
	if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[0].wait(t)
	killed := time.Now()
	time.Sleep(3 * time.Second) // past the victim's 2s TTL
	to := time.Now()
	for _, n := range nodes[1:] {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[1:] {
		if err := n.wait(t); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	}
	runs := map[string]int{}
	for _, n := range nodes {
		for _, r := range n.recs {
			if r.Status == "lost" && r.Instance == "p0" {
				// The leader's note of a run the killed node had in
				// progress (or claimed) when it died: not a run.
				continue
			}
			if r.Status != "succeeded" || r.Trigger != "schedule" || r.Token <= 0 || r.Started.Before(r.Tick.Add(-time.Millisecond)) {
				t.Errorf("unexpected record %+v", r)
			}
			runs[fmt.Sprintf("%s@%s", r.Job, r.Tick.UTC().Format(time.RFC3339Nano))]++
		}
	}
	for k, c := range runs {
		if c > 1 {
			t.Errorf("%s ran %d times", k, c)
		}
	}
	names := []string{"shell-0"}
	for j := 0; j < jobs; j++ {
		names = append(names, fmt.Sprintf("job-%d", j))
	}
	checked := 0
	for tick := from.Truncate(every).Add(every); tick.Before(to.Add(-300 * time.Millisecond)); tick = tick.Add(every) {
		if tick.After(killed.Add(-every)) && tick.Before(killed.Add(every)) {
			continue // a tick the victim may have claimed just before it died
		}
		for _, name := range names {
			checked++
			if c := runs[fmt.Sprintf("%s@%s", name, tick.UTC().Format(time.RFC3339Nano))]; c != 1 {
				t.Errorf("%s at %s ran %d times, want 1", name, tick.UTC().Format(time.RFC3339Nano), c)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d ticks checked", checked)
	}
}

func TestFlagsRejectBadInput(t *testing.T) {
	for _, args := range [][]string{{"-jobs", "-1"}, {"-every", "0s"}, {"-work", "-1s"}, {"extra"}, {"-every", "banana"},
		{"-rerun-job", "-1s"}, {"-forbid-job", "-1s"}, {"-stubborn-job", "-1s"}, {"-stop-grace", "-1s"}, {"-after-stop", "-1s"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted bad input", args)
		}
	}
	f, err := parseFlags([]string{"-jobs", "3", "-every", "250ms", "-skew", "-2s", "-tags", "a,b"})
	if err != nil || f.jobs != 3 || f.every != 250*time.Millisecond || f.skew != -2*time.Second || f.tags != "a,b" {
		t.Fatalf("parseFlags: %+v %v", f, err)
	}
	f, err = parseFlags([]string{"-rerun-job", "1.5s", "-forbid-job", "8s", "-stubborn-job", "3s", "-stop-wait", "1s",
		"-stop-grace", "500ms", "-after-stop", "3.5s", "-notify-webhook", "http://127.0.0.1:1/notify"})
	if err != nil || f.rerunJob != 1500*time.Millisecond || f.forbidJob != 8*time.Second || f.stubbornJob != 3*time.Second ||
		f.stopWait != time.Second || f.stopGrace != 500*time.Millisecond || f.afterStop != 3500*time.Millisecond || f.notifyWebhook == "" {
		t.Fatalf("parseFlags: %+v %v", f, err)
	}
}

// TestNodeWritesRecordsToSQLite runs a node with -sink sqlite and reads the
// records back from the database file through the SQL sink's history query.
func TestNodeWritesRecordsToSQLite(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "node")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	db := filepath.Join(t.TempDir(), "runs.db")
	cmd := exec.Command(bin, "-jobs", "2", "-every", "100ms", "-sink", "sqlite", "-sink-dsn", db)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sqlDB, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	sink, err := sqlsink.New(sqlDB, sqlsink.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err := sink.Query(context.Background(), logsink.Query{Job: "job-1", Limit: 5})
		if err == nil && len(page.Records) == 5 {
			for _, r := range page.Records {
				if r.Status != logsink.StatusSucceeded || r.Instance == "" || r.Token <= 0 {
					t.Fatalf("record %+v", r)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no records in %s: %v", db, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}
