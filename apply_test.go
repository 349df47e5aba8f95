package distcron

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestApplyCreatesUpdatesPrunesAllOrNothing(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true))
	tc.start(s)
	ctx := context.Background()
	shell := func(name, sched, cmd string) Definition {
		return Definition{Name: name, Kind: "shell", Schedule: sched, Shell: &ShellSpec{Command: cmd}}
	}
	names := func() []string {
		defs, err := s.Definitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range defs {
			out = append(out, d.Name+"="+d.Schedule)
		}
		slices.Sort(out)
		return out
	}

	plan, err := s.Apply(ctx, []Definition{shell("a", "@hourly", "true"), shell("b", "@daily", "true")}, ApplyOptions{DryRun: true})
	if err != nil || !slices.Equal(plan.Created, []string{"a", "b"}) || plan.Changes() != 2 {
		t.Fatalf("dry run: %+v, %v", plan, err)
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("a dry run wrote %v", got)
	}
	if _, err := s.Apply(ctx, []Definition{shell("a", "@hourly", "true"), shell("b", "@daily", "true")}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"a=@hourly", "b=@daily"}) {
		t.Fatalf("after apply: %v", got)
	}

	// A file with one bad definition is refused whole.
	_, err = s.Apply(ctx, []Definition{shell("a", "@every 2h", "true"), shell("c", "61 * * * *", "true"), shell("c", "@daily", "x")}, ApplyOptions{Prune: true})
	if !errors.Is(err, ErrInvalidDefinition) || !strings.Contains(err.Error(), `"c"`) || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("bad set: %v, want ErrInvalidDefinition naming c, and the duplicate", err)
	}
	if got := names(); !slices.Equal(got, []string{"a=@hourly", "b=@daily"}) {
		t.Fatalf("a refused apply changed the definitions: %v", got)
	}

	plan, err = s.Apply(ctx, []Definition{shell("a", "@every 2h", "true"), shell("c", "@daily", "true")}, ApplyOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Created, []string{"c"}) || !slices.Equal(plan.Updated, []string{"a"}) || !slices.Equal(plan.Deleted, []string{"b"}) {
		t.Errorf("plan %+v, want c created, a updated, b deleted", plan)
	}
	if got := names(); !slices.Equal(got, []string{"a=@every 2h", "c=@daily"}) {
		t.Fatalf("after apply with prune: %v", got)
	}
	plan, err = s.Apply(ctx, []Definition{shell("a", "@every 2h", "true"), shell("c", "@daily", "true")}, ApplyOptions{Prune: true})
	if err != nil || plan.Changes() != 0 || !slices.Equal(plan.Unchanged, []string{"a", "c"}) {
		t.Errorf("applying the same again: %+v, %v; want no change", plan, err)
	}
}
