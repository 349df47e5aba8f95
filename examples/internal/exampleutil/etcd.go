// Package exampleutil holds what the example programs share: connecting to
// etcd, or starting an embedded one when no endpoints are given.
package exampleutil

import (
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/embedetcd"
)

// Etcd is a client plus, when it was started here, the embedded server.
type Etcd struct {
	Client    *clientv3.Client
	embedded  *embedetcd.Cluster
	dir       string
	endpoints []string
}

// Endpoints returns the endpoints the client dials.
func (e *Etcd) Endpoints() []string { return e.endpoints }

// Embedded reports whether Connect started the etcd server itself.
func (e *Etcd) Embedded() bool { return e.embedded != nil }

// Connect dials endpoints (comma-separated). When endpoints is empty it
// starts a single-node etcd in a temporary directory, with fsync on, and
// dials that; log says where.
func Connect(endpoints string, log *zap.Logger) (*Etcd, error) {
	e := &Etcd{}
	var eps []string
	if strings.TrimSpace(endpoints) == "" {
		dir, err := os.MkdirTemp("", "distcron-etcd-")
		if err != nil {
			return nil, err
		}
		c, err := embedetcd.Start(dir, embedetcd.Options{})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		e.embedded, e.dir = c, dir
		eps = c.Endpoints()
		log.Info("no etcd endpoints given: started an embedded etcd", zap.Strings("endpoints", eps), zap.String("dir", dir))
	} else {
		for _, ep := range strings.Split(endpoints, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				eps = append(eps, ep)
			}
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: log.Named("etcd-client").WithOptions(zap.IncreaseLevel(zap.ErrorLevel))})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	e.Client, e.endpoints = cli, eps
	return e, nil
}

// Close closes the client and stops and removes an embedded etcd.
func (e *Etcd) Close() {
	if e.Client != nil {
		e.Client.Close()
	}
	if e.embedded != nil {
		e.embedded.Close()
		os.RemoveAll(e.dir)
	}
}
