// Package logsink carries run records from the scheduler to storage.
//
// # Overview
//
// Every run attempt produces one [Record]. The scheduler hands records to a
// [Pipeline], one per configured [Sink]. The pipeline buffers records in
// memory, groups them into batches and calls [Sink.Write] from a single
// background goroutine, so a slow or unreachable sink never slows the
// scheduler down.
//
// This package holds the [Sink] interface, the [Pipeline], and the sinks
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
// (FIFO), so the records of one job arrive in order.
//
// # Failure modes
//
// When Write returns an error the pipeline retries the same batch with
// exponential backoff and jitter, for as long as it takes, while new records
// keep buffering. The buffer is bounded: once it holds BufferSize records
// (the batch being retried included), further records are dropped (the
// newest are dropped, records already buffered keep their place), counted in
// [PipelineStats.Dropped] and reported through the pipeline's logger at most
// once per second. A sink may therefore see the same batch more than once;
// durable sinks should write idempotently on the record identity.
//
// # Shutdown
//
// [Pipeline.Stop] stops accepting records, writes everything buffered
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
// Run records go to sinks. The pipeline's logger (see [WithLogger]) only
// reports on the pipeline itself: write failures, recoveries and drops.
// [NewZap] is the exception by design: a sink that turns records into log
// entries.
package logsink
