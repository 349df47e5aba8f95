package embedetcd

import (
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

func TestLayoutAndConfig(t *testing.T) {
	dir := t.TempDir()
	ms, err := Layout(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]bool{}
	for i, m := range ms {
		if m.Name != []string{"m0", "m1", "m2"}[i] || m.Dir != filepath.Join(dir, m.Name) || m.Existing {
			t.Errorf("member %d: %+v", i, m)
		}
		if !strings.Contains(m.InitialCluster, m.Name+"="+m.PeerURL) || strings.Count(m.InitialCluster, ",") != 2 {
			t.Errorf("member %d: initial cluster %q", i, m.InitialCluster)
		}
		urls[m.ClientURL], urls[m.PeerURL] = true, true
	}
	if len(urls) != 6 {
		t.Errorf("URLs not distinct: %v", urls)
	}
	if _, err := Layout(dir, 0); err == nil {
		t.Error("Layout(0) succeeded")
	}

	ms[1].Existing = true
	cfg, err := ms[1].EmbedConfig(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("invalid config: %v", err)
	}
	if cfg.Name != "m1" || cfg.ClusterState != embed.ClusterStateFlagExisting || cfg.UnsafeNoFsync ||
		cfg.ListenClientUrls[0].String() != ms[1].ClientURL || cfg.AdvertisePeerUrls[0].String() != ms[1].PeerURL {
		t.Errorf("config %+v", cfg)
	}
	if _, err := (MemberConfig{Name: "x", ClientURL: "::bad", PeerURL: "http://127.0.0.1:1"}).EmbedConfig(Options{}); err == nil {
		t.Error("a bad client URL was accepted")
	}
}
