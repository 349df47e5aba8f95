package etcdfault

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keepAliveBuf is the buffer of a relayed keepalive channel, as in clientv3.
const keepAliveBuf = 16

// lease wraps a clientv3.Lease.
type lease struct {
	in    *Injector
	inner clientv3.Lease

	mu   sync.Mutex
	open map[*keepAlive]struct{}
}

// keepAlive is one open KeepAlive channel.
type keepAlive struct {
	id    clientv3.LeaseID
	failc chan struct{} // closed to break it
}

func (l *lease) Grant(ctx context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	return intercept(l.in, ctx, Call{Kind: Grant}, func() (*clientv3.LeaseGrantResponse, error) {
		return l.inner.Grant(ctx, ttl)
	})
}

func (l *lease) Revoke(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseRevokeResponse, error) {
	return intercept(l.in, ctx, Call{Kind: Revoke, Lease: id}, func() (*clientv3.LeaseRevokeResponse, error) {
		return l.inner.Revoke(ctx, id)
	})
}

func (l *lease) TimeToLive(ctx context.Context, id clientv3.LeaseID, opts ...clientv3.LeaseOption) (*clientv3.LeaseTimeToLiveResponse, error) {
	return l.inner.TimeToLive(ctx, id, opts...)
}

func (l *lease) Leases(ctx context.Context) (*clientv3.LeaseLeasesResponse, error) {
	return l.inner.Leases(ctx)
}

func (l *lease) KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	return intercept(l.in, ctx, Call{Kind: KeepAlive, Lease: id}, func() (*clientv3.LeaseKeepAliveResponse, error) {
		return l.inner.KeepAliveOnce(ctx, id)
	})
}

func (l *lease) KeepAlive(ctx context.Context, id clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	if r := l.in.decide(Call{Kind: KeepAlive, Lease: id}); r != nil {
		switch r.Action {
		case Hang, Delay:
			if send, err := r.before(ctx); !send {
				return nil, err
			}
		case LoseAnswer:
			_, _ = l.inner.KeepAliveOnce(ctx, id)
			return failedKeepAlive(r)
		default:
			return failedKeepAlive(r)
		}
	}
	kctx, cancel := context.WithCancel(ctx)
	inner, err := l.inner.KeepAlive(kctx, id)
	if err != nil {
		cancel()
		return nil, err
	}
	ka := &keepAlive{id: id, failc: make(chan struct{})}
	l.mu.Lock()
	l.open[ka] = struct{}{}
	l.mu.Unlock()
	out := make(chan *clientv3.LeaseKeepAliveResponse, keepAliveBuf)
	go func() {
		defer close(out)
		defer cancel()
		defer func() {
			l.mu.Lock()
			delete(l.open, ka)
			l.mu.Unlock()
		}()
		for {
			select {
			case resp, ok := <-inner:
				if !ok {
					return
				}
				select { // never block, as clientv3 does
				case out <- resp:
				default:
				}
			case <-ka.failc:
				return
			}
		}
	}()
	return out, nil
}

// failedKeepAlive is the answer of a failed KeepAlive: r's Err if set, else
// a closed channel, as when the client gives up on the lease.
func failedKeepAlive(r *Rule) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	ch := make(chan *clientv3.LeaseKeepAliveResponse)
	close(ch)
	return ch, nil
}

func (l *lease) Close() error { return l.inner.Close() }

// fail breaks the open keepalives of lease id (0: all).
func (l *lease) fail(id clientv3.LeaseID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for ka := range l.open {
		if id == clientv3.NoLease || ka.id == id {
			close(ka.failc)
			delete(l.open, ka)
			n++
		}
	}
	return n
}
