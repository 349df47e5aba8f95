package clip

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Valid("a\x00b\xff", true); got != "a\uFFFDb\uFFFD" {
		t.Fatalf("Valid with nul = %q", got)
	}
	if got := Valid("a\x00b\xff", false); got != "a\x00b\uFFFD" {
		t.Fatalf("Valid without nul = %q", got)
	}
	if got := Name("héllo", 2); got != "hé" {
		t.Fatalf("Name = %q", got)
	}
	long := strings.Repeat("é", 10) // 20 bytes
	if got := Text(long, true, 5); got != "éé" || !utf8.ValidString(got) {
		t.Fatalf("tail = %q", got)
	}
	if got := Text(long, false, 5); got != "éé" {
		t.Fatalf("head = %q", got)
	}
	if TickNS(time.Time{}) != math.MinInt64 || TickNS(time.Unix(1, 5)) != 1_000_000_005 || TickNS(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)) != math.MaxInt64 {
		t.Fatal("TickNS clamps")
	}
}
