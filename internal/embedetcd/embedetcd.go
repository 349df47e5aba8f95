// Package embedetcd starts real etcd servers inside the current process:
// one node for the quickstart and examples, or a cluster of several members
// for tests that need quorum loss and member restarts. Data lives in a
// caller-supplied directory; fsync stays on unless NoFsync is set.
package embedetcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Options tune the embedded servers. The zero value is a sane default.
type Options struct {
	// NoFsync disables fsync (faster, unsafe). Default false: fsync on.
	NoFsync bool
	// LogLevel of the etcd server's own logger. Default "fatal".
	LogLevel string
	// StartTimeout bounds how long a member may take to become ready. Default 30s.
	StartTimeout time.Duration
	// AutoCompaction, when non-empty, is the periodic compaction retention
	// (for example "1m"); default none.
	AutoCompaction string
	// QuotaBackendBytes is the backend size quota; 0 keeps etcd's default.
	QuotaBackendBytes int64
}

// Member is one etcd server of a Cluster. Stop and Restart are safe for
// concurrent use.
type Member struct {
	Name      string
	ClientURL string
	dir       string
	peerURL   string
	cluster   string
	opts      Options

	mu   sync.Mutex
	etcd *embed.Etcd
}

// Cluster is a set of embedded etcd members sharing one initial cluster.
type Cluster struct {
	Members []*Member
}

// Start starts a single-node etcd in dir and waits until it serves.
func Start(dir string, opts Options) (*Cluster, error) { return StartCluster(dir, 1, opts) }

// StartCluster starts n members in subdirectories of dir, bound to free
// ports on 127.0.0.1, and waits until every member serves.
func StartCluster(dir string, n int, opts Options) (*Cluster, error) {
	if n < 1 {
		return nil, errors.New("embedetcd: need at least one member")
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			dir:       filepath.Join(dir, fmt.Sprintf("m%d", i)),
			opts:      opts,
		}
		initial = append(initial, m.Name+"="+m.peerURL)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.cluster = strings.Join(initial, ",")
	}
	// Members of a multi-node cluster wait for each other, so start them together.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range c.Members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.Restart() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Endpoints returns the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Close stops every member. Data directories are left for the caller.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// Stop stops the member (as a crash would, minus data loss). It is a no-op
// when the member is already stopped.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// Running reports whether the member is started.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

// Restart starts the member again on the same ports and data directory and
// waits until it is ready. It is a no-op when the member is running.
func (m *Member) Restart() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		return nil
	}
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.dir
	cfg.LogLevel = m.opts.LogLevel
	if cfg.LogLevel == "" {
		cfg.LogLevel = "fatal" // etcd logs benign errors on Close; failures surface as errors here
	}
	cfg.UnsafeNoFsync = m.opts.NoFsync
	if m.opts.AutoCompaction != "" {
		cfg.AutoCompactionMode = "periodic"
		cfg.AutoCompactionRetention = m.opts.AutoCompaction
	}
	if m.opts.QuotaBackendBytes > 0 {
		cfg.QuotaBackendBytes = m.opts.QuotaBackendBytes
	}
	cu, _ := url.Parse(m.ClientURL)
	pu, _ := url.Parse(m.peerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = m.cluster
	cfg.InitialClusterToken = "distcron-embedded"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("embedetcd: start %s: %w", m.Name, err)
	}
	timeout := m.opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("embedetcd: %s failed: %w", m.Name, err)
	case <-time.After(timeout):
		e.Close()
		return fmt.Errorf("embedetcd: %s not ready after %v", m.Name, timeout)
	}
	m.etcd = e
	return nil
}

// freePorts asks the kernel for n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedetcd: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
