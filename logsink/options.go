package logsink

import (
	"fmt"
	"time"

	"github.com/distcron/distcron/internal/stderrlog"
	"go.uber.org/zap"
)

// Delivery defaults.
const (
	DefaultBatchSize     = 256
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultBufferSize    = 65536
	// DefaultBufferBytes (32 MiB) holds about 500 records with 64 KiB of
	// output, or DefaultBufferSize small ones.
	DefaultBufferBytes    = 32 << 20
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
)

// DeliveryOption configures a [Delivery]. [NewDelivery] validates the result
// and rejects out-of-range values with an error wrapping [ErrInvalidOption];
// nothing is clamped silently.
type DeliveryOption func(*deliveryConfig)

type deliveryConfig struct {
	batchSize      int
	flushInterval  time.Duration
	bufferSize     int
	bufferBytes    int
	backoffInitial time.Duration
	backoffMax     time.Duration
	writeTimeout   time.Duration
	logger         *zap.Logger
}

func defaultDeliveryConfig() deliveryConfig {
	return deliveryConfig{
		batchSize:      DefaultBatchSize,
		flushInterval:  DefaultFlushInterval,
		bufferSize:     DefaultBufferSize,
		bufferBytes:    DefaultBufferBytes,
		backoffInitial: DefaultBackoffInitial,
		backoffMax:     DefaultBackoffMax,
		writeTimeout:   DefaultWriteTimeout,
		logger:         stderrlog.New(),
	}
}

func (c *deliveryConfig) validate() error {
	switch {
	case c.batchSize <= 0:
		return fmt.Errorf("%w: batch size %d, want > 0", ErrInvalidOption, c.batchSize)
	case c.bufferSize <= 0:
		return fmt.Errorf("%w: buffer size %d, want > 0", ErrInvalidOption, c.bufferSize)
	case c.bufferBytes < MaxRecordBytes:
		return fmt.Errorf("%w: buffer bytes %d, want at least MaxRecordBytes (%d)", ErrInvalidOption, c.bufferBytes, MaxRecordBytes)
	case c.batchSize > c.bufferSize:
		return fmt.Errorf("%w: batch size %d exceeds buffer size %d", ErrInvalidOption, c.batchSize, c.bufferSize)
	case c.flushInterval <= 0:
		return fmt.Errorf("%w: flush interval %v, want > 0", ErrInvalidOption, c.flushInterval)
	case c.backoffInitial <= 0:
		return fmt.Errorf("%w: initial backoff %v, want > 0", ErrInvalidOption, c.backoffInitial)
	case c.backoffMax < c.backoffInitial:
		return fmt.Errorf("%w: max backoff %v below initial backoff %v", ErrInvalidOption, c.backoffMax, c.backoffInitial)
	case c.writeTimeout <= 0:
		return fmt.Errorf("%w: write timeout %v, want > 0", ErrInvalidOption, c.writeTimeout)
	}
	return nil
}

// WithBatchSize sets the largest number of records per Write call; a batch
// that reaches it is written at once. Default 256 ([DefaultBatchSize]).
// Must be > 0 and at most the buffer size.
func WithBatchSize(n int) DeliveryOption {
	return func(c *deliveryConfig) { c.batchSize = n }
}

// WithFlushInterval sets how long a record may wait for its batch to fill
// before the batch is written anyway, measured from when the delivery's
// goroutine sees the first record of the batch. Default 200ms
// ([DefaultFlushInterval]). Must be > 0.
func WithFlushInterval(d time.Duration) DeliveryOption {
	return func(c *deliveryConfig) { c.flushInterval = d }
}

// WithBufferSize sets how many records the delivery holds at most, the batch
// being written or retried included; Send drops records beyond it. Memory
// grows with use up to this bound and the byte bound ([WithBufferBytes]),
// whichever is reached first. Default 65536 ([DefaultBufferSize]). Must be
// > 0 and at least the batch size.
func WithBufferSize(n int) DeliveryOption {
	return func(c *deliveryConfig) { c.bufferSize = n }
}

// WithBufferBytes sets how many bytes of records the delivery holds at
// most, the batch being written or retried included, counted by
// [Record.Size] after clipping; Send drops a record that would take the
// buffer beyond it (counted in [DeliveryStats.Dropped] and logged, like
// the records beyond [WithBufferSize]). Default 32 MiB
// ([DefaultBufferBytes]). Must be at least [MaxRecordBytes], so that any
// record fits in an empty buffer.
func WithBufferBytes(n int) DeliveryOption {
	return func(c *deliveryConfig) { c.bufferBytes = n }
}

// WithBackoff sets the wait before retrying a failed Write: initial after
// the first failure, doubling after each further failure up to max, each
// wait randomized to between half and all of its nominal value. Defaults
// 100ms and 10s ([DefaultBackoffInitial], [DefaultBackoffMax]). initial must
// be > 0 and max >= initial.
func WithBackoff(initial, max time.Duration) DeliveryOption {
	return func(c *deliveryConfig) { c.backoffInitial, c.backoffMax = initial, max }
}

// WithLogger sets the logger for the delivery's own events (write failures,
// recoveries, drops), named "logsink" under it, with the sink's Go type in
// the field "sink". The default prints warnings and errors (write failures,
// drops) to standard error; nil means the default; zap.NewNop() quiets it.
func WithLogger(l *zap.Logger) DeliveryOption {
	return func(c *deliveryConfig) { c.logger = stderrlog.Or(l) }
}

// WithWriteTimeout bounds each Write call: its context is cancelled after d
// and an unfinished call counts as a failure and is retried. Default 10s
// ([DefaultWriteTimeout]). Must be > 0.
func WithWriteTimeout(d time.Duration) DeliveryOption {
	return func(c *deliveryConfig) { c.writeTimeout = d }
}
