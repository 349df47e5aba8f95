// Package mongosink stores distcron run records in a MongoDB collection
// and answers history queries.
//
// # Overview
//
// [New] takes the *mongo.Collection (go.mongodb.org/mongo-driver/v2) your
// program already has; the sink never disconnects its client.
//
//	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://db:27017"))
//	...
//	runs, err := mongosink.New(client.Database("ops").Collection("distcron_runs"),
//		mongosink.WithRetention(90*24*time.Hour))
//	...
//	sched, err := distcron.New(cli, distcron.WithSinks(runs))
//
// The scheduler writes through a [logsink.Delivery]: batches, retries with
// backoff while the server is down, and flushes on Stop. The sink
// implements [logsink.Querier] for the admin side: [Sink.Query] (filters,
// newest first, cursor pagination) and [Sink.Get] (one run with its
// output).
//
// It works with MongoDB 4.2 and later and with FerretDB (tested against
// FerretDB 1.24 with its SQLite backend, embedded in the tests). FerretDB
// 1.x has no TTL indexes; see Retention.
//
// # Idempotent writes
//
// A record's identity is (job, tick, shard, attempt, instance), a unique
// index ([IndexIdentity]). Each batch is one unordered InsertMany; the
// duplicate-key errors of records already stored count as success, so a
// batch retried after an ambiguous failure (the insert reached the server,
// the reply did not reach the client) is stored once, and several
// instances may share the collection.
//
// # Documents
//
// One document per record, with a driver-generated _id:
//
//	{
//	  job:         string,
//	  tick_ns:     long,    // the scheduled instant, exact: Unix nanoseconds
//	  shard:       long,
//	  attempt:     long,
//	  instance:    string,
//	  tick:        date,    // the scheduled instant, to the millisecond (TTL field)
//	  trigger:     string,  // schedule, manual, catchup, retry
//	  token:       long,    // fencing token (etcd revision)
//	  started:     date,
//	  finished:    date,
//	  duration_ns: long,
//	  status:      string,  // succeeded, failed, timeout, killed, skipped, lost
//	  exit_code:   long,
//	  error:       string,  // absent when empty
//	  output:      string,  // tail of a shell job's output; absent when empty
//	  steps: [             // pipeline jobs only
//	    {name, status, started: date, duration_ns, exit_code, error, output}
//	  ]
//	}
//
// Indexes: [IndexIdentity] (unique; also serves per-job history),
// [IndexTick] (tick_ns), [IndexStatus] (status, tick_ns), [IndexInstance]
// (instance, tick_ns), [IndexStarted] (started), and with retention
// [IndexTTL] (tick). They are created on the first Write or by
// [Sink.CreateIndexes], unless [WithCreateIndexes](false).
//
// BSON dates hold milliseconds: started, finished and the tick date are
// truncated to the millisecond. The tick, being the identity, is also
// stored exactly in tick_ns, which queries, sorting and Get use (ticks
// outside years 1678-2262 are clamped there and read back from the date).
//
// # Limits
//
// A record the server refused would block its pipeline for good, so Write
// cleans values instead: records are clipped with [logsink.Record.Clip]
// (at most [logsink.MaxRecordSteps] steps and [logsink.MaxRecordBytes], as
// a Pipeline already does), well under MongoDB's 16 MiB document limit;
// text becomes valid UTF-8 (bad bytes become U+FFFD), job and instance are
// cut to [MaxNameLen] characters, status and trigger to [MaxWordLen],
// output (its tail) and error (its head) to [MaxTextBytes].
//
// Should the server still refuse a document (a validator of your own, say),
// Write's error wraps [logsink.ErrPermanent] when every write error is a
// duplicate key, BadValue (2), DocumentValidationFailure (121),
// BSONObjectTooLarge (10334) or KeyTooLong (17280), without a write concern
// error, or the driver found a document too large to send; a Pipeline then
// drops that record and writes the others.
//
// # Retention
//
// [WithRetention] creates a TTL index on the tick date (or updates its
// expireAfterSeconds), and the server deletes expired records in the
// background. On servers without TTL indexes (FerretDB 1.x answers
// NotImplemented) the sink deletes expired records itself from Write, at
// most once per min(retention/10, 10 minutes). [Sink.Prune] deletes on
// demand. Without either, records are kept.
package mongosink
