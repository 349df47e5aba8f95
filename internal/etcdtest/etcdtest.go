// Package etcdtest gives tests a real etcd: members run as processes (the
// etcdmember command of the nested module internal/embedetcd, built once
// per test binary), on free ports of 127.0.0.1, with data in a temporary
// directory and fsync on. Running etcd out of process keeps its server
// out of this module's dependencies, so the library's consumers never see
// it in their module graph.
package etcdtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Cluster is a running set of etcd member processes.
type Cluster struct {
	dir     string
	ownDir  bool
	bin     string
	members []*member
}

type member struct {
	name, url string
	args      []string
	cmd       *exec.Cmd
	stderr    *syncBuffer
}

// Start starts a single-node etcd for the test and stops it on cleanup.
func Start(t testing.TB) *Cluster { return StartCluster(t, 1) }

// StartCluster starts an n-member etcd cluster for the test and stops it
// on cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := New(t.TempDir(), n)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// New starts n members with data under dir (a new temporary directory,
// removed by Close, when dir is empty) and waits until all serve.
func New(dir string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, errors.New("etcdtest: need at least one member")
	}
	bin, err := memberBinary()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if dir == "" {
		if c.dir, err = os.MkdirTemp("", "distcron-etcd-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	for i := range n {
		m := &member{name: fmt.Sprintf("m%d", i), url: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])}
		m.args = []string{"-name", m.name, "-dir", filepath.Join(c.dir, m.name),
			"-client-url", m.url, "-peer-url", fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			"-initial-cluster", strings.Join(initial, ","), "-log-level", "error"}
		c.members = append(c.members, m)
	}
	if err := c.Restart(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Restart starts every member that is not running, with its data and
// ports, and waits until all serve.
func (c *Cluster) Restart() error {
	ready := make(chan error, len(c.members))
	started := 0
	for _, m := range c.members {
		if m.cmd != nil {
			continue
		}
		cmd := exec.Command(c.bin, m.args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
		m.stderr = &syncBuffer{}
		cmd.Stderr = m.stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("etcdtest: start %s: %w", c.bin, err)
		}
		m.cmd = cmd
		started++
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "etcdmember "+m.name+" ready" {
					ready <- nil
					_, _ = io.Copy(io.Discard, out)
					return
				}
			}
			ready <- fmt.Errorf("etcdtest: member %s exited before it was ready: %s", m.name, m.stderr.String())
		}()
	}
	timeout := time.After(60 * time.Second)
	for range started {
		select {
		case err := <-ready:
			if err != nil {
				return err
			}
		case <-timeout:
			return errors.New("etcdtest: members not ready within 60s")
		}
	}
	return nil
}

// Endpoints returns the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.url)
	}
	return out
}

// Stop stops every member (SIGTERM, then SIGKILL after 5s), keeping its
// data and ports for Restart.
func (c *Cluster) Stop() {
	for _, m := range c.members {
		if m.cmd != nil {
			_ = m.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = m.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = m.cmd.Process.Kill()
			<-done
		}
		m.cmd = nil
	}
}

// Close stops every member and removes the data directory New created.
func (c *Cluster) Close() {
	c.Stop()
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

// Client returns a new client to the cluster, closed on cleanup.
func Client(t testing.TB, c *Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var built struct {
	once sync.Once
	path string
	err  error
}

// memberBinary builds the etcdmember command once per process, into a
// shared path in the temporary directory (built aside, then renamed, so
// concurrent test binaries never see a partial file).
func memberBinary() (string, error) {
	built.once.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			built.err = errors.New("etcdtest: cannot locate the source tree")
			return
		}
		module := filepath.Join(filepath.Dir(file), "..", "embedetcd")
		dir := filepath.Join(os.TempDir(), "distcron-etcdtest")
		if built.err = os.MkdirAll(dir, 0o755); built.err != nil {
			return
		}
		tmp, err := os.CreateTemp(dir, "etcdmember-*")
		if err != nil {
			built.err = err
			return
		}
		tmp.Close()
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/etcdmember")
		cmd.Dir = module
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			built.err = fmt.Errorf("etcdtest: build etcdmember in %s: %v\n%s", module, err, out)
			return
		}
		built.path = filepath.Join(dir, "etcdmember")
		if built.err = os.Rename(tmp.Name(), built.path); built.err != nil {
			os.Remove(tmp.Name())
		}
	})
	return built.path, built.err
}

// freePorts returns n distinct ports that were free on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
