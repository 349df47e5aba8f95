package logsink

import "errors"

// ErrInvalidOption is returned, wrapped with the offending value, by
// [NewDelivery] when an option is out of range or the sink is nil.
var ErrInvalidOption = errors.New("distcron: invalid delivery option")

// ErrUndelivered is returned, wrapped together with the context's error and
// the number of records lost, by [Delivery.Stop] when its context ends before
// every buffered record was written.
var ErrUndelivered = errors.New("distcron: run records not delivered")

// ErrNotFound is returned, possibly wrapped, by [Querier.Get] when no
// record has the requested identity.
var ErrNotFound = errors.New("distcron: run record not found")

// ErrBadCursor is returned, wrapped, by [Querier.Query] and
// [DecodeCursor] when a cursor was not made by [EncodeCursor] (or was
// altered).
var ErrBadCursor = errors.New("distcron: invalid history cursor")

// ErrPermanent is wrapped by a [Sink]'s Write error when the write failed
// because of the records themselves (too large, not encodable, refused by
// a constraint), not because the sink is unavailable: writing the same
// records again would fail the same way. A [Delivery] then splits the
// batch at once, without waiting, and drops the record that fails alone
// (see "Poison records" in the package documentation). A sink must not
// wrap it around an error that may be transient (timeouts, lost
// connections, a full disk), or it loses records during an outage.
var ErrPermanent = errors.New("distcron: run record cannot be stored")
