package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// maxRegisteredNames caps the job names stored in an instance's
// registration, which must stay far below etcd's request size limit.
// JobCount always holds the full number.
const maxRegisteredNames = 1000

// Instance describes one live member of the cluster, as registered in etcd
// under instances/<id> with its session lease.
type Instance struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Version  string    `json:"version"`
	Tags     []string  `json:"tags,omitempty"`
	Started  time.Time `json:"started"`
	Jobs     []string  `json:"jobs,omitempty"` // jobs it may run (tags, not refused); sorted; at most 1000 names
	JobCount int       `json:"job_count"`
	// CodeJobs are the jobs registered in code on the instance (sorted, at
	// most 1000 names): definitions with a kind may not take these names.
	CodeJobs []string `json:"code_jobs,omitempty"`
	// Code describes each of CodeJobs as this instance runs it (a
	// definition's override included), so that tools such as the distcron
	// command and the console can show jobs registered in code on other
	// instances.
	Code map[string]CodeJob `json:"code,omitempty"`
	// RemoteShell and RemoteHTTP say whether the instance runs shell and
	// HTTP jobs from definitions (WithRemoteShell, WithRemoteHTTP).
	RemoteShell bool `json:"remote_shell"`
	RemoteHTTP  bool `json:"remote_http"`
	Leader      bool `json:"leader"` // filled in by Instances, not stored
	// Clock is the instance's own estimate of its offset from the
	// cluster's median clock, filled in by Instances from its clock key
	// (not stored in the registration); nil until it has one.
	Clock *ClockEstimate `json:"clock,omitempty"`
}

// register puts this instance's registration under the session lease,
// together with extra (the running keys moved onto the new lease at a
// session renewal, at most maxRegisterExtra): one transaction, so the
// registration and the runs it vouches for are always on one lease, and a
// crash at any point leaves the leader a registration delete with those
// runs on its lease (see lost-run detection).
//
// It returns the responses to extra, in order.
func (s *Scheduler) register(ctx context.Context, sess *concurrency.Session, extra ...clientv3.Op) ([]*pb.ResponseOp, error) {
	host, _ := os.Hostname()
	jobs := s.eligibleJobs()
	code, info := s.codeJobs()
	inst := Instance{
		ID: s.cfg.instanceID, Host: host, PID: os.Getpid(), Version: Version(),
		Tags: s.cfg.tags, Started: s.startedAt.UTC(), JobCount: len(jobs),
		Jobs: jobs[:min(len(jobs), maxRegisteredNames)], RemoteShell: s.cfg.remoteShell, RemoteHTTP: s.cfg.remoteHTTP,
		CodeJobs: code[:min(len(code), maxRegisteredNames)], Code: info,
	}
	val, err := json.Marshal(inst)
	if err != nil {
		return nil, err
	}
	// Put only if the key is free or ours (on this lease, or on the lease of
	// the session this one replaces: etcd may keep that alive for a while
	// after a quorum loss): two live processes with one id would otherwise
	// overwrite each other's registration.
	key := s.keys.Instance(s.cfg.instanceID)
	put := append([]clientv3.Op{clientv3.OpPut(key, string(val), clientv3.WithLease(sess.Lease()))}, extra...)
	ifFree := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, put, nil)
	ifPrevious := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", clientv3.LeaseID(s.prevLease.Load()))}, put, []clientv3.Op{ifFree})
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", sess.Lease())).Then(put...).Else(ifPrevious).Commit()
	if err != nil {
		return nil, fmt.Errorf("%w: register: %w", ErrUnreachable, err)
	}
	if resp.Succeeded {
		return resp.Responses[1:], nil
	}
	prev := resp.Responses[0].GetResponseTxn()
	if prev.GetSucceeded() {
		return prev.Responses[1:], nil
	}
	if free := prev.GetResponses()[0].GetResponseTxn(); free.GetSucceeded() {
		return free.Responses[1:], nil
	}
	return nil, fmt.Errorf("%w: %q", ErrDuplicateInstance, s.cfg.instanceID)
}

// eligibleJobs returns the sorted names of the jobs this instance may
// claim. Peers pick preferred claimers among instances listing a job.
func (s *Scheduler) eligibleJobs() []string {
	s.mu.Lock()
	names := make([]string, 0, len(s.jobs))
	for n, j := range s.jobs {
		if j.eligible {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	slices.Sort(names)
	return names
}

// maxRegisterExtra bounds the running keys put in the registration's
// transaction: its three nested levels must fit etcd's max-txn-ops.
const maxRegisterExtra = 32

// CodeJob is how an instance's registration describes a job registered in
// code there.
type CodeJob struct {
	// Schedule is the cron spec, empty for a schedule of the caller's own
	// (RegisterSchedule), which has no text form.
	Schedule string   `json:"schedule,omitempty"`
	Location string   `json:"location"`       // IANA zone of the schedule
	Kind     string   `json:"kind"`           // func, shell or executor
	Tags     []string `json:"tags,omitempty"` // required instance tags
}

// codeJobs returns the sorted names of the jobs registered in code here
// (overridden or not), and a description of each of the first
// maxRegisteredNames of them.
func (s *Scheduler) codeJobs() ([]string, map[string]CodeJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n, j := range s.jobs {
		if j.source == sourceCode || j.source == sourceOverride {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var info map[string]CodeJob
	for _, n := range names[:min(len(names), maxRegisteredNames)] {
		if info == nil {
			info = make(map[string]CodeJob)
		}
		info[n] = s.jobs[n].describe()
	}
	return names, info
}

// describe returns the job's entry in the registration. s.mu is held.
func (j *job) describe() CodeJob {
	c := CodeJob{Location: j.location(), Kind: j.kind, Tags: j.cfg.tags}
	if !j.custom {
		c.Schedule = j.spec
	}
	return c
}

// Instances lists the live instances of the cluster, sorted by id, with
// the current leader marked. It reads etcd; it works before Start too.
func (s *Scheduler) Instances(ctx context.Context) ([]Instance, error) {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.Instances(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Leader(), clientv3.WithFirstCreate()...),
		clientv3.OpGet(s.keys.Clocks(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("distcron: list instances: %w", err)
	}
	leader := ""
	if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
		leader = string(kvs[0].Value)
	}
	clocks := map[string]*ClockEstimate{}
	for _, kv := range resp.Responses[2].GetResponseRange().GetKvs() {
		var m clockMessage
		if json.Unmarshal(kv.Value, &m) == nil && m.Estimate != nil {
			clocks[strings.TrimPrefix(string(kv.Key), s.keys.Clocks())] = m.Estimate
		}
	}
	var out []Instance
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			continue // not ours to judge; skip what we cannot read
		}
		in.Leader = in.ID == leader
		in.Clock = clocks[in.ID]
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Instance) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}
