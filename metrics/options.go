package metrics

import (
	"fmt"
	"slices"
	"time"
)

// Default buckets and timeout of a Collector.
var (
	// DefaultDurationBuckets are the buckets of distcron_run_duration_seconds:
	// 5ms to 1h, for jobs from quick funcs to long batch work.
	DefaultDurationBuckets = []float64{
		0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
		60, 120, 300, 600, 1800, 3600,
	}
	// DefaultLatenessBuckets are the buckets of distcron_fire_lateness_seconds:
	// 100µs to 10s, fine-grained where a healthy cluster fires.
	DefaultLatenessBuckets = []float64{
		0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
		0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
)

// DefaultInstancesTimeout bounds the etcd read behind
// distcron_live_instances during one scrape.
const DefaultInstancesTimeout = time.Second

// Option configures a Collector. New panics on an invalid option, as the
// prometheus constructors do for invalid buckets: options are fixed by the
// program, not by its input.
type Option func(*config)

type config struct {
	durationBuckets  []float64
	latenessBuckets  []float64
	instancesTimeout time.Duration
}

func defaultConfig() config {
	return config{
		durationBuckets:  slices.Clone(DefaultDurationBuckets),
		latenessBuckets:  slices.Clone(DefaultLatenessBuckets),
		instancesTimeout: DefaultInstancesTimeout,
	}
}

// WithDurationBuckets sets the upper bounds (in seconds, strictly
// increasing, at least one) of distcron_run_duration_seconds. Default
// DefaultDurationBuckets.
func WithDurationBuckets(bounds ...float64) Option {
	return func(c *config) { c.durationBuckets = append([]float64(nil), bounds...) }
}

// WithLatenessBuckets sets the upper bounds (in seconds, strictly
// increasing, at least one) of distcron_fire_lateness_seconds. Default
// DefaultLatenessBuckets.
func WithLatenessBuckets(bounds ...float64) Option {
	return func(c *config) { c.latenessBuckets = append([]float64(nil), bounds...) }
}

// WithInstancesTimeout bounds the etcd read that counts live instances
// during a scrape; when it fails or times out, distcron_live_instances is
// left out of that scrape and distcron_scrape_errors_total grows. Must be
// positive. Default DefaultInstancesTimeout (1s).
func WithInstancesTimeout(d time.Duration) Option {
	return func(c *config) { c.instancesTimeout = d }
}

func (c *config) validate() error {
	for _, b := range []struct {
		name   string
		bounds []float64
	}{{"duration", c.durationBuckets}, {"lateness", c.latenessBuckets}} {
		if len(b.bounds) == 0 {
			return fmt.Errorf("distcron: invalid metrics option: no %s buckets", b.name)
		}
		for i := 1; i < len(b.bounds); i++ {
			if !(b.bounds[i] > b.bounds[i-1]) {
				return fmt.Errorf("distcron: invalid metrics option: %s buckets %v are not strictly increasing", b.name, b.bounds)
			}
		}
	}
	if c.instancesTimeout <= 0 {
		return fmt.Errorf("distcron: invalid metrics option: instances timeout %v must be positive", c.instancesTimeout)
	}
	return nil
}
