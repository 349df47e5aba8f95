package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gorhill/cronexpr"
)

// TestNextMatchesCronexpr compares Next with cronexpr in UTC, where
// cronexpr is right, over random specs that avoid its defects: no leading
// zeros, no day of week 7, no reversed ranges, and the two day fields never
// both restricted with one of them starting with '*' (CRONEXPR.md #10).
func TestNextMatchesCronexpr(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 400
	if testing.Short() {
		n = 50
	}
	for range n {
		spec := randomSpec(r)
		t.Run(spec, func(t *testing.T) {
			ours := mustParse(t, spec, nil)
			theirs, err := cronexpr.Parse(spec)
			if err != nil {
				t.Fatalf("cronexpr.Parse: %v", err)
			}
			from := time.Unix(r.Int64N(5*365*86400)+1767225600, r.Int64N(1e9)).UTC() // 2026-2030
			for i := range 25 {
				want := theirs.Next(from)
				got := ours.Next(from)
				if !got.Equal(want) {
					t.Fatalf("step %d: Next(%s) = %s, cronexpr says %s", i, from.Format(time.RFC3339Nano), got, want)
				}
				if got.IsZero() {
					break
				}
				from = got
			}
		})
	}
}

// randomSpec returns a random 7-field spec within cronexpr's correct subset.
func randomSpec(r *rand.Rand) string {
	dom, dow := "*", "*"
	switch r.IntN(4) {
	case 0: // both '*'
	case 1:
		dom = randomField(r, 1, 31, nil, []string{"L", "LW", "15W", "1W", "31W"})
	case 2:
		dow = randomField(r, 0, 6, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, []string{"5L", "0L", "1#1", "5#5", "3#2", "FRI#3"})
	case 3: // both restricted, neither starting with '*'
		for domStar, dowStar := true, true; domStar || dowStar; {
			dom = randomField(r, 1, 31, nil, []string{"L", "LW", "10W"})
			dow = randomField(r, 0, 6, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, []string{"5L", "2#4"})
			domStar, dowStar = strings.HasPrefix(dom, "*"), strings.HasPrefix(dow, "*")
		}
	}
	year := "*"
	if r.IntN(4) == 0 {
		year = randomField(r, 2026, 2040, nil, nil)
	}
	months := []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	return strings.Join([]string{
		randomField(r, 0, 59, nil, nil),
		randomField(r, 0, 59, nil, nil),
		randomField(r, 0, 23, nil, nil),
		dom,
		randomField(r, 1, 12, months, nil),
		dow,
		year,
	}, " ")
}

// randomField returns a random field over min-max: *, */n, values, ranges,
// steps, names (names[i] is value min+i) and specials, as a list.
func randomField(r *rand.Rand, lo, hi int, names, specials []string) string {
	if r.IntN(3) == 0 {
		return "*"
	}
	if r.IntN(4) == 0 {
		return fmt.Sprintf("*/%d", 1+r.IntN(min(hi, 12)))
	}
	val := func(v int) string {
		if names != nil && r.IntN(2) == 0 {
			return names[v-lo]
		}
		return fmt.Sprint(v)
	}
	var items []string
	for range 1 + r.IntN(3) {
		a := lo + r.IntN(hi-lo+1)
		b := a + r.IntN(hi-a+1)
		switch k := r.IntN(6); {
		case k == 0 && specials != nil:
			items = append(items, specials[r.IntN(len(specials))])
		case k <= 2:
			items = append(items, val(a))
		case k == 3:
			items = append(items, val(a)+"-"+val(b))
		case k == 4:
			items = append(items, fmt.Sprintf("%s-%s/%d", val(a), val(b), 1+r.IntN(min(hi, 10))))
		default:
			items = append(items, fmt.Sprintf("%d/%d", a, 1+r.IntN(min(hi, 10))))
		}
	}
	return strings.Join(items, ",")
}

// TestDayRule pins the cronie day-of-month / day-of-week rule.
func TestDayRule(t *testing.T) {
	from := at(t, "2026-01-31T23:59:59Z") // February 2026 starts on a Sunday
	tests := []struct {
		spec string
		want []string // days of February 2026, then the first March fire
	}{
		{"0 0 * * *", nil}, // every day; checked by count below
		{"0 0 13 * *", []string{"02-13", "03-13"}},
		{"0 0 * * FRI", []string{"02-06", "02-13", "02-20", "02-27", "03-06"}},
		{"0 0 13 * FRI", []string{"02-06", "02-13", "02-20", "02-27", "03-06"}},                        // OR
		{"0 0 13 * */5", []string{"02-13", "03-13"}},                                                   // AND: dow starts with '*'
		{"0 0 */13 * FRI", []string{"02-27", "03-27"}},                                                 // AND: days 1, 14, 27 on a Friday
		{"0 0 1-31/13 * FRI", []string{"02-01", "02-06", "02-13", "02-14", "02-20", "02-27", "03-01"}}, // OR
		{"0 0 ? * FRI", []string{"02-06", "02-13", "02-20", "02-27", "03-06"}},
		{"0 0 13 * ?", []string{"02-13", "03-13"}},
		{"0 0 *,13 * FRI", []string{"02-06", "02-13"}}, // starts with '*': AND (cronie), every Friday
		{"0 0 L * FRI", []string{"02-06", "02-13", "02-20", "02-27", "02-28", "03-06"}},
		{"0 0 L * */2", []string{"02-28", "03-31"}}, // AND: the last day, if Sun/Tue/Thu/Sat
		{"0 0 1-7 * MON#1", []string{"02-01", "02-02", "02-03", "02-04", "02-05", "02-06", "02-07", "03-01"}},
		{"0 0 */1 * MON#1", []string{"02-02", "03-02"}}, // AND with the first Monday
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s := mustParse(t, tt.spec, nil)
			if tt.want == nil {
				if got := fires(t, s, from, 29); got[28] != "2026-03-01T00:00:00Z" {
					t.Errorf("every day: 29th fire %s, want 2026-03-01", got[28])
				}
				return
			}
			got := fires(t, s, from, len(tt.want))
			for i := range got {
				got[i] = strings.TrimSuffix(strings.TrimPrefix(got[i], "2026-"), "T00:00:00Z")
			}
			equal(t, got, tt.want)
		})
	}
}

// TestNextStrictlyAfter checks that Next skips its input, to the nanosecond.
func TestNextStrictlyAfter(t *testing.T) {
	s := mustParse(t, "*/10 * * * * *", nil)
	for _, tt := range []struct{ from, want string }{
		{"2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"},
		{"2026-01-01T00:00:09.999999999Z", "2026-01-01T00:00:10Z"},
		{"2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z"},
		{"2026-01-01T00:00:10.000000001Z", "2026-01-01T00:00:20Z"},
		{"2025-12-31T23:59:59.5Z", "2026-01-01T00:00:00Z"},
	} {
		if got := s.Next(at(t, tt.from)); !got.Equal(at(t, tt.want)) {
			t.Errorf("Next(%s) = %s, want %s", tt.from, got.Format(time.RFC3339Nano), tt.want)
		}
	}
}

// TestNextResultZone checks results come back in the spec's zone whatever
// the zone of from, with no monotonic clock reading.
func TestNextResultZone(t *testing.T) {
	tokyo := zone(t, "Asia/Tokyo")
	for _, spec := range []string{"0 9 * * *", "@every 1h"} {
		s := mustParse(t, spec, tokyo)
		got := s.Next(time.Now())
		if got.Location() != tokyo {
			t.Errorf("%s: Next returned zone %s, want Asia/Tokyo", spec, got.Location())
		}
		if got != got.Round(0) {
			t.Errorf("%s: Next returned a monotonic clock reading", spec)
		}
	}
}
