package distcron

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// membership is this instance's view of the live instances (instances/),
// kept current by the control watch. It decides which instance is the
// preferred claimer of a tick: the others only back it up, shortly after
// the tick, and only for ticks a read shows unclaimed. That spares etcd the
// claims that would lose; exactly-once never depends on it.
type membership struct {
	mu      sync.RWMutex
	members map[string]memberView
	digest  uint64 // XOR of the members' digests: equal views have equal digests
}

type memberView struct {
	tags     []string
	jobs     map[string]bool // nil when the registration lists every job name (then all jobs are assumed)
	complete bool
	code     []string // its jobs registered in code (Instance.CodeJobs)
	digest   uint64   // hash of the id and the registration as stored
}

// memberSet is a snapshot of the view: the Scheduler assigns ticks from
// one (Scheduler.view), replaced only by reassign, so that every queued
// tick was assigned under the view its digest names (see progress.go).
type memberSet struct {
	members map[string]memberView
	digest  uint64
}

// set records the registration kv of the instance at key (nil: it left).
// It reports whether the instance's jobs registered in code changed.
func (m *membership) set(key string, kv *mvccpb.KeyValue, prefix string) (codeChanged bool) {
	id := strings.TrimPrefix(key, prefix)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.members == nil {
		m.members = make(map[string]memberView)
	}
	old := m.members[id]
	m.digest ^= old.digest // 0 when absent
	delete(m.members, id)
	if kv == nil {
		return len(old.code) > 0
	}
	var in Instance
	if json.Unmarshal(kv.Value, &in) != nil {
		return len(old.code) > 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(kv.Value)
	v := memberView{tags: in.Tags, complete: len(in.Jobs) == in.JobCount, code: in.CodeJobs, digest: h.Sum64()}
	if v.complete {
		v.jobs = make(map[string]bool, len(in.Jobs))
		for _, j := range in.Jobs {
			v.jobs[j] = true
		}
	}
	m.members[id] = v
	m.digest ^= v.digest
	return !slices.Equal(old.code, v.code)
}

// codeElsewhere reports whether a live instance other than self registers
// name in code, as far as its registration lists (at most
// maxRegisteredNames names).
func (m *membership) codeElsewhere(self, name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for id, v := range m.members {
		if id != self && slices.Contains(v.code, name) {
			return true
		}
	}
	return false
}

func (m *membership) reset() {
	m.mu.Lock()
	m.members, m.digest = nil, 0
	m.mu.Unlock()
}

// snapshot copies the current view.
func (m *membership) snapshot() memberSet {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return memberSet{members: maps.Clone(m.members), digest: m.digest}
}

// preferred reports whether self is the preferred claimer of the job's
// tick: the live instance, among those that have the job and carry its
// tags, with the highest hash of (instance, job, tick). With no view yet,
// or when self is not in it, self claims as if preferred (safe, just less
// economical).
func (m *membership) preferred(self string, j *job, tick time.Time) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return memberSet{members: m.members}.preferred(self, j, tick) == self
}

// preferred returns the preferred claimer of the job's tick in this view
// (see membership.preferred): self when self is not in the view or no
// member qualifies.
func (v memberSet) preferred(self string, j *job, tick time.Time) string {
	if _, ok := v.members[self]; !ok {
		return self
	}
	var best string
	var bestHash uint64
	for id, v := range v.members {
		if !hasAll(v.tags, j.cfg.tags) || (v.complete && !v.jobs[j.name]) {
			continue
		}
		if h := rendezvous(id, j.name, tick); best == "" || h > bestHash || (h == bestHash && id > best) {
			best, bestHash = id, h
		}
	}
	if best == "" {
		return self
	}
	return best
}

func rendezvous(id, job string, tick time.Time) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(job))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(tick.UnixNano()))
	h.Write(b[:])
	return h.Sum64()
}

// eligible returns the live instances that have the job and carry its
// tags (as their registrations say), sorted, with self among them when
// self is eligible.
func (m *membership) eligible(self string, j *job) []string {
	m.mu.RLock()
	var ids []string
	for id, v := range m.members {
		if hasAll(v.tags, j.cfg.tags) && (!v.complete || v.jobs[j.name]) {
			ids = append(ids, id)
		}
	}
	m.mu.RUnlock()
	if j.eligible && !slices.Contains(ids, self) {
		ids = append(ids, self)
	}
	slices.Sort(ids)
	return ids
}
