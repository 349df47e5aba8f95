package etcdfault

import (
	"context"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactGetTimeout bounds the read of etcd's revision for a compacted response.
const compactGetTimeout = 2 * time.Second

// watcher wraps a clientv3.Watcher. Every watch it returns is relayed by a
// goroutine that ends when the watch's ctx ends, the inner channel closes,
// the watch is broken, or the watcher is closed.
type watcher struct {
	in    *Injector
	inner clientv3.Watcher

	mu        sync.Mutex
	open      map[*watch]struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// watch is one open watch.
type watch struct {
	key   string
	failc chan watchFault // buffered: the fault to end the watch with
}

// watchFault is how a broken watch ends.
type watchFault struct {
	compact bool  // deliver a compacted response
	err     error // else, if set, deliver a cancelled response with this reason
}

func (w *watcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	wctx, cancel := context.WithCancel(ctx)
	wt := &watch{key: key, failc: make(chan watchFault, 1)}
	var inner clientv3.WatchChan // nil delivers nothing
	r := w.in.decide(Call{Kind: Watch, Keys: []string{key}})
	switch {
	case r == nil:
		inner = w.inner.Watch(wctx, key, opts...)
	case r.Action == Delay:
		if send, _ := r.before(ctx); send {
			inner = w.inner.Watch(wctx, key, opts...)
		} // else ctx ended: the relay closes the channel
	case r.Action == Hang || r.Action == LoseAnswer:
	case r.Action == CompactWatch:
		wt.failc <- watchFault{compact: true}
	default: // Fail, CancelWatch
		wt.failc <- watchFault{err: r.Err}
	}
	if len(wt.failc) == 0 {
		w.mu.Lock()
		w.open[wt] = struct{}{}
		w.mu.Unlock()
	}
	out := make(chan clientv3.WatchResponse)
	go w.relay(wctx, cancel, wt, inner, out)
	return out
}

func (w *watcher) relay(ctx context.Context, cancel context.CancelFunc, wt *watch, inner clientv3.WatchChan, out chan<- clientv3.WatchResponse) {
	defer close(out)
	defer cancel()
	defer func() {
		w.mu.Lock()
		delete(w.open, wt)
		w.mu.Unlock()
	}()
	var lastRev int64
	for {
		select {
		case f := <-wt.failc:
			w.deliver(ctx, wt.key, f, lastRev, out)
			return
		case resp, ok := <-inner:
			if !ok {
				return
			}
			lastRev = max(lastRev, resp.Header.GetRevision())
			select {
			case out <- resp:
			case f := <-wt.failc:
				w.deliver(ctx, wt.key, f, lastRev, out)
				return
			case <-ctx.Done():
				return
			case <-w.closed:
				return
			}
		case <-ctx.Done():
			return
		case <-w.closed:
			return
		}
	}
}

// deliver sends the last response of a watch ended by f, if it has one.
func (w *watcher) deliver(ctx context.Context, key string, f watchFault, lastRev int64, out chan<- clientv3.WatchResponse) {
	var resp clientv3.WatchResponse
	switch {
	case f.compact:
		resp = w.compacted(ctx, key, lastRev)
	case f.err != nil:
		resp = clientv3.WatchResponse{Header: &pb.ResponseHeader{Revision: lastRev}, Canceled: true, CancelReason: f.err.Error()}
	default:
		return
	}
	select {
	case out <- resp:
	case <-ctx.Done():
	case <-w.closed:
	}
}

// compacted is the response of a watch whose history was compacted at
// etcd's current revision.
func (w *watcher) compacted(ctx context.Context, key string, lastRev int64) clientv3.WatchResponse {
	resp := clientv3.WatchResponse{Header: &pb.ResponseHeader{Revision: lastRev}, CompactRevision: max(lastRev, 1), Canceled: true}
	gctx, cancel := context.WithTimeout(ctx, compactGetTimeout)
	defer cancel()
	if g, err := w.in.kv.Get(gctx, key, clientv3.WithCountOnly()); err == nil {
		resp.Header = g.Header
		resp.CompactRevision = max(g.Header.Revision, 1)
	}
	return resp
}

func (w *watcher) RequestProgress(ctx context.Context) error { return w.inner.RequestProgress(ctx) }

func (w *watcher) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return w.inner.Close()
}

// fail breaks the open watches whose key has prefix.
func (w *watcher) fail(prefix string, compact bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for wt := range w.open {
		if !strings.HasPrefix(wt.key, prefix) {
			continue
		}
		select {
		case wt.failc <- watchFault{compact: compact}:
		default:
		}
		delete(w.open, wt)
		n++
	}
	return n
}
