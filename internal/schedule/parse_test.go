package schedule

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	ny := zone(t, "America/New_York")
	tests := []struct {
		name      string
		spec      string
		loc       *time.Location
		wantLoc   string
		wantEvery time.Duration
		from      string
		want      []string
	}{
		{"5 fields minute first", "30 10 * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T10:30:00Z", "2026-01-16T10:30:00Z"}},
		{"6 fields seconds first", "15 30 10 * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T10:30:15Z", "2026-01-16T10:30:15Z"}},
		{"6 fields every 20 seconds", "*/20 * * * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T10:20:40Z", "2026-01-15T10:21:00Z", "2026-01-15T10:21:20Z"}},
		{"6 fields Quartz question mark", "0 0 12 ? * MON-FRI", nil, "UTC", 0, "2026-01-16T13:00:00Z",
			[]string{"2026-01-19T12:00:00Z", "2026-01-20T12:00:00Z"}},
		{"7 fields with year", "0 0 0 1 1 * 2028", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2028-01-01T00:00:00Z", "never"}},
		{"7 fields year list", "0 0 0 1 1 * 2027,2029-2030", nil, "UTC", 0, "2026-06-01T00:00:00Z",
			[]string{"2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "never"}},
		{"7 fields year step", "0 0 0 1 1 * 2026/3", nil, "UTC", 0, "2026-06-01T00:00:00Z",
			[]string{"2029-01-01T00:00:00Z", "2032-01-01T00:00:00Z"}},
		{"yearly", "@yearly", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2027-01-01T00:00:00Z"}},
		{"annually", "@annually", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2027-01-01T00:00:00Z"}},
		{"monthly", "@monthly", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-02-01T00:00:00Z"}},
		{"weekly", "@weekly", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-01-18T00:00:00Z"}},
		{"daily", "@daily", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-01-16T00:00:00Z"}},
		{"midnight", "@midnight", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-01-16T00:00:00Z"}},
		{"hourly", "@hourly", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-01-15T11:00:00Z"}},
		{"descriptor case", "@Daily", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"2026-01-16T00:00:00Z"}},
		{"every", "@every 1m30s", nil, "UTC", 90 * time.Second, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T10:21:00Z", "2026-01-15T10:22:30Z"}},
		{"every minimum", "@every 10ms", nil, "UTC", 10 * time.Millisecond, "2026-01-15T10:20:30.001Z",
			[]string{"2026-01-15T10:20:30.01Z"}},
		{"default zone", "0 9 * * *", ny, "America/New_York", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T09:00:00-05:00"}},
		{"CRON_TZ prefix", "CRON_TZ=Asia/Tokyo 0 9 * * *", nil, "Asia/Tokyo", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T09:00:00+09:00"}},
		{"CRON_TZ prefix beats default", "CRON_TZ=Asia/Tokyo 0 9 * * *", ny, "Asia/Tokyo", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T09:00:00+09:00"}},
		{"TZ prefix", "TZ=Europe/Paris 0 9 * * *", nil, "Europe/Paris", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T09:00:00+01:00"}},
		{"TZ prefix UTC", "TZ=UTC 0 9 * * *", ny, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T09:00:00Z"}},
		{"prefix with descriptor", "CRON_TZ=Asia/Tokyo @daily", nil, "Asia/Tokyo", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T00:00:00+09:00"}},
		{"prefix with every", "CRON_TZ=Asia/Tokyo @every 1h", nil, "Asia/Tokyo", time.Hour, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T20:00:00+09:00"}},
		{"extra whitespace", "  0\t9  *  * *  ", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-16T09:00:00Z"}},
		{"month and dow names", "0 0 1 jan,Jul * ", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"full names", "0 0 * february sunday", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z"}},
		{"last day of month", "0 0 L * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{"last day of Feb in a leap year", "0 0 L 2 *", nil, "UTC", 0, "2027-06-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
		{"nearest weekday", "0 0 15W * *", nil, "UTC", 0, "2026-02-01T00:00:00Z",
			// 2026-02-15 and 2026-03-15 are Sundays; 2026-08-15 is a Saturday.
			[]string{"2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-15T00:00:00Z"}},
		{"nearest weekday does not leave the month", "0 0 1W * *", nil, "UTC", 0, "2026-07-15T00:00:00Z",
			// 2026-08-01 is a Saturday: Monday the 3rd, not Friday July 31.
			[]string{"2026-08-03T00:00:00Z"}},
		{"last weekday of month", "0 0 LW * *", nil, "UTC", 0, "2026-05-01T00:00:00Z",
			// 2026-05-31 is a Sunday.
			[]string{"2026-05-29T00:00:00Z", "2026-06-30T00:00:00Z"}},
		{"last Friday", "0 0 * * 5L", nil, "UTC", 0, "2026-01-01T00:00:00Z",
			[]string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"}},
		{"last Friday by name", "0 0 * * FRIL", nil, "UTC", 0, "2026-01-01T00:00:00Z",
			[]string{"2026-01-30T00:00:00Z"}},
		{"second Tuesday", "0 0 * * TUE#2", nil, "UTC", 0, "2026-01-01T00:00:00Z",
			[]string{"2026-01-13T00:00:00Z", "2026-02-10T00:00:00Z"}},
		{"fifth Sunday as 7#5", "0 0 * * 7#5", nil, "UTC", 0, "2026-01-01T00:00:00Z",
			[]string{"2026-03-29T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"specials combined with a list", "0 0 1,L * *", nil, "UTC", 0, "2026-01-15T00:00:00Z",
			[]string{"2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z"}},
		{"Quartz value step", "5/20 * * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T10:25:00Z", "2026-01-15T10:45:00Z", "2026-01-15T11:05:00Z"}},
		{"range step", "0 9-17/4 * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T13:00:00Z", "2026-01-15T17:00:00Z", "2026-01-16T09:00:00Z"}},
		{"step equal to field size", "*/60 * * * *", nil, "UTC", 0, "2026-01-15T10:20:30Z",
			[]string{"2026-01-15T11:00:00Z"}},
		{"never: year passed", "0 0 0 1 1 * 2020", nil, "UTC", 0, "2026-01-15T10:20:30Z", []string{"never"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec, tt.loc)
			if s.String() != tt.spec {
				t.Errorf("String() = %q, want %q", s.String(), tt.spec)
			}
			if got := s.Location().String(); got != tt.wantLoc {
				t.Errorf("Location() = %s, want %s", got, tt.wantLoc)
			}
			if s.Every() != tt.wantEvery {
				t.Errorf("Every() = %s, want %s", s.Every(), tt.wantEvery)
			}
			equal(t, fires(t, s, at(t, tt.from), len(tt.want)), tt.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec string
		want string // the reason after `distcron: invalid schedule "<spec>": `
	}{
		{"", "spec is empty"},
		{"   ", "spec is empty"},
		{"* * * *", "expected 5, 6 or 7 fields, got 4"},
		{"0 0 0 0 * * * *", "expected 5, 6 or 7 fields, got 8"},
		{"* * * * * * * * 2026", "expected 5, 6 or 7 fields, got 9"},
		{"0 @hourly", "descriptor @hourly must be the whole spec"},
		{"@hourly 0", "descriptor @hourly must be the whole spec"},
		{"* * * * @daily", "descriptor @daily must be the whole spec"},
		{"@fortnightly", "unknown descriptor @fortnightly"},
		{"@reboot", "unknown descriptor @reboot"},
		{"@", "unknown descriptor @"},
		{"@every", "@every needs exactly one duration, as in @every 1m30s"},
		{"@every 1m 2m", "@every needs exactly one duration, as in @every 1m30s"},
		{"@every fast", `@every duration "fast" is invalid: it must be a Go duration, as in 1m30s`},
		{"@every 5ms", "@every duration 5ms is below the minimum of 10ms"},
		{"@every -1h", "@every duration -1h0m0s is below the minimum of 10ms"},
		{"@every 0s", "@every duration 0s is below the minimum of 10ms"},
		{"5-2 * * * *", "minute range 5-2 is reversed"},
		{"0 23-1/1 * * *", "hour range 23-1 is reversed"},
		{"0 0 * 12-1 *", "month range 12-1 is reversed"},
		{"0 0 * DEC-JAN *", "month range DEC-JAN is reversed"},
		{"0 0 * * 5-1", "day-of-week range 5-1 is reversed"},
		{"0 0 * * 1-0", "day-of-week range 1-0 is reversed"},
		{"0 0 * * 7-1", "day-of-week range 7-1 is reversed"},
		{"0 0 0 1 1 * 2030-2027", "year range 2030-2027 is reversed"},
		{"60 * * * *", "minute value 60 is out of range 0-59"},
		{"* 24 * * *", "hour value 24 is out of range 0-23"},
		{"* * 0 * *", "day-of-month value 0 is out of range 1-31"},
		{"* * 32 * *", "day-of-month value 32 is out of range 1-31"},
		{"* * * 13 *", "month value 13 is out of range 1-12"},
		{"* * * 00 *", "month value 00 is out of range 1-12"},
		{"* * * * 8", "day-of-week value 8 is out of range 0-7"},
		{"60 * * * * *", "second value 60 is out of range 0-59"},
		{"0 0 0 1 1 * 1969", "year value 1969 is out of range 1970-2099"},
		{"0 0 0 1 1 * 2100", "year value 2100 is out of range 1970-2099"},
		{"99999999999999999999 * * * *", "minute value 99999999999999999999 is out of range 0-59"},
		{"-5 * * * *", `minute range "-5" is incomplete`},
		{"5- * * * *", `minute range "5-" is incomplete`},
		{"1-2-3 * * * *", `minute value "2-3" is not a number`},
		{"a * * * *", `minute value "a" is not a number`},
		{"* * * foo *", `month value "foo" is neither a number nor a known name`},
		{"* * * * mon-foo", `day-of-week value "foo" is neither a number nor a known name`},
		{"1,,2 * * * *", `minute field "1,,2" has an empty list item`},
		{"1, * * * *", `minute field "1," has an empty list item`},
		{"*/0 * * * *", `minute step "0" in "*/0" must be a number from 1 to 60`},
		{"*/61 * * * *", `minute step "61" in "*/61" must be a number from 1 to 60`},
		{"*/ * * * *", `minute step "" in "*/" must be a number from 1 to 60`},
		{"*/+5 * * * *", `minute step "+5" in "*/+5" must be a number from 1 to 60`},
		{"*/x * * * *", `minute step "x" in "*/x" must be a number from 1 to 60`},
		{"* * * */13 *", `month step "13" in "*/13" must be a number from 1 to 12`},
		{"? * * * *", "minute field cannot be ?"},
		// Issue 12: specs that parse but match no date at all.
		{"0 0 31 2 *", "it never fires: no date in 1970-2099 matches its fields"},
		{"0 0 30 2 *", "it never fires: no date in 1970-2099 matches its fields"},
		{"0 0 0 31 4,6,9,11 *", "it never fires: no date in 1970-2099 matches its fields"},
		{"CRON_TZ=America/New_York 0 0 31 2 *", "it never fires: no date in 1970-2099 matches its fields"},
		{"0 0 0 29 2 * 2025", "it never fires: no date in 1970-2099 matches its fields"},
		{"* * ?,1 * *", `day-of-month value "?" is not a number`},
		{"* * L-2 * *", `day-of-month item "L-2" is invalid: only L and LW may start with L`},
		{"* * 1-5W * *", `day-of-month item "1-5W" is invalid: W needs a single day, as in 15W`},
		{"* * 32W * *", "day-of-month value 32 is out of range 1-31"},
		{"* * * * L", `day-of-week item "L" is invalid: L needs a day, as in 5L or FRIL`},
		{"* * * * 5#6", `day-of-week item "5#6" is invalid: # needs a week 1-5, as in FRI#2`},
		{"* * * * 5#", `day-of-week item "5#" is invalid: # needs a week 1-5, as in FRI#2`},
		{"* * * * 8#1", "day-of-week value 8 is out of range 0-7"},
		{"* L * * *", `hour value "L" is not a number`},
		{"CRON_TZ=Mars/Olympus 0 9 * * *", `unknown time zone "Mars/Olympus"`},
		{"CRON_TZ= 0 9 * * *", "time zone prefix has no zone"},
		{"CRON_TZ=Local 0 9 * * *", "time zone Local is not allowed: all instances must agree on the zone"},
		{"CRON_TZ=UTC", "nothing follows the time zone prefix"},
		{"CRON_TZ=UTC TZ=UTC 0 9 * * *", "more than one time zone prefix"},
		{"cron_tz=UTC 0 9 * * *", `second value "cron_tz=UTC" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := Parse(tt.spec, nil)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.spec, s)
			}
			if s != nil {
				t.Errorf("Parse(%q) returned a spec with its error", tt.spec)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			want := fmt.Sprintf("distcron: invalid schedule %q: %s", tt.spec, tt.want)
			if err.Error() != want {
				t.Errorf("error\n got %s\nwant %s", err, want)
			}
		})
	}
}
