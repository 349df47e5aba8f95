package main

import (
	"testing"
	"time"

	"github.com/distcron/distcron"
)

func TestClockOffsetColumn(t *testing.T) {
	for _, tc := range []struct {
		in   *distcron.ClockEstimate
		want string
	}{
		{nil, "-"},
		{&distcron.ClockEstimate{}, "-"},
		{&distcron.ClockEstimate{Offset: 2003456789, Error: 5123456, Correction: 2003456789, Peers: 2}, "+2s ±5.1ms (following the median)"},
		{&distcron.ClockEstimate{Offset: -1512345678, Error: 4 * time.Millisecond, Correction: -1512345678, Peers: 2}, "-1.51s ±4ms (following the median)"},
		{&distcron.ClockEstimate{Offset: 3210 * time.Microsecond, Error: 2 * time.Millisecond, Peers: 1}, "+3.2ms ±2ms"},
		{&distcron.ClockEstimate{Peers: 2}, "0s ±0s"},
	} {
		if got := clockOffset(tc.in); got != tc.want {
			t.Errorf("clockOffset(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
