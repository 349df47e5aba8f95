package distcron

import (
	"errors"
	"testing"
	"time"
)

func TestPreviewSchedule(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("a", WithRemoteScheduleFloor(time.Second))
	p, err := s.PreviewSchedule("@every 1h", "", 3)
	if err != nil || len(p.Next) != 3 || p.Location != time.UTC || p.Next[1].Sub(p.Next[0]) != time.Hour || !p.Next[0].After(time.Now()) {
		t.Fatalf("@every 1h: %+v, %v", p, err)
	}
	p, err = s.PreviewSchedule("CRON_TZ=Europe/Berlin 0 6 * * *", "Asia/Tokyo", 0)
	if err != nil || len(p.Next) != 1 || p.Location.String() != "Europe/Berlin" || p.Next[0].Hour() != 6 {
		t.Fatalf("CRON_TZ: %+v, %v", p, err)
	}
	p, err = s.PreviewSchedule("30 7 * * *", "America/New_York", 1000)
	if err != nil || len(p.Next) != MaxPreview || p.Next[0].Hour() != 7 || p.Next[0].Location().String() != "America/New_York" {
		t.Fatalf("zone: %d times, %v", len(p.Next), err)
	}
	if p, err := s.PreviewSchedule("0 0 1 1 * 2020", "", 5); err == nil || len(p.Next) != 0 {
		t.Errorf("a schedule in the past: %+v, %v", p, err)
	}
	for _, c := range []struct {
		spec, zone string
		want       error
	}{
		{"every second", "", ErrInvalidSpec},
		{"@every 1m", "Mars/Olympus", ErrInvalidDefinition},
		{"@every 1m", "Local", ErrInvalidDefinition},
		{"@every 100ms", "", ErrInvalidDefinition},
	} {
		if _, err := s.PreviewSchedule(c.spec, c.zone, 5); !errors.Is(err, c.want) {
			t.Errorf("PreviewSchedule(%q, %q) = %v, want %v", c.spec, c.zone, err, c.want)
		}
	}
}
