package distcron

import (
	"encoding/json"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func memberKV(t *testing.T, in Instance) *mvccpb.KeyValue {
	v, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return &mvccpb.KeyValue{Key: []byte("/p/instances/" + in.ID), Value: v}
}

func TestExactlyOnePreferredClaimerPerTick(t *testing.T) {
	var m membership
	for _, in := range []Instance{
		{ID: "a", Tags: []string{"gpu"}, Jobs: []string{"j", "train"}, JobCount: 2},
		{ID: "b", Jobs: []string{"j"}, JobCount: 1},
		{ID: "c", Jobs: []string{"x"}, JobCount: 5000}, // truncated list: assumed to have every job
	} {
		m.set("/p/instances/"+in.ID, memberKV(t, in), "/p/instances/")
	}
	plain := &job{name: "j"}
	train := &job{name: "train", cfg: jobConfig{tags: []string{"gpu"}}}
	base := time.Unix(1_700_000_000, 0)
	share := map[string]int{}
	for i := 0; i < 3000; i++ {
		tick := base.Add(time.Duration(i) * time.Second)
		n := 0
		for _, id := range []string{"a", "b", "c"} {
			if m.preferred(id, plain, tick) {
				n++
				share[id]++
			}
			if m.preferred(id, train, tick) != (id == "a") {
				t.Fatalf("tick %d: %s preferred for a gpu job", i, id)
			}
		}
		if n != 1 {
			t.Fatalf("tick %d: %d preferred claimers", i, n)
		}
	}
	for id, n := range share {
		if n < 800 {
			t.Errorf("%s preferred for %d of 3000 ticks; rendezvous should spread them", id, n)
		}
	}
	// An instance missing from the view claims as if preferred (safe default);
	// a departed member stops being preferred.
	if !m.preferred("newcomer", plain, base) {
		t.Fatal("an instance not yet in the view must not wait for others")
	}
	m.set("/p/instances/b", nil, "/p/instances/")
	m.set("/p/instances/c", nil, "/p/instances/")
	for i := 0; i < 100; i++ {
		if !m.preferred("a", plain, base.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("sole member not preferred at tick %d", i)
		}
	}
}
