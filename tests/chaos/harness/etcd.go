package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/embedetcd"
)

// etcdCluster is the run's etcd: one etcdmember process per member (fsync
// on, etcd's defaults otherwise), so that a member can be SIGKILLed and
// restarted from its data directory, or SIGSTOPped and SIGCONTed. A
// member keeps its ports across restarts.
type etcdCluster struct {
	bin     string
	logDir  string
	members []*member
	eps     []string // the members' client URLs
	// lost is called when a member process exits without the harness
	// asking, after it was ready.
	lost func(m *member, err error)
}

// member is one etcd member; it has one process at a time.
type member struct {
	embedetcd.MemberConfig
	c *etcdCluster

	mu  sync.Mutex
	n   int         // processes so far
	cur *memberProc // the current process, nil before the first
}

// memberProc is one etcdmember process.
type memberProc struct {
	cmd      *exec.Cmd
	log      string // stdout and stderr, in the log directory
	ready    chan struct{}
	exited   chan struct{}
	expected bool // the harness ended it: exiting is not a problem
}

// memberStartTimeout bounds how long a member process may take to become
// ready: generous, for a loaded 2-core machine.
const memberStartTimeout = 60 * time.Second

// startEtcd starts an n-member cluster of etcdmember processes (bin) with
// data in subdirectories of dataDir and logs in logDir, and waits until
// every member is ready.
func startEtcd(bin, dataDir, logDir string, n int, lost func(*member, error)) (*etcdCluster, error) {
	layout, err := embedetcd.Layout(dataDir, n)
	if err != nil {
		return nil, err
	}
	c := &etcdCluster{bin: bin, logDir: logDir, lost: lost}
	for _, mc := range layout {
		c.members = append(c.members, &member{MemberConfig: mc, c: c})
		c.eps = append(c.eps, mc.ClientURL)
	}
	// Members of a new cluster wait for each other: start them together.
	if err := each(c.members, func(m *member) error { return m.startReady(context.Background(), false) }); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// each calls f for every member of ms at once, and joins their errors,
// each prefixed with its member's name.
func each(ms []*member, f func(*member) error) error {
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(m); err != nil {
				errs[i] = fmt.Errorf("%s: %w", m.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close SIGKILLs every member process (SIGCONT first, in case it is
// stopped) and waits for them.
func (c *etcdCluster) close() {
	for _, m := range c.members {
		m.mu.Lock()
		p := m.cur
		if p != nil {
			p.expected = true
		}
		m.mu.Unlock()
		if p != nil {
			p.cmd.Process.Signal(syscall.SIGCONT)
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// leader returns the index of the raft leader, asking every member for
// its status (each one says who it thinks leads; the first answer that
// names a member of the cluster counts).
func (c *etcdCluster) leader(ctx context.Context, cli *clientv3.Client) (int, error) {
	ids := make([]uint64, len(c.members))
	var lead uint64
	var errs []error
	for i, m := range c.members {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := cli.Status(sctx, m.ClientURL)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			continue
		}
		ids[i] = resp.Header.MemberId
		if lead == 0 {
			lead = resp.Leader
		}
	}
	for i, id := range ids {
		if id != 0 && id == lead {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no member knows the leader (%d): %w", lead, errors.Join(errs...))
}

// start starts a new process of the member. existing: it rejoins the
// cluster (its data directory holds its state).
func (m *member) start(existing bool) (*memberProc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	p := &memberProc{log: filepath.Join(m.c.logDir, fmt.Sprintf("etcd-%s.%d.log", m.Name, m.n)),
		ready: make(chan struct{}), exited: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	state := "new"
	if existing {
		state = "existing"
	}
	p.cmd = child(m.c.bin, "-name", m.Name, "-dir", m.Dir, "-client-url", m.ClientURL, "-peer-url", m.PeerURL,
		"-initial-cluster", m.InitialCluster, "-initial-cluster-state", state, "-log-level", "warn",
		"-start-timeout", memberStartTimeout.String())
	readyLine := []byte(embedetcd.ReadyLine(m.Name))
	var once sync.Once
	p.cmd.Stdout = &lineWriter{w: logf, line: func(l []byte) {
		if bytes.Equal(l, readyLine) {
			once.Do(func() { close(p.ready) })
		}
	}}
	p.cmd.Stderr = logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	m.cur = p
	go func() {
		err := p.cmd.Wait()
		logf.Close()
		m.mu.Lock()
		expected := p.expected
		m.mu.Unlock()
		close(p.exited)
		select {
		case <-p.ready:
			if !expected && m.c.lost != nil {
				m.c.lost(m, err)
			}
		default:
		}
	}()
	return p, nil
}

// startReady starts the member and waits until it is ready. A process
// that exits before it is ready (a port still taken, say) is retried every
// 500ms for up to 30s.
func (m *member) startReady(ctx context.Context, existing bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := m.start(existing)
		if err != nil {
			return err
		}
		t := time.NewTimer(memberStartTimeout)
		select {
		case <-p.ready:
			t.Stop()
			return nil
		case <-p.exited:
			t.Stop()
			if time.Now().After(deadline) || !sleepCtx(ctx, 500*time.Millisecond) {
				return fmt.Errorf("etcd member %s exited before it was ready: %v (see %s)", m.Name, p.cmd.ProcessState, p.log)
			}
		case <-t.C:
			m.kill()
			return fmt.Errorf("etcd member %s not ready after %v (see %s)", m.Name, memberStartTimeout, p.log)
		case <-ctx.Done():
			t.Stop()
			m.kill()
			return ctx.Err()
		}
	}
}

// process returns the member's current process.
func (m *member) process() *memberProc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// kill SIGKILLs the member's process and waits for it; nil when it died of
// that signal.
func (m *member) kill() error {
	m.mu.Lock()
	p := m.cur
	p.expected = true
	m.mu.Unlock()
	return sigkill(p.cmd, p.exited)
}

// freeze SIGSTOPs the member's process; nil when it was seen stopped.
func (m *member) freeze() error { return sigstop(m.process().cmd.Process) }

// thaw SIGCONTs the member's process.
func (m *member) thaw() error { return m.process().cmd.Process.Signal(syscall.SIGCONT) }
