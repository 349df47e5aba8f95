// Package check is the exactly-once checker of the chaos suite. It reads
// what a chaos run left in its directory (the run manifest, the fault log,
// the node incarnations, every node's JSON run records, a dump of the
// claim keys and the notifications) and reports, per job, the ticks
// expected, run, duplicated and missed, whether each miss is explained by
// a fault, and fire lateness; and the drills' rules: runs lost to a crash
// recorded lost once (lost.go), OverlapForbid runs never overlapping
// (forbid.go), graceful stops in their budget, clean and without a panic
// (stop.go).
//
// The rules are in RELIABILITY.md at the module root; Check implements
// them and Rules holds their parameters.
package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File names inside a run directory.
const (
	ManifestFile = "run.json"
	FaultsFile   = "faults.jsonl"
	NodesFile    = "nodes.jsonl"
	ClaimsFile   = "claims.jsonl"
	// NotificationsFile holds the records the nodes' webhook notifier
	// posted to the harness, one JSON line each (absent: no notifier).
	NotificationsFile = "notifications.jsonl"
)

// Fault kinds.
const (
	KindKill   = "kill"   // SIGKILL of a node process, restarted later (maybe skewed)
	KindPause  = "pause"  // SIGSTOP of a node process for longer than its TTL, then SIGCONT
	KindMember = "member" // one etcd member SIGKILLed and restarted from its data (quorum kept)
	KindQuorum = "quorum" // two of three etcd members SIGKILLed and restarted, or SIGSTOPped and SIGCONTed (quorum lost)
	// KindOutage is not injected: it is a span in which the harness's
	// prober (a write every 50ms) saw no write commit for over 500ms,
	// outside the quorum losses (a leader election after the leader's
	// SIGKILL, say).
	KindOutage = "outage"

	// Drills: scripted sequences of the faults above, each logged as its
	// own entry besides the kills and pauses it is made of.

	// KindLeader: a node with runs in progress is SIGKILLed, and the leader
	// that records them lost is SIGKILLed right after (as soon as one of
	// its lost records is out).
	KindLeader = "leader"
	// KindCompact: etcd compacted to its current revision (one entry per
	// compaction); the drill compacts right before and after SIGKILLs of
	// the leader and then of another node with runs in progress.
	KindCompact = "compact"
	// KindForbid: the node running the OverlapForbid job is SIGSTOPped,
	// past its TTL, right after the run started, then SIGCONTed.
	KindForbid = "forbid"
	// KindStop: a node with stubborn runs (they ignore cancellation) is
	// stopped gracefully (SIGTERM) and started again.
	KindStop = "stop"
)

// Kinds lists every injected fault kind, in report order.
var Kinds = []string{KindKill, KindPause, KindMember, KindQuorum, KindLeader, KindCompact, KindForbid, KindStop}

// ClassicKinds are the single faults: process and etcd member crashes and
// pauses, without the drills.
var ClassicKinds = []string{KindKill, KindPause, KindMember, KindQuorum}

// DrillKinds are the drills.
var DrillKinds = []string{KindLeader, KindCompact, KindForbid, KindStop}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms"); a JSON number is read as nanoseconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		*d = Duration(v)
		return err
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: %s is neither a string nor a number", b)
	}
	*d = Duration(n)
	return nil
}

// Manifest describes one run: the jobs every node registered, the checked
// window and the library parameters the rules depend on. The harness
// writes it as run.json.
type Manifest struct {
	Seed      int64    `json:"seed"`
	Namespace string   `json:"namespace"`
	Nodes     []string `json:"nodes"`
	NodeArgs  []string `json:"node_args"` // common flags of every node process
	Kinds     []string `json:"kinds"`     // fault kinds the run injected (empty: the classic kinds)
	Jobs      []string `json:"jobs"`      // jobs every node registers whose every tick is expected to run
	// DrillJobs are the other jobs every node registers (rerun-0, forbid-0,
	// stubborn-0): their ticks are not counted, their runs are checked by
	// the rules of the drills (duplicates, lost runs, overlap, stop).
	DrillJobs  []string `json:"drill_jobs,omitempty"`
	RerunJobs  []string `json:"rerun_jobs,omitempty"`  // jobs with RerunLost
	ForbidJobs []string `json:"forbid_jobs,omitempty"` // jobs with OverlapForbid
	// StopBudget is what a node's graceful stop may take: Stop's context
	// (-stop-wait) plus the grace for cancelled runs (-stop-grace).
	// AfterStop is how long the node then stays alive (-after-stop).
	StopBudget Duration `json:"stop_budget,omitempty"`
	AfterStop  Duration `json:"after_stop,omitempty"`
	Every      Duration `json:"every"` // the period of every job (@every)
	TTL        Duration `json:"ttl"`   // session TTL of every node
	// Library parameters used by the rules (see Rules).
	MisfireGrace      Duration `json:"misfire_grace"`
	MaxClaimLead      Duration `json:"max_claim_lead"`
	RecordFlush       Duration `json:"record_flush"`
	SessionBackoffMax Duration `json:"session_backoff_max"`
	// EtcdElectionTimeout is etcd's election timeout: a new etcd leader
	// extends every lease by it.
	EtcdElectionTimeout Duration `json:"etcd_election_timeout"`
	// From and To bound the checked window: every multiple of Every in
	// [From, To] is an expected tick of every job.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Started and Ended bound the whole run, for the report.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Problems are harness-side failures (a node that exited on its own, a
	// fault that could not be injected or verified); any fails the run.
	Problems []string `json:"problems,omitempty"`
}

// Fault is one injected fault, as the harness observed it.
type Fault struct {
	Kind   string `json:"kind"`
	Target string `json:"target"` // node id, or etcd member names "m0" / "m0,m2"
	// Start is when the fault began (signal sent, member SIGKILLed, the
	// last write that committed before quorum was lost); End is when it
	// was over (SIGCONT sent, the restarted member ready again, the first
	// write that committed after quorum was back, the killed node's next
	// incarnation ready).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Began is when the harness began to inject the fault (quorum faults:
	// the signals), if earlier than Start. With members killed or stopped
	// abruptly it is not: the last write before the loss was sent before
	// the signals. (A graceful stop took seconds, during which the cluster
	// still kept quorum; runs of that harness recorded it.)
	Began time.Time `json:"began,omitzero"`
	// Skew is the clock offset of the node incarnation hit (node faults);
	// NewSkew that of the incarnation started after a kill.
	Skew    Duration `json:"skew"`
	NewSkew Duration `json:"new_skew,omitempty"`
	// Verified says the harness saw the fault take effect: the process
	// died of SIGKILL, the process state was "stopped", the member was
	// killed and the cluster still took writes, the members were killed
	// or stopped and no write succeeded for most of the hold.
	Verified bool   `json:"verified"`
	Note     string `json:"note,omitempty"`
	// Running (kill faults) lists the victim's runs in progress at the
	// SIGKILL: its running keys (on its session lease) both just before
	// the signal and just after the process died. nil when they could not
	// be read.
	Running []RunRef `json:"running,omitempty"`
	// Leader (kill faults) is the instance id of the distcron leader just
	// before the signal ("" if unknown).
	Leader string `json:"leader,omitempty"`
}

// RunRef names one run: one attempt of one tick (of one shard) of a job.
type RunRef struct {
	Job     string    `json:"job"`
	Shard   int       `json:"shard"`
	Tick    time.Time `json:"tick"`
	Attempt int       `json:"attempt"`
	Trigger string    `json:"trigger"`
}

func (r RunRef) String() string {
	return fmt.Sprintf("%s %s tick=%s attempt=%d trigger=%s", r.Job, shardLabel(r.Shard), fmtTime(r.Tick), r.Attempt, r.Trigger)
}

// Ref returns the run a record is about.
func (r Record) Ref() RunRef {
	return RunRef{Job: r.Job, Shard: r.Shard, Tick: r.Tick.UTC(), Attempt: max(r.Attempt, 1), Trigger: r.Trigger}
}

// runID is a RunRef as a map key (the trigger is not part of a run's
// identity: a retry of a tick is its next attempt).
type runID struct {
	job     string
	shard   int
	tick    int64
	attempt int
}

func (r RunRef) id() runID { return runID{r.Job, r.Shard, r.Tick.UnixNano(), max(r.Attempt, 1)} }

// Incarnation is one node process: a node is restarted after a kill under
// the same instance id, as a StatefulSet pod would be.
type Incarnation struct {
	Node string   `json:"node"`
	N    int      `json:"n"` // 1 for the first process of the node
	PID  int      `json:"pid"`
	Skew Duration `json:"skew"`
	// StartRev is the etcd revision read just before the process started:
	// every claim it makes has a higher revision, every claim of the
	// node's earlier incarnations a lower one. 0: unknown.
	StartRev int64     `json:"start_rev,omitempty"`
	Started  time.Time `json:"started"`
	Ready    time.Time `json:"ready"` // logged "node running"; zero if never
	Ended    time.Time `json:"ended"` // SIGKILL or SIGTERM sent, or exit seen
	// End is how it ended: "killed", "stopped" (SIGTERM sent; Ended is
	// when) or "crashed: <reason>".
	End     string `json:"end"`
	Records string `json:"records"` // stdout file, relative to the run dir
	Stderr  string `json:"stderr"`  // stderr file, relative to the run dir
	// StopReturned is when the node logged that Stop returned (zero if it
	// never did); Exited is when the harness saw the process exit, and
	// Exit how ("exit status 0", "signal: killed").
	StopReturned time.Time `json:"stop_returned,omitzero"`
	Exited       time.Time `json:"exited,omitzero"`
	Exit         string    `json:"exit,omitempty"`
	// Panic is the first line of its stderr that starts a Go panic or
	// fatal runtime error ("panic: ...", "fatal error: ..."), if any.
	Panic string `json:"panic,omitempty"`
	// Deregistered lists when the harness saw the node's registration key
	// deleted while this incarnation was the node's latest ready one: its
	// lease expired (killed, or paused past its TTL) or it stopped.
	Deregistered []time.Time `json:"deregistered,omitempty"`
}

// Label names the incarnation in reports: "n1#2".
func (in Incarnation) Label() string { return fmt.Sprintf("%s#%d", in.Node, in.N) }

// Claim is one claim key read from etcd after the run, relative to the
// namespace ("claims/<tick>/<job>").
type Claim struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
}

// Record is the part of a run record (logsink.Record as JSON) the checker
// reads, plus where it came from.
type Record struct {
	Job      string    `json:"job"`
	Shard    int       `json:"shard"`
	Tick     time.Time `json:"tick"`
	Instance string    `json:"instance"`
	Status   string    `json:"status"`
	Trigger  string    `json:"trigger"`
	Attempt  int       `json:"attempt"`
	Token    int64     `json:"token"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Error    string    `json:"error,omitempty"`

	From string `json:"-"` // incarnation label
	Line int    `json:"-"` // line number in its file
}

// Lateness is how long after its tick the record's run started, by the
// running instance's clock.
func (r Record) Lateness() time.Duration { return r.Started.Sub(r.Tick) }

func (r Record) String() string {
	s := fmt.Sprintf("%s %s tick=%s instance=%s (%s line %d) status=%s trigger=%s attempt=%d token=%d started=%s finished=%s",
		r.Job, shardLabel(r.Shard), fmtTime(r.Tick), r.Instance, r.From, r.Line, r.Status, r.Trigger, r.Attempt,
		r.Token, fmtTime(r.Started), fmtTime(r.Finished))
	if r.Error != "" {
		s += fmt.Sprintf(" error=%q", r.Error)
	}
	return s
}

func shardLabel(shard int) string { return fmt.Sprintf("shard=%d", shard) }

func fmtTime(t time.Time) string { return t.UTC().Format("15:04:05.000000") }

// Input is everything a run left behind.
type Input struct {
	Manifest     Manifest
	Faults       []Fault
	Incarnations []Incarnation
	Claims       []Claim // nil when the run did not dump claims
	Records      []Record
	// Notifications are the records the nodes' notifiers posted (see
	// NotificationsFile); From is "notification", Line the line number.
	Notifications []Record
	// PartialLines counts lines that did not parse as records: a process
	// killed in the middle of a write leaves one torn last line.
	PartialLines []string
}

// Load reads a run directory written by the harness.
func Load(dir string) (*Input, error) {
	in := &Input{}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &in.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if err := readLines(filepath.Join(dir, FaultsFile), func(line []byte, _ int) error {
		var f Fault
		if err := json.Unmarshal(line, &f); err != nil {
			return err
		}
		in.Faults = append(in.Faults, f)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readLines(filepath.Join(dir, NodesFile), func(line []byte, _ int) error {
		var inc Incarnation
		if err := json.Unmarshal(line, &inc); err != nil {
			return err
		}
		in.Incarnations = append(in.Incarnations, inc)
		return nil
	}); err != nil {
		return nil, err
	}
	err = readLines(filepath.Join(dir, ClaimsFile), func(line []byte, _ int) error {
		var c Claim
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		in.Claims = append(in.Claims, c)
		return nil
	})
	switch {
	case errors.Is(err, os.ErrNotExist):
		in.Claims = nil
	case err != nil:
		return nil, err
	case in.Claims == nil:
		in.Claims = []Claim{}
	}
	err = readLines(filepath.Join(dir, NotificationsFile), func(line []byte, n int) error {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		r.From, r.Line = "notification", n
		in.Notifications = append(in.Notifications, r)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, inc := range in.Incarnations {
		if inc.Records == "" {
			continue
		}
		path := filepath.Join(dir, inc.Records)
		var torn []string
		err := readLines(path, func(line []byte, n int) error {
			var r Record
			if err := json.Unmarshal(line, &r); err != nil {
				torn = append(torn, fmt.Sprintf("%s line %d: %q: %v", inc.Label(), n, line, err))
				return nil
			}
			r.From, r.Line = inc.Label(), n
			in.Records = append(in.Records, r)
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		in.PartialLines = append(in.PartialLines, torn...)
	}
	return in, nil
}

// readLines calls f for every non-empty line of the file at path.
func readLines(path string, f func(line []byte, n int) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<16)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if ferr := f(line, n); ferr != nil {
				return fmt.Errorf("%s line %d: %w", filepath.Base(path), n, ferr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// WriteJSONLines writes one JSON line per element of v to path.
func WriteJSONLines[T any](path string, v []T) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range v {
		if err := enc.Encode(&v[i]); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
