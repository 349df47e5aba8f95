package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/tests/chaos/check"
	"github.com/distcron/distcron/tests/chaos/harness"
)

// testNode is one examples/node process of a test.
type testNode struct {
	name   string
	cmd    *exec.Cmd
	out    string // stdout file: run records
	ready  chan struct{}
	exited chan struct{}
}

// startTestNode starts examples/node with args; it is killed on cleanup.
func startTestNode(t *testing.T, dir, name string, args ...string) *testNode {
	t.Helper()
	n := &testNode{name: name, out: filepath.Join(dir, name+".records.jsonl"), ready: make(chan struct{}), exited: make(chan struct{})}
	stdout, err := os.Create(n.out)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, name+".stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(nodeBin, append(args, "-id", name)...)
	n.cmd.Stdout = stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stderr = pw
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		signalled := false
		for sc.Scan() {
			stderr.Write(append(sc.Bytes(), '\n'))
			if !signalled && bytes.Contains(sc.Bytes(), []byte(`"node running"`)) {
				signalled = true
				close(n.ready)
			}
		}
		pr.Close()
	}()
	go func() {
		n.cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGCONT)
		n.cmd.Process.Kill()
		<-n.exited
	})
	select {
	case <-n.ready:
	case <-n.exited:
		t.Fatalf("node %s exited before it was ready (see %s)", name, filepath.Join(dir, name+".stderr.log"))
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s not ready after 30s", name)
	}
	return n
}

// stop sends SIGTERM and waits for a clean exit.
func (n *testNode) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGCONT)
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if !n.cmd.ProcessState.Success() {
			t.Errorf("node %s: graceful stop: %v", n.name, n.cmd.ProcessState)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("node %s did not stop within 30s", n.name)
	}
}

func (n *testNode) records(t *testing.T) []check.Record {
	t.Helper()
	b, err := os.ReadFile(n.out)
	if err != nil {
		t.Fatal(err)
	}
	var out []check.Record
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r check.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s line %d: %v", n.out, i+1, err)
		}
		r.From, r.Line = n.name, i+1
		out = append(out, r)
	}
	return out
}

// TestPausedNodeNeverRunsAnotherNodesTick SIGSTOPs a node right around the
// moment its timer fires, again and again, and resumes it after its lease
// expired. Each tick has a preferred claimer (by hash), which claims a lead
// (20ms, more when etcd was slow) ahead of the tick; the other instance
// backs it up shortly after the tick. The peer's clock is 300ms slow, so the
// victim claims every tick first: ahead of it where it is preferred, else
// as the backup. The victim is stopped at offsets from 30ms before a tick
// to 5ms after it, for 3s (past its 2s lease, within the 5s misfire grace)
// or 6.5s (past the grace). Whatever the offset:
//
//   - no tick runs twice, and every run is its tick's claimant's;
//   - a tick the victim claimed before the pause and had not started is
//     started by the victim when it resumes if that is within the misfire
//     grace (by its clock), else recorded as skipped; the peer never runs
//     it;
//   - a tick due more than the claim lead (1s at most) after the victim was
//     stopped is the peer's, or the victim's if the victim claimed it after
//     it resumed (late, within the grace, the peer not having claimed it
//     yet); a claim of the stopped victim's cannot land.
//
// The test fails if no pause caught the victim between claim and start, in
// either grace case: then it would not have tested what it is for.
func TestPausedNodeNeverRunsAnotherNodesTick(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 60s")
	}
	t.Parallel()
	const (
		every    = 500 * time.Millisecond
		peerSkew = -300 * time.Millisecond
		jobs     = 8
		grace    = 5 * time.Second // the library's default misfire grace
		maxLead  = time.Second     // the adaptive claim lead's cap
		ns       = "/distcron/paused/"
	)
	etcd := etcdtest.Start(t)
	cli := etcdtest.Client(t, etcd)
	dir := t.TempDir()
	// Clock correction off: the peer's slow clock must stay slow, so the
	// victim claims first.
	args := []string{"-etcd", strings.Join(etcd.Endpoints(), ","), "-ns", ns, "-jobs", fmt.Sprint(jobs), "-every", every.String(), "-ttl", "1s", "-clock-correction=false"}
	victim := startTestNode(t, dir, "victim", args...)
	peer := startTestNode(t, dir, "peer", append(args, "-skew", peerSkew.String())...)

	// The leader deletes claims a minute old: read them as the test goes.
	claims := map[string]string{} // "<job> <tick>" -> instance
	readClaims := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, ns+"claims/", clientv3.WithPrefix())
		if err != nil {
			t.Fatalf("read claims: %v", err)
		}
		for _, kv := range resp.Kvs {
			tick, job, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), ns+"claims/"), "/")
			tt, err := time.Parse(check.TickLayout, tick)
			if err != nil {
				t.Fatalf("claim key %q: %v", kv.Key, err)
			}
			claims[fmt.Sprintf("%s %s", job, tt.Format(time.RFC3339Nano))] = strings.SplitN(string(kv.Value), " ", 2)[0] // "<instance> <lease hex>"
		}
	}
	key := func(job string, tick time.Time) string {
		return fmt.Sprintf("%s %s", job, tick.UTC().Format(time.RFC3339Nano))
	}

	type pause struct {
		offset, hold time.Duration
		tick         time.Time // the victim's tick around which it was stopped
		to           time.Time // real time of the SIGCONT
	}
	// claimedAhead reports whether the victim held a claim of p's tick when
	// it was stopped (p.offset < 0: before the tick, so it had not started).
	claimedAhead := func(p pause) bool {
		for j := 0; j < jobs; j++ {
			if claims[key(fmt.Sprintf("job-%d", j), p.tick)] == "victim" {
				return true
			}
		}
		return false
	}
	// waitVictimClaims waits until the victim has claimed a tick due after
	// from (read as the claims are read).
	waitVictimClaims := func(what string, from time.Time) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			readClaims()
			for k, c := range claims {
				_, tick, _ := strings.Cut(k, " ")
				if tt, err := time.Parse(time.RFC3339Nano, tick); err == nil && c == "victim" && tt.After(from) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the victim claimed no tick due after %s within 20s", what, from.Format("15:04:05.000"))
			}
		}
	}
	waitVictimClaims("start", time.Now())
	stopAround := func(i int, offset, hold time.Duration) pause {
		p := pause{offset: offset, hold: hold}
		now := time.Now()
		p.tick = now.Truncate(every).Add(every)
		if p.tick.Sub(now) < 200*time.Millisecond {
			p.tick = p.tick.Add(every)
		}
		time.Sleep(time.Until(p.tick.Add(p.offset)))
		from := time.Now()
		if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := false
		for deadline := time.Now().Add(time.Second); !stopped && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			stopped = harness.ProcState(victim.cmd.Process.Pid) == "T"
		}
		if !stopped {
			t.Fatalf("pause %d: the victim is not stopped", i)
		}
		time.Sleep(time.Until(from.Add(p.hold)))
		if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		p.to = time.Now()
		// The victim replaces its expired session, then claims again: the
		// next pause must find it claiming, or it can catch nothing. A
		// tick due past the claim lead's cap after the resume can only
		// have been claimed after it.
		waitVictimClaims(fmt.Sprintf("pause %d", i), p.to.Add(maxLead))
		return p
	}
	// Each hold is tried at every planned offset; where none of them caught
	// the victim holding a claim (its lead and etcd's latency vary with the
	// machine's load), more pauses before the tick follow, up to a cap. The
	// outcome check below still fails the drill if none ever did.
	var pauses []pause
	for _, group := range []struct {
		hold    time.Duration
		offsets []time.Duration
	}{
		{3 * time.Second, []time.Duration{-30 * time.Millisecond, -20 * time.Millisecond, -10 * time.Millisecond, -5 * time.Millisecond, 0, 5 * time.Millisecond}},
		{6500 * time.Millisecond, []time.Duration{-20 * time.Millisecond, -10 * time.Millisecond, -5 * time.Millisecond}},
	} {
		caught := false
		retries := []time.Duration{-10 * time.Millisecond, -5 * time.Millisecond, -15 * time.Millisecond, -8 * time.Millisecond, -3 * time.Millisecond, -12 * time.Millisecond}
		for k := 0; k < len(group.offsets)+len(retries); k++ {
			offset := 0 * time.Millisecond
			if k < len(group.offsets) {
				offset = group.offsets[k]
			} else if caught {
				break
			} else {
				offset = retries[k-len(group.offsets)]
			}
			p := stopAround(len(pauses), offset, group.hold)
			caught = caught || (p.offset < 0 && claimedAhead(p))
			pauses = append(pauses, p)
		}
	}
	victim.stop(t)
	peer.stop(t)
	readClaims()

	// Runs by tick. A "lost" record is the leader's note that a claimant's
	// lease expired with the run pending; it is not a run.
	runs, lost := map[string][]check.Record{}, map[string][]check.Record{}
	all := append(victim.records(t), peer.records(t)...)
	for _, r := range all {
		if r.Status == "lost" {
			lost[key(r.Job, r.Tick)] = append(lost[key(r.Job, r.Tick)], r)
		} else {
			runs[key(r.Job, r.Tick)] = append(runs[key(r.Job, r.Tick)], r)
		}
	}
	for k, rs := range runs {
		if len(rs) > 1 {
			t.Errorf("DUPLICATE %s:\n  %v", k, rs)
		}
		for _, r := range rs {
			if c, ok := claims[k]; !ok {
				t.Errorf("run of an unclaimed tick: %s", r)
			} else if c != r.Instance {
				t.Errorf("run by %s of a tick claimed by %s: %s", r.Instance, c, r)
			}
		}
	}
	if len(all) < 100 {
		t.Fatalf("only %d records", len(all))
	}

	outcomes := map[string]int{}
	for i, p := range pauses {
		// The victim stopped at S and resumed at R.
		S, R := p.tick.Add(p.offset), p.to
		counts := map[string]int{}
		for j := 0; j < jobs; j++ {
			job := fmt.Sprintf("job-%d", j)
			for tick := p.tick; tick.Before(R.Add(every)); tick = tick.Add(every) {
				k := key(job, tick)
				rs := runs[k]
				var outcome string
				switch claimant := claims[k]; {
				case claimant == "peer":
					outcome = "peer"
					if len(rs) != 1 || rs[0].Lateness() > 2500*time.Millisecond {
						t.Errorf("pause %d: the peer claimed %s, but its runs are %v", i, k, rs)
					}
				case claimant == "":
					if tick.Before(R.Add(-time.Second)) {
						t.Errorf("pause %d: %s, due while the victim was stopped, is unclaimed", i, k)
					}
					continue
				case claimant != "victim":
					t.Errorf("pause %d: %s claimed by %q", i, k, claimant)
				case tick.After(S.Add(maxLead)):
					// Beyond its claim lead when it was stopped: it can only
					// have claimed this tick after it resumed (late, within
					// the grace, where the peer had not claimed it yet).
					outcome = "victim, after it resumed"
					if len(rs) != 1 || rs[0].Started.Before(R.Add(-10*time.Millisecond)) {
						t.Errorf("pause %d: the victim claimed %s, due after its claim lead when it was stopped (%s), but its runs are %v", i, k, S.Format("15:04:05.000"), rs)
					}
				case len(rs) != 1:
					t.Errorf("pause %d: the victim claimed %s before it was stopped; runs %v", i, k, rs)
				case rs[0].Status != "skipped" && rs[0].Lateness() < p.offset+100*time.Millisecond:
					outcome = "victim, started before the pause"
				case R.Sub(tick) <= grace-200*time.Millisecond:
					// Within the grace, but every pause here outlasts the
					// victim's 1s lease: the leader may already have recorded
					// the run lost, so the victim must not start it.
					outcome = "victim, claimed before the pause, skipped on resume (lease expired)"
					if rs[0].Status != "skipped" || !strings.Contains(rs[0].Error, "lease expired") {
						t.Errorf("pause %d: the victim claimed %s before it was stopped for %v, past its lease; want it skipped on resume as its lease expired; got %s", i, k, p.hold, rs[0])
					}
				case R.Sub(tick) > grace+200*time.Millisecond:
					outcome = "victim, claimed before the pause, skipped on resume (past the grace)"
					if rs[0].Status != "skipped" {
						t.Errorf("pause %d: the victim claimed %s before it was stopped for %v (past the misfire grace); want skipped, got %s", i, k, p.hold, rs[0])
					}
				default:
					outcome = "victim, claimed before the pause, resumed at the grace boundary"
				}
				if len(lost[k]) > 0 {
					outcome += " (and recorded lost by the leader)"
				}
				counts[outcome]++
				outcomes[outcome]++
			}
		}
		var summary []string
		for o, n := range counts {
			summary = append(summary, fmt.Sprintf("%d %s", n, o))
		}
		slices.Sort(summary)
		t.Logf("pause %d: stopped %+v from the tick %s for %v; ticks then due: %s", i, p.offset, p.tick.Format("05.0"), p.hold, strings.Join(summary, "; "))
	}
	leaseExpired, pastGrace := 0, 0
	for o, n := range outcomes {
		if strings.Contains(o, "skipped on resume (lease expired)") {
			leaseExpired += n
		}
		if strings.Contains(o, "skipped on resume (past the grace)") {
			pastGrace += n
		}
	}
	if leaseExpired == 0 || pastGrace == 0 {
		t.Errorf("the pauses caught the victim between claim and start %d times within the grace and %d times past it; want both: the drill did not test its subject", leaseExpired, pastGrace)
	}
	t.Logf("%d records, %d claims", len(all), len(claims))
}
