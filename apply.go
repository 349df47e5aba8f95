package distcron

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrConflict is returned by Apply when the definitions in etcd changed
// between its read and its write; nothing was written, and applying
// again compares with what is there now.
var ErrConflict = errors.New("distcron: definitions changed concurrently")

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Prune deletes the definitions in etcd that defs does not name.
	Prune bool
	// DryRun computes the plan and writes nothing.
	DryRun bool
}

// ApplyPlan is what Apply changed, or with DryRun would change, by job
// name, each list sorted.
type ApplyPlan struct {
	Created   []string `json:"created"`
	Updated   []string `json:"updated"`
	Deleted   []string `json:"deleted"`
	Unchanged []string `json:"unchanged"`
}

// Changes is the number of definitions created, updated and deleted.
func (p ApplyPlan) Changes() int { return len(p.Created) + len(p.Updated) + len(p.Deleted) }

// Apply makes the definitions in etcd match defs, as a tool that keeps
// jobs in git would: it creates the new ones, updates the changed ones,
// and with Prune deletes those defs does not name. Every definition is
// checked as Define checks it; if any is invalid (or two share a name),
// Apply returns all the errors, each wrapping ErrInvalidDefinition, and
// writes nothing. The writes go in one etcd transaction, conditioned on
// the definitions being as Apply read them, so either all apply or none
// (ErrConflict when another writer came between). One transaction holds
// at most 127 changes.
func (s *Scheduler) Apply(ctx context.Context, defs []Definition, opts ApplyOptions) (ApplyPlan, error) {
	var plan ApplyPlan
	var errs []error
	encoded := make(map[string][]byte, len(defs))
	seen := make(map[string]bool, len(defs))
	for _, d := range defs {
		if seen[d.Name] {
			errs = append(errs, d.invalid("defined twice"))
			continue
		}
		seen[d.Name] = true
		v, err := s.encodeDefinition(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		encoded[d.Name] = v
	}
	if len(errs) > 0 {
		return plan, errors.Join(errs...)
	}
	resp, err := s.cli.Get(ctx, s.keys.Defs(), clientv3.WithPrefix())
	if err != nil {
		return plan, fmt.Errorf("distcron: apply: read definitions: %w", err)
	}
	stored := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		stored[strings.TrimPrefix(string(kv.Key), s.keys.Defs())] = kv.Value
	}
	var ops []clientv3.Op
	for name, v := range encoded {
		old, ok := stored[name]
		switch {
		case !ok:
			plan.Created = append(plan.Created, name)
		case string(old) != string(v):
			plan.Updated = append(plan.Updated, name)
		default:
			plan.Unchanged = append(plan.Unchanged, name)
			continue
		}
		ops = append(ops, clientv3.OpPut(s.keys.Def(name), string(v)))
	}
	if opts.Prune {
		for name := range stored {
			if _, keep := encoded[name]; !keep {
				plan.Deleted = append(plan.Deleted, name)
				ops = append(ops, clientv3.OpDelete(s.keys.Def(name)))
			}
		}
	}
	for _, l := range [][]string{plan.Created, plan.Updated, plan.Deleted, plan.Unchanged} {
		slices.Sort(l)
	}
	if opts.DryRun || len(ops) == 0 {
		return plan, nil
	}
	if len(ops) >= maxTxnOps {
		return plan, fmt.Errorf("distcron: apply: %d changes, more than one transaction holds (%d): apply in parts", len(ops), maxTxnOps-1)
	}
	// Unchanged since the read: no definition was written after it (the
	// prefix compare covers every key under defs/, including new ones).
	txn, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(s.keys.Defs()), "<", resp.Header.Revision+1).WithPrefix(),
	).Then(ops...).Commit()
	if err != nil {
		return plan, fmt.Errorf("distcron: apply: %w", err)
	}
	if !txn.Succeeded {
		return plan, ErrConflict
	}
	return plan, nil
}
