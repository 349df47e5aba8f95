package logsink

import (
	"context"
	"sync/atomic"
)

// Discard is a Sink that drops every record and counts them. The zero value
// is ready to use; it is safe for concurrent use. Use it in benchmarks or to
// switch record delivery off.
type Discard struct {
	n atomic.Uint64
}

var _ Sink = (*Discard)(nil)

// Write counts batch and returns nil. It never blocks.
func (d *Discard) Write(_ context.Context, batch []Record) error {
	d.n.Add(uint64(len(batch)))
	return nil
}

// Records returns how many records Write has received.
func (d *Discard) Records() uint64 { return d.n.Load() }
