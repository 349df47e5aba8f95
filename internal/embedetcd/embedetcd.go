// Package embedetcd starts real etcd servers inside the current process:
// one node for the quickstart and examples, or a cluster of several members
// for tests that need quorum loss and member restarts. Data lives in a
// caller-supplied directory; fsync stays on unless NoFsync is set.
//
// Its configuration helpers (Layout, MemberConfig.EmbedConfig, Serve) also
// serve the etcdmember command (cmd/etcdmember), which runs one member as
// its own process, for drills that kill or freeze members.
package embedetcd

import (
	"errors"
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
	Name      string // "m0"..
	ClientURL string // "http://127.0.0.1:<port>", kept across restarts
	cfg       MemberConfig
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
	layout, err := Layout(dir, n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	for _, mc := range layout {
		c.Members = append(c.Members, &Member{Name: mc.Name, ClientURL: mc.ClientURL, cfg: mc, opts: opts})
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

// Stop stops the member gracefully (etcd lets open client streams finish
// and hands leadership over first); its data stays. It is a no-op when the
// member is already stopped.
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
	cfg, err := m.cfg.EmbedConfig(m.opts)
	if err != nil {
		return err
	}
	e, err := Serve(cfg, m.opts.StartTimeout)
	if err != nil {
		return err
	}
	m.etcd = e
	return nil
}
