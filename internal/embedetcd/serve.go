package embedetcd

import (
	"fmt"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Serve starts an etcd server with cfg and waits until it is ready: it
// has joined its cluster and published itself, which takes a quorum. It
// gives up after timeout (30s when not positive), and closes the server
// when it fails.
func Serve(cfg *embed.Config, timeout time.Duration) (*embed.Etcd, error) {
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start %s: %w", cfg.Name, err)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedetcd: %s failed: %w", cfg.Name, err)
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("embedetcd: %s not ready after %v", cfg.Name, timeout)
	}
}

// ReadyLine is the line the etcdmember command (cmd/etcdmember) prints on
// stdout once the member it runs, named name, is ready.
func ReadyLine(name string) string { return "etcdmember " + name + " ready" }
