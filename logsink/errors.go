package logsink

import "errors"

// ErrInvalidOption is returned, wrapped with the offending value, by
// [NewPipeline] when an option is out of range or the sink is nil.
var ErrInvalidOption = errors.New("distcron: invalid pipeline option")

// ErrUndelivered is returned, wrapped together with the context's error and
// the number of records lost, by [Pipeline.Stop] when its context ends before
// every buffered record was written.
var ErrUndelivered = errors.New("distcron: run records not delivered")

// ErrNotFound is returned, possibly wrapped, by [Querier.Get] when no
// record has the requested identity.
var ErrNotFound = errors.New("distcron: run record not found")

// ErrBadCursor is returned, wrapped, by [Querier.Query] and
// [DecodeCursor] when a cursor was not made by [EncodeCursor] (or was
// altered).
var ErrBadCursor = errors.New("distcron: invalid history cursor")
