// Package logsink carries run records from the scheduler to storage.
//
// # Overview
//
// Every run attempt produces one [Record]. The scheduler hands records to a
// [Delivery], one per configured [Sink]. The delivery buffers records in
// memory, groups them into batches and calls [Sink.Write] from a single
// background goroutine, so a slow or unreachable sink never slows the
// scheduler down.
//
// This package holds the [Sink] interface, the [Delivery], and the sinks
// that need no driver: [NewJSON] (one JSON object per line, for example on
// os.Stdout), [NewZap] (one structured log entry per record), [Fanout] and
// [Discard]. Durable sinks (MongoDB, SQL) live in their own packages so a
// program that imports only logsink links no database driver.
//
// # Batching
//
// A batch is written when it reaches the batch size or when the flush
// interval has passed since the first record of the batch was buffered,
// whichever comes first. Records reach the sink in the order they were sent
// (FIFO), so the records of one job arrive in order (see Poison records for
// the one exception).
//
// # Failure modes
//
// When Write returns an error the delivery retries with exponential backoff
// and jitter, for as long as it takes, while new records keep buffering. The
// buffer is bounded by records and by bytes: once it holds BufferSize
// records ([WithBufferSize], 65,536 by default) or a record would take it
// beyond BufferBytes ([WithBufferBytes], 32 MiB by default, counted by
// [Record.Size]), the batch being retried included, further records are
// dropped (the newest are dropped, records already buffered keep their
// place), counted in [DeliveryStats.Dropped] and reported through the
// delivery's logger at most once per second. A sink may see the same
// records more than once; durable sinks should write idempotently on the
// record identity.
//
// # Clipping
//
// [Delivery.Send] clips each record with [Record.Clip] to at most
// [MaxRecordSteps] steps (100: the first and last 50) and [MaxRecordBytes]
// (1 MiB), limits that MongoDB, MySQL and MariaDB with their default
// packet sizes, PostgreSQL and SQLite all store with a margin. Texts are
// cut at [ClipMark] and a note starting with [ClipNote] is appended to the
// record's Error. [DeliveryStats.Clipped] counts clipped records.
//
// # Poison records
//
// A record the sink refuses whenever it is in the batch would otherwise be
// retried forever and block every later record. The delivery isolates it:
// a batch that failed three times in a row is split in half (the first
// half is written first, the second after it), and halves again, down to a
// single record. A single record is dropped, counted in
// [DeliveryStats.Rejected] and [DeliveryStats.Dropped] and logged at Error
// level with its job, tick, shard, attempt, instance and the error, when:
//
//   - the sink's error wraps [ErrPermanent] (the sink says the record can
//     never be stored; the delivery then also splits at once, without
//     waiting), or
//   - it failed alone five times in a row, then the sink accepted another
//     pending record (the probe: the next one, taken from the buffer if
//     need be), and right after that it failed once more.
//
// The records around it flow on. A sink that is down fails the probe as
// well, so an outage alone drops nothing: with nothing else to write, a
// suspect is retried with backoff until later records arrive to probe
// with. The one cost of probing is order: if an outage long enough to
// bring the batch down to single records (some thirty writes, minutes with
// the default backoff) ends just as a probe is written, the probe record
// reaches the sink before the suspect, which follows at once.
//
// # Shutdown
//
// [Delivery.Stop] stops accepting records, writes everything buffered
// (still retrying with backoff) and returns nil once all of it was
// delivered. If its context ends first, the records not delivered are
// counted as dropped and Stop returns an error wrapping [ErrUndelivered] and
// the context's error.
//
// # History
//
// Sinks that can be read implement the optional interfaces Querier (runs
// filtered by job, status, instance and tick range, newest first, with
// cursor pagination; one run by identity) and Summarizer (counts by job and
// status over a range). The SQL and MongoDB sinks implement both;
// package sinktest checks any sink against them.
//
// # Logging vs run records
//
// Run records go to sinks. The delivery's logger (see [WithLogger]) only
// reports on the delivery itself: write failures, recoveries and drops.
// [NewZap] is the exception by design: a sink that turns records into log
// entries.
package logsink
