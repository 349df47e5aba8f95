//go:build !linux

package distcron

import "time"

// sleepPrecisely sleeps d; outside Linux it is a plain time.Sleep.
func sleepPrecisely(d time.Duration) { time.Sleep(d) }
