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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	members []*exec.Cmd
	urls    []string
	stderr  []*syncBuffer
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
	c := &Cluster{dir: dir}
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
	ready := make(chan error, n)
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		url := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		cmd := exec.Command(bin, "-name", name, "-dir", filepath.Join(c.dir, name),
			"-client-url", url, "-peer-url", fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			"-initial-cluster", strings.Join(initial, ","), "-log-level", "error")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
		errs := &syncBuffer{}
		cmd.Stderr = errs
		out, err := cmd.StdoutPipe()
		if err != nil {
			c.Close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			c.Close()
			return nil, fmt.Errorf("etcdtest: start %s: %w", bin, err)
		}
		c.members, c.urls, c.stderr = append(c.members, cmd), append(c.urls, url), append(c.stderr, errs)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "etcdmember "+name+" ready" {
					ready <- nil
					_, _ = bufio.NewReader(out).WriteTo(discard{})
					return
				}
			}
			ready <- fmt.Errorf("etcdtest: member %s exited before it was ready: %s", name, errs.String())
		}()
	}
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				c.Close()
				return nil, err
			}
		case <-timeout:
			c.Close()
			return nil, errors.New("etcdtest: members not ready within 60s")
		}
	}
	return c, nil
}

// Endpoints returns the client URLs of all members.
func (c *Cluster) Endpoints() []string { return slices.Clone(c.urls) }

// Close stops every member (SIGTERM, then SIGKILL after 5s) and removes
// the data directory New created.
func (c *Cluster) Close() {
	for _, m := range c.members {
		_ = m.Process.Signal(syscall.SIGTERM)
	}
	for _, m := range c.members {
		done := make(chan struct{})
		go func() { _ = m.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = m.Process.Kill()
			<-done
		}
	}
	c.members = nil
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
		root := filepath.Join(filepath.Dir(file), "..", "..")
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
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "github.com/distcron/distcron/internal/embedetcd/cmd/etcdmember")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			built.err = fmt.Errorf("etcdtest: build etcdmember (the repository's go.work must be in use): %v\n%s", err, out)
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

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

