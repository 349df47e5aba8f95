package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Issue 10: a definition with a kind never replaces a job registered in
// code. Define refuses it (ErrCodeJob), whether the code job is registered
// on this instance or on another live one; one written into etcd directly
// is skipped by every instance, the code job keeps running, and deleting
// the definition leaves the code job in place.
func TestDefinitionsNeverReplaceCodeJobs(t *testing.T) {
	tc := newTestCluster(t)
	owner, _ := tc.newScheduler("owner", WithRemoteShell(true))
	if err := owner.RegisterFunc("report", "@every 200ms", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(owner)
	other, _ := tc.newScheduler("other", WithRemoteShell(true))
	tc.start(other)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	shell := Definition{Name: "report", Kind: "shell", Schedule: "@every 1s", Shell: &ShellSpec{Command: "echo taken"}}
	for _, s := range []*Scheduler{owner, other} {
		err := s.Define(ctx, shell)
		if !errors.Is(err, ErrCodeJob) || !errors.Is(err, ErrInvalidDefinition) {
			t.Fatalf("Define on %s: %v, want ErrCodeJob", s.InstanceID(), err)
		}
	}
	if _, err := owner.Definition(ctx, "report"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("a refused definition was stored: %v", err)
	}

	// Written into etcd directly, bypassing Define.
	v, _ := json.Marshal(shell)
	if _, err := owner.cli.Put(ctx, tc.ns+"defs/report", string(v)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition to be skipped", func() bool {
		return errors.Is(owner.InvalidDefinitions()["report"], ErrCodeJob) &&
			errors.Is(other.InvalidDefinitions()["report"], ErrCodeJob)
	})
	if ji, ok := other.JobInfo("report"); ok {
		t.Fatalf("the instance without the code job took the definition: %+v", ji)
	}
	since := time.Now()
	waitFor(t, 5*time.Second, "the code job's runs", func() bool {
		for _, r := range recordsOf(tc.sink, "report") {
			if r.Started.After(since) {
				return true
			}
		}
		return false
	})
	for _, r := range recordsOf(tc.sink, "report") {
		if r.Output != "" {
			t.Fatalf("the shell definition ran in place of the code job: %+v", r)
		}
	}
	if ji, ok := owner.JobInfo("report"); !ok || ji.Source != sourceCode || ji.Kind != "func" {
		t.Fatalf("the code job changed: %+v %v", ji, ok)
	}
	if err := owner.Delete(ctx, "report"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the invalid definition to be forgotten", func() bool {
		_, still := owner.InvalidDefinitions()["report"]
		return !still
	})
	if ji, ok := owner.JobInfo("report"); !ok || ji.Source != sourceCode {
		t.Fatalf("deleting the definition removed the code job: %+v %v", ji, ok)
	}
	// An override (no kind) is still allowed.
	if err := other.Define(ctx, Definition{Name: "report", Schedule: "@every 1s"}); err != nil {
		t.Fatalf("an override of a code job: %v", err)
	}
}

// Issue 10: a job registered in code after a definition of the same name
// was applied takes its place (code wins) instead of failing; unregistered,
// it gives the place back.
func TestCodeJobRegisteredLaterWinsOverADefinition(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true))
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Define(ctx, Definition{Name: "late", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition applied", func() bool {
		ji, ok := s.JobInfo("late")
		return ok && ji.Source == sourceDefinition
	})
	if err := s.RegisterFunc("late", "@yearly", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("registering the code job: %v", err)
	}
	if ji, _ := s.JobInfo("late"); ji.Source != sourceCode || ji.Kind != "func" {
		t.Fatalf("the code job did not take its place: %+v", ji)
	}
	// Unregistered, with no live instance registering the name in code,
	// the definition applies again.
	if !s.Unregister("late") {
		t.Fatal("Unregister found no job")
	}
	waitFor(t, 5*time.Second, "the definition applied again", func() bool {
		ji, ok := s.JobInfo("late")
		return ok && ji.Source == sourceDefinition && s.InvalidDefinitions()["late"] == nil
	})
}

// Issue 10: whether a definition with a kind is skipped follows the live
// instances' code jobs. Stored while no instance registers its name in
// code, it applies; an instance that registers the name in code joins and
// every other instance withdraws the defined job; that instance leaves and
// the definition applies again.
func TestDefinitionsFollowTheLiveCodeJobs(t *testing.T) {
	tc := newTestCluster(t)
	other, _ := tc.newScheduler("other", WithRemoteShell(true))
	tc.start(other)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := other.Define(ctx, Definition{Name: "report", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	defined := func() bool {
		ji, ok := other.JobInfo("report")
		return ok && ji.Source == sourceDefinition && other.InvalidDefinitions()["report"] == nil
	}
	waitFor(t, 5*time.Second, "the definition applied", defined)

	owner, _ := tc.newScheduler("owner")
	if err := owner.RegisterFunc("report", "@yearly", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(owner)
	waitFor(t, 5*time.Second, "the definition withdrawn where the code job is not", func() bool {
		_, ok := other.JobInfo("report")
		return !ok && errors.Is(other.InvalidDefinitions()["report"], ErrCodeJob)
	})
	if ji, ok := owner.JobInfo("report"); !ok || ji.Source != sourceCode {
		t.Fatalf("the code job: %+v %v", ji, ok)
	}
	stopNow(t, owner)
	waitFor(t, 10*time.Second, "the definition applied again once no instance has the code job", defined)
}
