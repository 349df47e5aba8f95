// Package etcdfault injects faults at the etcd client boundary, for tests:
// answers lost after a commit was applied, timeouts, errors such as
// rpctypes.ErrLeaseNotFound, hung calls, and watches that end compacted or
// cancelled.
//
// Wrap replaces the KV, Lease and Watcher of a *clientv3.Client with
// wrappers that consult the Injector's rules on every call, so everything
// built on the client (concurrency sessions, elections, mutexes) sees the
// faults too. With no rules the wrappers pass every call through unchanged.
//
// Each call is matched against the rules in the order they were added; the
// first rule that matches and is not exhausted acts on it. Actions by kind:
//
//   - Txn, Get, Put, Delete, Grant, Revoke: as documented on each Action;
//     CompactWatch and CancelWatch act as Fail.
//   - KeepAlive (KeepAlive and KeepAliveOnce): Fail returns Err; without
//     Err, KeepAlive returns a closed channel, as when the lease is lost
//     (a concurrency.Session sees Done), and KeepAliveOnce the default
//     error. LoseAnswer refreshes the lease once, then fails the same way.
//   - Watch: Hang and LoseAnswer return a channel that delivers nothing and
//     closes when ctx ends; Fail acts as CancelWatch.
//
// Calls not listed as a Kind (Compact, TimeToLive, Leases, RequestProgress,
// Close) always pass through.
package etcdfault

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kind is the kind of client call a rule matches.
type Kind int

// Kinds of client calls.
const (
	Txn       Kind = iota + 1 // KV.Txn(...).Commit, and KV.Do with a txn op
	Get                       // KV.Get, KV.GetStream, KV.Do with a get op
	Put                       // KV.Put, KV.Do with a put op
	Delete                    // KV.Delete, KV.Do with a delete op
	Grant                     // Lease.Grant
	Revoke                    // Lease.Revoke
	KeepAlive                 // Lease.KeepAlive and Lease.KeepAliveOnce
	Watch                     // Watcher.Watch
)

var kindNames = [...]string{"", "Txn", "Get", "Put", "Delete", "Grant", "Revoke", "KeepAlive", "Watch"}

// String returns the kind's name.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Action is what a matching rule does.
type Action int

// Actions.
const (
	// LoseAnswer applies the request to etcd, then returns Err (default:
	// an error wrapping context.DeadlineExceeded and ErrInjected) instead
	// of the answer: an ambiguous failure.
	LoseAnswer Action = iota + 1
	// Fail returns Err (default as for LoseAnswer) without sending the
	// request, e.g. with Err: rpctypes.ErrLeaseNotFound.
	Fail
	// Hang blocks until the call's ctx ends, then returns ctx.Err(),
	// without applying the request.
	Hang
	// Delay waits Rule.Delay (or until ctx ends), then passes the call through.
	Delay
	// CompactWatch, for Watch, delivers one WatchResponse with Canceled set
	// and CompactRevision set to etcd's current revision (so resp.Err() is
	// rpctypes.ErrCompacted), then closes the channel.
	CompactWatch
	// CancelWatch, for Watch, closes the watch channel without a response,
	// as the client does when its stream is lost. If Err is set, it first
	// delivers a Canceled response whose Err() is the client's error for
	// Err's message: with Err: rpctypes.ErrNoLeader, resp.Err() is
	// rpctypes.ErrNoLeader, as for a WithRequireLeader watch on a member
	// without a leader.
	CancelWatch
)

// Rule says which calls to act on and how.
type Rule struct {
	// Kind is the kind of call the rule matches.
	Kind Kind
	// Key matches when any key the call touches has this prefix: for Txn
	// every compare and op, nested txns included; for Watch the watched
	// key; for ranges the start key. "" matches any call, with keys or not.
	Key string
	// Action is what the rule does to a matching call.
	Action Action
	// Err is the error returned by LoseAnswer and Fail (default: see
	// LoseAnswer) and the cancel reason of CancelWatch.
	Err error
	// Delay is how long Delay waits.
	Delay time.Duration
	// Times is how many matching calls the rule acts on; 0: unlimited.
	Times int
	// After lets this many matching calls pass before the rule acts.
	After int
	// Match, if set, must also report true for the rule to match. It is
	// called without the Injector's lock held.
	Match func(Call) bool
}

// Call describes one intercepted call.
type Call struct {
	Kind Kind
	// Keys are the keys the call touches (for Txn every compare and op,
	// nested ones included), in request order.
	Keys []string
	// Lease is the lease of a Revoke or KeepAlive call.
	Lease clientv3.LeaseID
}

// ErrInjected is wrapped by the default error of LoseAnswer and Fail.
var ErrInjected = injectedError{}

type injectedError struct{}

func (injectedError) Error() string { return "etcdfault: injected fault" }

// timeoutError is the default error: it is both ErrInjected and
// context.DeadlineExceeded for errors.Is.
type timeoutError struct{ lost bool }

func (e timeoutError) Error() string {
	if e.lost {
		return "etcdfault: answer lost: " + context.DeadlineExceeded.Error()
	}
	return "etcdfault: request failed: " + context.DeadlineExceeded.Error()
}

func (timeoutError) Unwrap() []error { return []error{ErrInjected, context.DeadlineExceeded} }

// rule is a Rule with its counters.
type rule struct {
	Rule
	seen, applied int
}

func (r *rule) matches(c Call) bool {
	if r.Kind != c.Kind {
		return false
	}
	if r.Key != "" && !slices.ContainsFunc(c.Keys, func(k string) bool { return strings.HasPrefix(k, r.Key) }) {
		return false
	}
	return r.Match == nil || r.Match(c)
}

// Injector holds the rules of one wrapped client. Its methods are safe for
// concurrent use.
type Injector struct {
	kv      clientv3.KV
	lease   clientv3.Lease
	watcher clientv3.Watcher
	w       *watcher
	l       *lease

	mu    sync.Mutex
	rules []*rule
	hits  int
}

// Wrap replaces cli.KV, cli.Lease and cli.Watcher with wrappers that
// consult the returned Injector's rules. Call it before cli is used. Code
// that uses cli, including concurrency sessions and elections, goes
// through the wrappers; cli.Close closes them.
func Wrap(cli *clientv3.Client) *Injector {
	in := &Injector{kv: cli.KV, lease: cli.Lease, watcher: cli.Watcher}
	in.w = &watcher{in: in, inner: cli.Watcher, open: map[*watch]struct{}{}, closed: make(chan struct{})}
	in.l = &lease{in: in, inner: cli.Lease, open: map[*keepAlive]struct{}{}}
	cli.KV = &kv{in: in, inner: cli.KV}
	cli.Lease = in.l
	cli.Watcher = in.w
	return in
}

// Add adds a rule after the existing ones; remove takes it out again.
func (in *Injector) Add(r Rule) (remove func()) {
	nr := &rule{Rule: r}
	in.mu.Lock()
	in.rules = append(in.rules, nr)
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.rules = slices.DeleteFunc(in.rules, func(x *rule) bool { return x == nr })
	}
}

// Clear removes every rule. Watches and keepalives already broken stay so.
func (in *Injector) Clear() {
	in.mu.Lock()
	in.rules = nil
	in.mu.Unlock()
}

// Hits reports how many calls rules have acted on in total, for tests to
// assert that a fault really happened.
func (in *Injector) Hits() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.hits
}

// FailWatches makes every open watch whose key has prefix ("" for all)
// deliver a compacted response (compact) or none, and close its channel,
// now. It reports how many watches it broke.
func (in *Injector) FailWatches(prefix string, compact bool) int {
	return in.w.fail(prefix, compact)
}

// FailKeepAlives closes the channel of every open KeepAlive (lease 0: of
// any lease) and stops refreshing its lease, as when the client loses its
// connection: a concurrency.Session over it sees Done. It reports how many
// keepalives it broke.
func (in *Injector) FailKeepAlives(id clientv3.LeaseID) int {
	return in.l.fail(id)
}

// decide returns the rule that acts on c, or nil to pass it through.
func (in *Injector) decide(c Call) *Rule {
	in.mu.Lock()
	rules := slices.Clone(in.rules)
	in.mu.Unlock()
	var matched []*rule
	for _, r := range rules {
		if r.matches(c) {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range matched {
		if r.Times > 0 && r.applied >= r.Times {
			continue
		}
		r.seen++
		if r.seen <= r.After {
			continue
		}
		r.applied++
		in.hits++
		rr := r.Rule
		return &rr
	}
	return nil
}

// err is the error r returns.
func (r *Rule) err() error {
	if r.Err != nil {
		return r.Err
	}
	return timeoutError{lost: r.Action == LoseAnswer}
}

// before runs the part of r that comes before the call: it reports whether
// to send the request and, if not or if the answer is lost, the error.
func (r *Rule) before(ctx context.Context) (send bool, err error) {
	if r == nil {
		return true, nil
	}
	switch r.Action {
	case LoseAnswer:
		return true, r.err()
	case Hang:
		<-ctx.Done()
		return false, ctx.Err()
	case Delay:
		t := time.NewTimer(r.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	default: // Fail, and the watch actions on other kinds
		return false, r.err()
	}
}

// intercept runs call under the rule (if any) that acts on c.
func intercept[T any](in *Injector, ctx context.Context, c Call, call func() (T, error)) (T, error) {
	var zero T
	send, err := in.decide(c).before(ctx)
	if !send {
		return zero, err
	}
	resp, cerr := call()
	if err != nil { // answer lost
		return zero, err
	}
	return resp, cerr
}
