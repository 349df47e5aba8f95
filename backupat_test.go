package distcron

import (
	"testing"
	"time"
)

// Backups check ticks on a grid of a quarter of the backup delay, so
// checks of ticks close together share one read: never later than the
// delay (the chaos checker's attempt span relies on it), at most a quarter
// of it earlier, and the same instant for ticks within one grid step.
func TestBackupChecksShareAGrid(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	d := s.backupDelay()
	grid := d / 4
	base := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	for _, off := range []time.Duration{0, time.Microsecond, grid / 3, grid - time.Nanosecond, grid, 7*grid + 1} {
		tick := base.Add(off)
		at := s.backupAt(tick)
		if !at.After(tick.Add(d-grid)) || at.After(tick.Add(d)) {
			t.Errorf("tick +%v: backup at %v after the tick, want within (%v, %v]", off, at.Sub(tick), d-grid, d)
		}
		if !at.Equal(at.Truncate(grid)) {
			t.Errorf("tick +%v: backup at %v, not on the %v grid", off, at, grid)
		}
	}
	if a, b := s.backupAt(base.Add(time.Microsecond)), s.backupAt(base.Add(grid-time.Microsecond)); !a.Equal(b) {
		t.Errorf("ticks in one grid step back up at %v and %v, want one instant", a, b)
	}
}
