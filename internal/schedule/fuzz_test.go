package schedule

import (
	"errors"
	"testing"
	"time"
)

// fuzzZones are the default zones FuzzParseNext picks from.
var fuzzZones = []string{"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia", "Antarctica/Troll"}

// FuzzParseNext parses arbitrary specs; whatever parses must give Next
// results strictly after their input (or the zero time), without panics.
func FuzzParseNext(f *testing.F) {
	seeds := []string{
		"* * * * *", "0 * * * *", "*/15 * * * *", "30 2 * * *", "0 1 * * *", "30 1 * * *",
		"0 30 2 * * *", "*/20 30 1 * * *", "0 0 0 1 1 * 2028", "0 0 0 29 2 * 2028-2099/4",
		"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@every 250ms", "@every 1h30m",
		"CRON_TZ=America/New_York 30 2 * * *", "TZ=Australia/Lord_Howe 0 2 * * *", "CRON_TZ=Asia/Kathmandu @hourly",
		"0 0 L * *", "0 0 LW * *", "0 0 15W * *", "0 0 * * 5L", "0 0 * * FRI#3", "0 0 L,1 * 5L,MON#2",
		"0 0 */2 * MON", "0 0 1-31/2 * MON", "0 0 ? * MON-FRI", "0 0 12 ? * 5L",
		"5 9 1 02 *", "0 9 * * 01", "0 0 * * 5-7", "0 0 * * MON-SUN", "0 0 * * SAT-SUN",
		// Rejected, from CRONEXPR.md.
		"5-2 * * * *", "0 23-1/1 * * *", "0 0 * 12-1 *", "0 @hourly", "* * * * * * * *", "@every 1ms", "",
		"0 0 30 2 *", "CRON_TZ= * * * * *", "*/0 * * * *", "L * * * *", "0 0 * * 7#5",
	}
	for i, spec := range seeds {
		f.Add(spec, int64(1767225600+i*7919*3600), uint32(i*1234567), uint8(i))
	}
	f.Add("*/5 * * * * *", int64(-1<<40), uint32(0), uint8(1))
	f.Add("@every 10ms", int64(1<<40), uint32(999999999), uint8(2))
	f.Add("0 0 1 1 *", int64(4102444799), uint32(999999999), uint8(3)) // 2099-12-31T23:59:59Z
	locs := make([]*time.Location, len(fuzzZones))
	for i, name := range fuzzZones {
		locs[i] = zone(f, name)
	}
	f.Fuzz(func(t *testing.T, spec string, sec int64, nsec uint32, zi uint8) {
		s, err := Parse(spec, locs[int(zi)%len(locs)])
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidSpec", spec, err)
			}
			return
		}
		if s.String() != spec {
			t.Fatalf("String() = %q, want %q", s.String(), spec)
		}
		from := time.Unix(sec, int64(nsec%1e9))
		for range 3 {
			next := s.Next(from)
			if next.IsZero() {
				return
			}
			if !next.After(from) {
				t.Fatalf("Parse(%q).Next(%s) = %s: not after its input", spec, from, next)
			}
			from = next
		}
	})
}
