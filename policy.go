package distcron

// The overlap and misfire policies, and their text form ("forbid",
// "run_once"), which definitions use in JSON.

import (
	"encoding"
	"fmt"
)

// OverlapPolicy says what happens when a tick comes due while an earlier
// run of the same job is still in progress anywhere in the cluster. Its
// text form (String, MarshalText) is "allow", "forbid" or "replace".
type OverlapPolicy int

const (
	// OverlapAllow starts the new run regardless. It is the default.
	OverlapAllow OverlapPolicy = iota
	// OverlapForbid skips the tick and records it as skipped. The check is
	// cluster-wide and part of the claim itself, so it costs no extra round
	// trip. Forbid jobs are claimed at the tick, not ahead of it, so a run
	// that ends just before the tick does not block it.
	OverlapForbid
	// OverlapReplace kills the runs in progress (wherever they run) and then
	// starts the new one; it waits for them to end at most 10s.
	OverlapReplace
)

var overlapNames = []string{OverlapAllow: "allow", OverlapForbid: "forbid", OverlapReplace: "replace"}

// String returns "allow", "forbid" or "replace"; "OverlapPolicy(n)" for
// a value that is none of the three.
func (p OverlapPolicy) String() string {
	if p >= 0 && int(p) < len(overlapNames) {
		return overlapNames[p]
	}
	return fmt.Sprintf("OverlapPolicy(%d)", int(p))
}

// MarshalText returns the policy's name (see String); an unknown value is
// an error.
func (p OverlapPolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(overlapNames) {
		return nil, fmt.Errorf("overlap: unknown policy %d (want allow, forbid or replace)", int(p))
	}
	return []byte(overlapNames[p]), nil
}

// UnmarshalText reads "allow", "forbid" or "replace"; empty text means
// OverlapAllow. Other text is an error naming the field (overlap).
func (p *OverlapPolicy) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*p = OverlapAllow
		return nil
	}
	for i, name := range overlapNames {
		if string(text) == name {
			*p = OverlapPolicy(i)
			return nil
		}
	}
	return fmt.Errorf("overlap: unknown policy %q (want allow, forbid or replace)", text)
}

// MisfirePolicy says what happens to ticks that no instance claimed, for
// example because the whole cluster was down. Its text form (String,
// MarshalText) is "skip" or "run_once".
type MisfirePolicy int

const (
	// MisfireSkip forgets missed ticks, as cron does. It is the default.
	MisfireSkip MisfirePolicy = iota
	// MisfireRunOnce runs one catch-up run (trigger catchup) for the newest
	// missed tick, if it is within the job's starting deadline. It is
	// applied by the leader when it takes office; a backlog is never replayed.
	MisfireRunOnce
)

var misfireNames = []string{MisfireSkip: "skip", MisfireRunOnce: "run_once"}

// String returns "skip" or "run_once"; "MisfirePolicy(n)" for a value
// that is neither.
func (p MisfirePolicy) String() string {
	if p >= 0 && int(p) < len(misfireNames) {
		return misfireNames[p]
	}
	return fmt.Sprintf("MisfirePolicy(%d)", int(p))
}

// MarshalText returns the policy's name (see String); an unknown value is
// an error.
func (p MisfirePolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(misfireNames) {
		return nil, fmt.Errorf("misfire: unknown policy %d (want skip or run_once)", int(p))
	}
	return []byte(misfireNames[p]), nil
}

// UnmarshalText reads "skip" or "run_once"; empty text means MisfireSkip.
// Other text is an error naming the field (misfire).
func (p *MisfirePolicy) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*p = MisfireSkip
		return nil
	}
	for i, name := range misfireNames {
		if string(text) == name {
			*p = MisfirePolicy(i)
			return nil
		}
	}
	return fmt.Errorf("misfire: unknown policy %q (want skip or run_once)", text)
}

var (
	_ encoding.TextMarshaler   = OverlapPolicy(0)
	_ encoding.TextUnmarshaler = (*OverlapPolicy)(nil)
	_ encoding.TextMarshaler   = MisfirePolicy(0)
	_ encoding.TextUnmarshaler = (*MisfirePolicy)(nil)
)
