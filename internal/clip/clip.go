// Package clip makes run-record values storable by the durable sinks:
// valid UTF-8, bounded lengths, and tick identities as int64 nanoseconds.
// Values are cut, never refused: a record a database rejects would block
// its pipeline forever.
package clip

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	minTick = time.Unix(0, math.MinInt64)
	maxTick = time.Unix(0, math.MaxInt64)
)

// TickNS returns a tick's identity value: its Unix time in nanoseconds,
// clamped to the int64 range (years 1677 to 2262).
func TickNS(t time.Time) int64 {
	switch {
	case t.Before(minTick):
		return math.MinInt64
	case t.After(maxTick):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Valid replaces invalid UTF-8, and NUL bytes when nul is true, with U+FFFD.
func Valid(s string, nul bool) string {
	if utf8.ValidString(s) && (!nul || strings.IndexByte(s, 0) < 0) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if nul {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// Name keeps at most max characters (runes) of valid UTF-8 s.
func Name(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i]
		}
		n++
	}
	return s
}

// Text keeps at most max bytes of valid UTF-8 s: its end when tail is true
// (output tails), else its start (errors), never splitting a character.
func Text(s string, tail bool, max int) string {
	if len(s) <= max {
		return s
	}
	if tail {
		i := len(s) - max
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		return s[i:]
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
