package embedetcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"
)

// MemberConfig is where one etcd member lives and which cluster it belongs
// to: what the etcd command line calls --name, --data-dir,
// --listen-client-urls (also advertised), --listen-peer-urls (also
// advertised), --initial-cluster and --initial-cluster-state.
type MemberConfig struct {
	Name      string // member name, "m0"..
	Dir       string // data directory
	ClientURL string // "http://127.0.0.1:<port>"
	PeerURL   string // "http://127.0.0.1:<port>"
	// InitialCluster lists every member as name=peerURL, comma-separated.
	InitialCluster string
	// Existing sets --initial-cluster-state existing: the member joins a
	// cluster that was bootstrapped before. etcd ignores it (and
	// InitialCluster) when Dir already holds the member's data, as it does
	// on a restart.
	Existing bool
}

// Layout returns the configurations of an n-member cluster named m0..m<n-1>,
// with data directories dir/m0.. and client and peer URLs on distinct free
// ports of 127.0.0.1, chosen now: a member keeps its ports across restarts.
func Layout(dir string, n int) ([]MemberConfig, error) {
	if n < 1 {
		return nil, errors.New("embedetcd: need at least one member")
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	members := make([]MemberConfig, n)
	initial := make([]string, n)
	for i := range members {
		m := &members[i]
		m.Name = fmt.Sprintf("m%d", i)
		m.Dir = filepath.Join(dir, m.Name)
		m.ClientURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		m.PeerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		initial[i] = m.Name + "=" + m.PeerURL
	}
	for i := range members {
		members[i].InitialCluster = strings.Join(initial, ",")
	}
	return members, nil
}

// EmbedConfig returns the etcd server configuration of the member under
// opts: etcd's defaults (election timeout 1s, fsync on unless
// opts.NoFsync) plus the member's identity, URLs and cluster.
func (mc MemberConfig) EmbedConfig(opts Options) (*embed.Config, error) {
	cu, err := url.Parse(mc.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: client URL: %w", err)
	}
	pu, err := url.Parse(mc.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: peer URL: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = mc.Name
	cfg.Dir = mc.Dir
	cfg.LogLevel = opts.LogLevel
	if cfg.LogLevel == "" {
		cfg.LogLevel = "fatal" // etcd logs benign errors on Close; failures surface as errors
	}
	cfg.UnsafeNoFsync = opts.NoFsync
	if opts.AutoCompaction != "" {
		cfg.AutoCompactionMode = "periodic"
		cfg.AutoCompactionRetention = opts.AutoCompaction
	}
	if opts.QuotaBackendBytes > 0 {
		cfg.QuotaBackendBytes = opts.QuotaBackendBytes
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = mc.InitialCluster
	cfg.InitialClusterToken = "distcron-embedded"
	if mc.Existing {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	return cfg, nil
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
