package distcron

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A peer's registration describes its code jobs, including those
// registered after Start, so tools can show them cluster-wide.
func TestRegistrationDescribesCodeJobs(t *testing.T) {
	tc := newTestCluster(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tc.newScheduler("a", WithTags("gpu"))
	if err := a.RegisterFunc("report", "0 3 * * *", func(context.Context) error { return nil }, InLocation(berlin), RequireTags("gpu")); err != nil {
		t.Fatal(err)
	}
	tc.start(a)
	if err := a.RegisterShell("backup", "@every 1h", "true"); err != nil {
		t.Fatal(err)
	}
	b, _ := tc.newScheduler("b")
	want := map[string]CodeJob{
		"report": {Schedule: "0 3 * * *", Location: "Europe/Berlin", Kind: "func", Tags: []string{"gpu"}},
		"backup": {Schedule: "@every 1h", Location: "UTC", Kind: "shell"},
	}
	var got map[string]CodeJob
	waitFor(t, 10*time.Second, "a's registration to describe both jobs", func() bool {
		ins, err := b.Instances(context.Background())
		if err != nil || len(ins) != 1 {
			return false
		}
		got = ins[0].Code
		return len(got) == len(want) && got["backup"].Kind == "shell"
	})
	for name, w := range want {
		g := got[name]
		if g.Schedule != w.Schedule || g.Location != w.Location || g.Kind != w.Kind || !slices.Equal(g.Tags, w.Tags) {
			t.Errorf("Code[%q] = %+v, want %+v", name, g, w)
		}
	}
}
