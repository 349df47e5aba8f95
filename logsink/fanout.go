package logsink

import (
	"context"
	"errors"

	"github.com/distcron/distcron/internal/errtext"
)

// Fanout returns a Sink that writes each batch to every one of sinks, in
// order, one after the other. Nil sinks are ignored; with no sinks Write
// does nothing. Every sink receives the same batch slice, so none may modify
// it.
//
// Write calls every sink even when an earlier one fails and returns the
// errors.Join of the failures (each wrapped with the sink's position), or nil.
//
// A Delivery retries a failed batch as a whole, so a batch that fails on one
// sink is written again to all of them: the healthy sinks see duplicates,
// and one sink's outage stalls and fills the buffer for all. If one sink's
// error wraps [ErrPermanent], so does the joined error, and a Delivery drops
// the record that sink refuses (the others have it already). With the
// scheduler, prefer one Delivery per sink; use Fanout where a single Write
// is what you want, such as tests or sinks that cannot fail.
func Fanout(sinks ...Sink) Sink {
	f := make(fanout, 0, len(sinks))
	for _, s := range sinks {
		if s != nil {
			f = append(f, s)
		}
	}
	return f
}

type fanout []Sink

var _ Sink = fanout(nil)

func (f fanout) Write(ctx context.Context, batch []Record) error {
	var errs []error
	for i, s := range f {
		if err := s.Write(ctx, batch); err != nil {
			errs = append(errs, errtext.Errorf("distcron: fanout sink %d (%T): %w", i, s, err))
		}
	}
	return errors.Join(errs...)
}
