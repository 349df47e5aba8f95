package schedule

import (
	"testing"
	"time"
)

// BenchmarkNext measures one Next call as the scheduler makes it: from the
// previous fire to the next one.
func BenchmarkNext(b *testing.B) {
	for _, bc := range []struct{ name, spec, zone string }{
		{"UTC/every-15-min", "*/15 * * * *", "UTC"},
		{"UTC/daily", "30 2 * * *", "UTC"},
		{"UTC/6-field-seconds", "*/10 * * * * *", "UTC"},
		{"UTC/last-friday", "0 0 * * 5L", "UTC"},
		{"UTC/every-250ms", "@every 250ms", "UTC"},
		{"America/New_York/every-15-min", "*/15 * * * *", "America/New_York"},
		{"America/New_York/daily", "30 2 * * *", "America/New_York"},
		{"America/New_York/weekdays", "0 9 * * MON-FRI", "America/New_York"},
		{"America/New_York/last-friday", "0 0 * * 5L", "America/New_York"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := mustParse(b, bc.spec, zone(b, bc.zone))
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			from := start
			b.ReportAllocs()
			for b.Loop() {
				from = s.Next(from)
				if from.Year() > 2030 {
					from = start
				}
			}
		})
	}
}

// BenchmarkParse measures Parse, which runs once per job registration.
func BenchmarkParse(b *testing.B) {
	for _, spec := range []string{"*/15 * * * *", "CRON_TZ=America/New_York 0 9 * * MON-FRI", "0 0 L * 5L"} {
		b.Run(spec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(spec, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
