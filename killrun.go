package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/keys"
)

// killRunRequest cancels the one run whose running key is running/<Run>.
// It lives under control/killrun/<job>/ with the short kill lease, apart
// from control/kill/, so that an instance of an older version (which
// knows only kills of every run of a job) ignores it rather than killing
// more than was asked.
type killRunRequest struct {
	Run string `json:"run"`
	By  string `json:"by"`
}

// KillRun cancels one run in progress, wherever it runs: the one whose
// Run.ID (from Running) is id. Its Go func sees its ctx cancelled (cause
// ErrKilled), its shell command gets SIGTERM and then SIGKILL after the
// grace period, and it is recorded as killed; other runs of the job go on.
//
// It blocks for one etcd read, two while claims are unresolved (the run
// must be in progress: else it returns ErrNoSuchRun), and one write, and
// returns once the request is stored; the runner acts on it when its watch
// delivers it, and the request expires on its own within a minute. An id
// that does not start with a valid job name and a slash gets
// ErrInvalidName. A run ending meanwhile is not an error.
// It is safe for concurrent use and works on a Scheduler that was never
// started. Instances of versions before KillRun ignore the request.
func (s *Scheduler) KillRun(ctx context.Context, id string) error {
	job, rest, ok := strings.Cut(id, "/")
	if !validName(job) {
		return fmt.Errorf("%w: %s: %s", ErrInvalidName, errtext.Name(job), nameRule)
	}
	if !ok || rest == "" || strings.Contains(id, "//") {
		return fmt.Errorf("%w: %s (use the ID of a run from Running)", ErrNoSuchRun, errtext.Name(id))
	}
	runs, err := s.runsInProgress(ctx)
	if err != nil {
		return fmt.Errorf("distcron: kill run %s: %w", errtext.Name(id), err)
	}
	if !slices.ContainsFunc(runs, func(r runInProgress) bool { return r.key == s.keys.Running()+id }) {
		return fmt.Errorf("%w: %s", ErrNoSuchRun, errtext.Name(id))
	}
	v, _ := json.Marshal(killRunRequest{Run: id, By: s.cfg.instanceID})
	if err := s.putOnKillLease(ctx, s.keys.KillRun(job, randomSuffix()), v); err != nil {
		return fmt.Errorf("distcron: kill run %s: %w", errtext.Name(id), err)
	}
	return nil
}

// applyKillRun acts on a kill request for one run (see KillRun): the run
// is cancelled if it is in progress here.
func (s *Scheduler) applyKillRun(key string, value []byte) {
	var kr killRunRequest
	if err := json.Unmarshal(value, &kr); err != nil || kr.Run == "" {
		s.log.Warn("ignoring malformed kill request", zap.String("key", key), zap.Error(err))
		return
	}
	if s.owner.killKey(s.keys.Running() + kr.Run) {
		s.log.Info("killing run", zap.String("job", keys.JobOf(s.keys.KillRuns(), key)), zap.String("run", kr.Run), zap.String("by", kr.By))
	}
}

// killKey cancels the run in progress here under the running key, with
// cause ErrKilled, and reports whether there was one.
func (r *runOwner) killKey(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runs[key]
	if ok {
		run.cancel(ErrKilled)
	}
	return ok
}
