package distcron

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Bounds of the departures an instance remembers (Departed).
const (
	// MaxDepartures is how many departures Departed reports at most: the
	// newest ones.
	MaxDepartures = 50
	// DepartedKeep is how long a departure is remembered.
	DepartedKeep = time.Hour
)

// DepartureReason says how an instance left the cluster.
type DepartureReason string

// Reasons of a departure.
const (
	// DepartureStopped: the instance left by Stop (it marked its leave in
	// etcd and revoked its lease).
	DepartureStopped DepartureReason = "stopped"
	// DepartureExpired: its registration went with its lease without a
	// Stop: the process crashed or was killed, or it was cut off from etcd
	// (or paused) past its session TTL. An instance that stopped while
	// etcd was unreachable is in this case too.
	DepartureExpired DepartureReason = "expired"
	// DepartureGone: the registration is gone, and why is not known (yet):
	// the check of its leave marker is under way or failed, or the
	// departure happened while this instance's watch was down and was
	// noticed when it read the registrations again.
	DepartureGone DepartureReason = "gone"
)

// Departure is an instance that left the cluster, as this instance saw it.
type Departure struct {
	// Instance is its last registration.
	Instance Instance `json:"instance"`
	// Gone is when this instance saw the registration go, on its own
	// clock (with an expired lease, the process ended up to the session
	// TTL before).
	Gone   time.Time       `json:"gone"`
	Reason DepartureReason `json:"reason"`
}

// departures remembers the live registrations as last seen and the
// instances that left, bounded by MaxDepartures and DepartedKeep. The
// control watch feeds it (observe, sync); Departed reads it.
type departures struct {
	mu    sync.Mutex
	known map[string]knownReg // by instance id
	list  []departure         // oldest first
}

type knownReg struct {
	in    Instance
	lease int64
}

type departure struct {
	Departure
	rev   int64 // revision of the registration's delete; 0 when seen by a re-list
	lease int64
}

// leaveMarker is the value of left/<id>.
type leaveMarker struct {
	Lease int64     `json:"lease"`
	At    time.Time `json:"at"`
}

// Departed returns the instances that left the cluster within the last
// DepartedKeep (at most MaxDepartures, newest first), as this instance's
// watch of the registrations saw them since Start, with how they left.
// An instance that registered again since is not listed. It does not
// block, reads no etcd, and is safe for concurrent use; before Start, and
// on a Scheduler never started, it returns nothing.
func (s *Scheduler) Departed() []Departure {
	d := &s.departed
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(s.cfg.clock.Now())
	out := make([]Departure, 0, len(d.list))
	for i := len(d.list) - 1; i >= 0; i-- {
		out = append(out, d.list[i].Departure)
	}
	return out
}

func (d *departures) pruneLocked(now time.Time) {
	i := 0
	for i < len(d.list) && (len(d.list)-i > MaxDepartures || now.Sub(d.list[i].Gone) > DepartedKeep) {
		i++
	}
	if i > 0 {
		d.list = slices.Delete(d.list, 0, i)
	}
}

// returnedLocked forgets the departures of an instance registered again.
func (d *departures) returnedLocked(id string) {
	d.list = slices.DeleteFunc(d.list, func(x departure) bool { return x.Instance.ID == id })
}

func decodeReg(kv *mvccpb.KeyValue) (Instance, bool) {
	var in Instance
	if kv == nil || json.Unmarshal(kv.Value, &in) != nil {
		return Instance{}, false
	}
	return in, true
}

// observeDeparture follows one event of the registrations' watch (made
// with WithPrevKV): a put is a live instance, a delete a departure, whose
// reason is looked up in the background.
func (s *Scheduler) observeDeparture(ev *clientv3.Event) {
	d := &s.departed
	id := strings.TrimPrefix(string(ev.Kv.Key), s.keys.Instances())
	if id == s.cfg.instanceID {
		return
	}
	now := s.cfg.clock.Now().UTC()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.known == nil {
		d.known = make(map[string]knownReg)
	}
	if ev.Type == clientv3.EventTypePut {
		if in, ok := decodeReg(ev.Kv); ok {
			d.known[id] = knownReg{in: in, lease: ev.Kv.Lease}
			d.returnedLocked(id)
		}
		return
	}
	prev, had := d.known[id]
	if in, ok := decodeReg(ev.PrevKv); ok {
		prev, had = knownReg{in: in, lease: ev.PrevKv.Lease}, true
	}
	delete(d.known, id)
	if !had {
		prev.in.ID = id
	}
	dep := departure{Departure: Departure{Instance: prev.in, Gone: now, Reason: DepartureGone}, rev: ev.Kv.ModRevision, lease: prev.lease}
	d.list = append(d.list, dep)
	d.pruneLocked(now)
	if prev.lease != 0 {
		s.goBG(func() { s.resolveDeparture(id, dep.rev, dep.lease) })
	}
}

// resolveDeparture tells a stop from an expired lease: Stop puts left/<id>
// on its lease just before revoking it, so the marker exists, with that
// lease, at the revision before the registration's delete exactly when
// the instance stopped.
func (s *Scheduler) resolveDeparture(id string, rev, lease int64) {
	ctx, cancel := context.WithTimeout(s.bgCtx, 5*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.LeftInstance(id), clientv3.WithRev(rev-1))
	if err != nil {
		s.log.Debug("departure reason unknown", zap.String("instance", id), zap.Error(err))
		return
	}
	reason := DepartureExpired
	if len(resp.Kvs) > 0 {
		var m leaveMarker
		if json.Unmarshal(resp.Kvs[0].Value, &m) == nil && m.Lease == lease && resp.Kvs[0].Lease == lease {
			reason = DepartureStopped
		}
	}
	d := &s.departed
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.list {
		if d.list[i].Instance.ID == id && d.list[i].rev == rev {
			d.list[i].Reason = reason
		}
	}
}

// syncDepartures takes a fresh read of the registrations (at Start, and
// after a watch error): instances known before and missing now left while
// the watch was down, for reasons unknown.
func (s *Scheduler) syncDepartures(kvs []*mvccpb.KeyValue) {
	d := &s.departed
	now := s.cfg.clock.Now().UTC()
	d.mu.Lock()
	defer d.mu.Unlock()
	live := make(map[string]knownReg, len(kvs))
	for _, kv := range kvs {
		id := strings.TrimPrefix(string(kv.Key), s.keys.Instances())
		if in, ok := decodeReg(kv); ok && id != s.cfg.instanceID {
			live[id] = knownReg{in: in, lease: kv.Lease}
			d.returnedLocked(id)
		}
	}
	for id, k := range d.known {
		if _, ok := live[id]; !ok {
			d.list = append(d.list, departure{Departure: Departure{Instance: k.in, Gone: now, Reason: DepartureGone}, lease: k.lease})
		}
	}
	d.known = live
	d.pruneLocked(now)
}

// markLeave puts this instance's leave marker on lease, the session lease
// Stop is about to revoke (see resolveDeparture). Failing to is harmless:
// peers report the departure as expired.
func (s *Scheduler) markLeave(ctx context.Context, lease clientv3.LeaseID) {
	v, _ := json.Marshal(leaveMarker{Lease: int64(lease), At: s.cfg.clock.Now().UTC()})
	if _, err := s.cli.Put(ctx, s.keys.LeftInstance(s.cfg.instanceID), string(v), clientv3.WithLease(lease)); err != nil {
		s.log.Debug("mark leave", zap.Error(err))
	}
}
