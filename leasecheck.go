package distcron

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseCheckFresh is how long a confirmation that the session's lease is
// alive stands for the late starts that follow it (in real time, so a
// process pause longer than this always gets a new one).
const leaseCheckFresh = 100 * time.Millisecond

// leaseCheck remembers the last confirmation that the session's lease was
// alive, shared by all late starts: at saturation every start is late, and
// a read per start would add a request per fire just when etcd is the
// bottleneck.
type leaseCheck struct {
	mu    sync.Mutex
	lease clientv3.LeaseID
	at    time.Time // real time the confirmation was asked for
}

// leaseAlive reports whether lease is the current session's and etcd
// confirmed it alive within leaseCheckFresh. A run claimed on that lease
// then still holds its running key: the claim put it there, only this
// instance deletes it, and it moves only at a session renewal, which
// makes a new lease current. When it reports false the caller reads the
// running key itself.
func (s *Scheduler) leaseAlive(ctx context.Context, lease clientv3.LeaseID) bool {
	sess := s.sess.get()
	if sess == nil || sess.Lease() != lease {
		return false
	}
	c := &s.leaseChecked
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease == lease && time.Since(c.at) < leaseCheckFresh {
		return true
	}
	asked := time.Now()
	resp, err := s.cli.TimeToLive(ctx, lease)
	if err != nil || resp.TTL <= 0 {
		return false
	}
	c.lease, c.at = lease, asked
	return true
}
