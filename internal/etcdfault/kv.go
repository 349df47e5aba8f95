package etcdfault

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// kv wraps a clientv3.KV.
type kv struct {
	in    *Injector
	inner clientv3.KV
}

func (k *kv) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	return intercept(k.in, ctx, Call{Kind: Put, Keys: []string{key}}, func() (*clientv3.PutResponse, error) {
		return k.inner.Put(ctx, key, val, opts...)
	})
}

func (k *kv) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return intercept(k.in, ctx, Call{Kind: Get, Keys: []string{key}}, func() (*clientv3.GetResponse, error) {
		return k.inner.Get(ctx, key, opts...)
	})
}

func (k *kv) GetStream(ctx context.Context, key string, opts ...clientv3.OpOption) (clientv3.GetStreamChan, error) {
	send, err := k.in.decide(Call{Kind: Get, Keys: []string{key}}).before(ctx)
	if !send {
		return nil, err
	}
	ch, cerr := k.inner.GetStream(ctx, key, opts...)
	if err != nil { // answer lost: read it so the stream ends
		if cerr == nil {
			_, _ = clientv3.GetStreamToGetResponse(ch)
		}
		return nil, err
	}
	return ch, cerr
}

func (k *kv) Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	return intercept(k.in, ctx, Call{Kind: Delete, Keys: []string{key}}, func() (*clientv3.DeleteResponse, error) {
		return k.inner.Delete(ctx, key, opts...)
	})
}

func (k *kv) Compact(ctx context.Context, rev int64, opts ...clientv3.CompactOption) (*clientv3.CompactResponse, error) {
	return k.inner.Compact(ctx, rev, opts...)
}

func (k *kv) Do(ctx context.Context, op clientv3.Op) (clientv3.OpResponse, error) {
	return intercept(k.in, ctx, Call{Kind: opKind(op), Keys: opKeys(nil, op)}, func() (clientv3.OpResponse, error) {
		return k.inner.Do(ctx, op)
	})
}

func (k *kv) Txn(ctx context.Context) clientv3.Txn {
	return &txn{kv: k, ctx: ctx, inner: k.inner.Txn(ctx)}
}

// txn wraps a clientv3.Txn, recording its keys for Commit.
type txn struct {
	kv    *kv
	ctx   context.Context
	inner clientv3.Txn
	keys  []string
}

func (t *txn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.inner = t.inner.If(cs...)
	t.keys = cmpKeys(t.keys, cs)
	return t
}

func (t *txn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.inner = t.inner.Then(ops...)
	t.keys = opKeys(t.keys, ops...)
	return t
}

func (t *txn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.inner = t.inner.Else(ops...)
	t.keys = opKeys(t.keys, ops...)
	return t
}

func (t *txn) Commit() (*clientv3.TxnResponse, error) {
	return intercept(t.kv.in, t.ctx, Call{Kind: Txn, Keys: t.keys}, t.inner.Commit)
}

// opKind is the Kind of a KV.Do op.
func opKind(op clientv3.Op) Kind {
	switch {
	case op.IsTxn():
		return Txn
	case op.IsPut():
		return Put
	case op.IsDelete():
		return Delete
	default:
		return Get
	}
}

// opKeys appends the keys ops touch, nested txns included.
func opKeys(keys []string, ops ...clientv3.Op) []string {
	for _, op := range ops {
		if op.IsTxn() {
			cmps, thens, elses := op.Txn()
			keys = cmpKeys(keys, cmps)
			keys = opKeys(keys, thens...)
			keys = opKeys(keys, elses...)
			continue
		}
		keys = append(keys, string(op.KeyBytes()))
	}
	return keys
}

func cmpKeys(keys []string, cmps []clientv3.Cmp) []string {
	for i := range cmps {
		keys = append(keys, string(cmps[i].KeyBytes()))
	}
	return keys
}
