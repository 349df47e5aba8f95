package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Issue 12: the policies have a text form, the same as their String, and
// read back what they write.
func TestPolicyTextForm(t *testing.T) {
	overlaps := map[OverlapPolicy]string{OverlapAllow: "allow", OverlapForbid: "forbid", OverlapReplace: "replace"}
	for p, name := range overlaps {
		b, err := p.MarshalText()
		if err != nil || string(b) != name || p.String() != name {
			t.Errorf("%d: MarshalText %q %v, String %q; want %q", int(p), b, err, p.String(), name)
		}
		var back OverlapPolicy = -1
		if err := back.UnmarshalText(b); err != nil || back != p {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, p)
		}
	}
	misfires := map[MisfirePolicy]string{MisfireSkip: "skip", MisfireRunOnce: "run_once"}
	for p, name := range misfires {
		b, err := p.MarshalText()
		if err != nil || string(b) != name || p.String() != name {
			t.Errorf("%d: MarshalText %q %v, String %q; want %q", int(p), b, err, p.String(), name)
		}
		var back MisfirePolicy = -1
		if err := back.UnmarshalText(b); err != nil || back != p {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, p)
		}
	}
	// Empty text is the default.
	o, m := OverlapReplace, MisfireRunOnce
	if o.UnmarshalText(nil) != nil || m.UnmarshalText(nil) != nil || o != OverlapAllow || m != MisfireSkip {
		t.Errorf("empty text: %v %v, want allow skip", o, m)
	}
	// Unknown values: errors that name the field; the value is unchanged.
	o, m = OverlapForbid, MisfireRunOnce
	if err := o.UnmarshalText([]byte("sometimes")); err == nil || !strings.HasPrefix(err.Error(), "overlap: ") || o != OverlapForbid {
		t.Errorf("overlap sometimes: %v (%v)", err, o)
	}
	if err := m.UnmarshalText([]byte("Skip")); err == nil || !strings.HasPrefix(err.Error(), "misfire: ") || m != MisfireRunOnce {
		t.Errorf("misfire Skip: %v (%v)", err, m)
	}
	if _, err := OverlapPolicy(7).MarshalText(); err == nil {
		t.Error("MarshalText of OverlapPolicy(7) succeeded")
	}
	if _, err := MisfirePolicy(-1).MarshalText(); err == nil {
		t.Error("MarshalText of MisfirePolicy(-1) succeeded")
	}
	if s := OverlapPolicy(7).String(); s != "OverlapPolicy(7)" {
		t.Errorf("String of an unknown overlap policy: %q", s)
	}
	if s := MisfirePolicy(5).String(); s != "MisfirePolicy(5)" {
		t.Errorf("String of an unknown misfire policy: %q", s)
	}
}

// Issue 12: Definition carries typed policies, and its JSON is what it was
// with strings: stored definitions still parse, written ones read the same.
func TestDefinitionPoliciesKeepTheirJSON(t *testing.T) {
	stored := `{"name":"legacy","schedule":"@every 1h","kind":"shell","shell":{"command":"true"},"overlap":"forbid","misfire":"run_once","starting_deadline":"10s"}`
	d, err := ParseDefinition([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	if d.Overlap != OverlapForbid || d.Misfire != MisfireRunOnce || time.Duration(d.Deadline) != 10*time.Second {
		t.Fatalf("parsed %+v", d)
	}
	out, err := json.Marshal(d)
	if err != nil || string(out) != stored {
		t.Fatalf("re-encoded:\n%s (%v)\nwant\n%s", out, err, stored)
	}
	// The defaults, spelled or not, read as the defaults and are left out.
	for _, v := range []string{`"overlap":"allow","misfire":"skip",`, `"overlap":"","misfire":"",`, ``} {
		d, err := ParseDefinition([]byte(`{"name":"x",` + v + `"schedule":"@every 1h","kind":"shell","shell":{"command":"true"}}`))
		if err != nil || d.Overlap != OverlapAllow || d.Misfire != MisfireSkip {
			t.Fatalf("%s: %+v %v", v, d, err)
		}
		if out, _ := json.Marshal(d); strings.Contains(string(out), "overlap") || strings.Contains(string(out), "misfire") {
			t.Fatalf("defaults written out: %s", out)
		}
	}
	// Bad values: ErrInvalidDefinition, naming the field.
	for field, v := range map[string]string{
		"overlap": `"overlap":"sometimes"`, "misfire": `"misfire":"later"`,
		"Definition.overlap": `"overlap":1`, "Definition.misfire": `"misfire":true`,
	} {
		_, err := ParseDefinition([]byte(`{"name":"x","schedule":"@every 1h","kind":"shell","shell":{"command":"true"},` + v + `}`))
		if !errors.Is(err, ErrInvalidDefinition) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrInvalidDefinition naming %s", v, err, field)
		}
	}
	for _, d := range []Definition{
		{Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}, Overlap: OverlapPolicy(7)},
		{Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}, Misfire: MisfirePolicy(3)},
	} {
		err := d.Validate()
		if !errors.Is(err, ErrInvalidDefinition) || !strings.Contains(err.Error(), "unknown policy") {
			t.Errorf("Validate(%v, %v) = %v", d.Overlap, d.Misfire, err)
		}
	}
}

// Issue 12: through etcd, Define stores the policies by name, and a
// definition stored with strings (before the policies were typed) is
// applied with those policies.
func TestDefinitionPoliciesThroughEtcd(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0", WithRemoteShell(true), WithClaimRetention(time.Minute))
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Define(ctx, Definition{Name: "typed", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"},
		Overlap: OverlapReplace, Misfire: MisfireRunOnce, Deadline: Duration(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, s.keys.Def("typed"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read the stored definition: %v", err)
	}
	if v := string(resp.Kvs[0].Value); !strings.Contains(v, `"overlap":"replace"`) || !strings.Contains(v, `"misfire":"run_once"`) {
		t.Fatalf("stored %s", v)
	}
	legacy := `{"name":"legacy","schedule":"@every 1h","kind":"shell","shell":{"command":"true"},"overlap":"forbid"}`
	if _, err := cli.Put(ctx, s.keys.Def("legacy"), legacy); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both definitions applied", func() bool {
		a, okA := s.JobInfo("typed")
		b, okB := s.JobInfo("legacy")
		return okA && okB && a.Overlap == OverlapReplace && b.Overlap == OverlapForbid
	})
	s.mu.Lock()
	misfire := s.jobs["typed"].cfg.misfire
	s.mu.Unlock()
	if misfire != MisfireRunOnce {
		t.Fatalf("misfire policy applied: %v", misfire)
	}
	if inv := s.InvalidDefinitions(); len(inv) != 0 {
		t.Fatalf("invalid definitions: %v", inv)
	}
	got, err := s.Definition(ctx, "legacy")
	if err != nil || got.Overlap != OverlapForbid {
		t.Fatalf("Definition(legacy) = %+v, %v", got, err)
	}
}
