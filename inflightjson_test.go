package distcron

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// The hand-written encoder of in-flight values must write exactly what
// encoding/json writes, for any value: readers decode it with
// encoding/json, and a difference would show up only on some job names.
func TestInflightJSONIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Strings with what JSON quoting treats specially, and unicode.
	pieces := []string{"", "a", "job-1", "s3", "i node/2", `"`, `\`, "<", ">", "&", "\n", "\x00", "\x7f", "é", "\u2028", "日本", "\xff", " "}
	str := func() string {
		s := ""
		for n := rng.IntN(4); n > 0; n-- {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800), time.FixedZone("y", -7*3600)}
	instant := func() time.Time {
		switch rng.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return time.Unix(rng.Int64N(1<<33), 0).In(zones[rng.IntN(len(zones))])
		}
		return time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	}
	smallInt := func() int {
		if rng.IntN(2) == 0 {
			return 0
		}
		return rng.IntN(2000) - 1000
	}
	for i := 0; i < 5000; i++ {
		v := inflightValue{Instance: str(), Claim: str(), Claimed: instant(), Checked: rng.IntN(2) == 0}
		if rng.IntN(5) > 0 {
			v.Runs = []inflightRun{}
			for n := rng.IntN(4); n > 0; n-- {
				v.Runs = append(v.Runs, inflightRun{ID: str(), Token: int64(smallInt()) * (1 << 40), Tick: instant(),
					Shard: smallInt(), Unit: str(), Attempt: smallInt(), Trigger: logsink.Trigger(str()), Run: str(),
					RerunLost: rng.IntN(2) == 0})
			}
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("value %+v:\nappendJSON %s\njson.Marshal %s", v, got, want)
		}
	}
}
