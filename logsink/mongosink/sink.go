package mongosink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/retention"
	"github.com/distcron/distcron/internal/stderrlog"
	"github.com/distcron/distcron/logsink"
)

// Index names the sink creates.
const (
	IndexIdentity = "distcron_identity" // unique: job, tick_ns, shard, attempt, instance
	IndexTick     = "distcron_tick"     // tick_ns
	IndexStatus   = "distcron_status"   // status, tick_ns
	IndexInstance = "distcron_instance" // instance, tick_ns
	IndexStarted  = "distcron_started"  // started
	IndexTTL      = "distcron_ttl"      // tick, expireAfterSeconds (with WithRetention)
)

// Server error codes the sink handles.
const (
	codeDuplicateKey         = 11000
	codeIndexOptionsConflict = 85
	codeNotImplemented       = 238 // FerretDB 1.x: TTL indexes
	codeNamespaceNotFound    = 26
)

// Option configures a [Sink].
type Option func(*config)

type config struct {
	retention time.Duration
	create    bool
	log       *zap.Logger
}

// WithRetention keeps records for d after their Tick. The sink creates a
// TTL index on the tick field (expireAfterSeconds: d rounded up to a
// second), or updates the TTL of an existing one; the server then deletes
// expired records in the background (MongoDB checks once a minute). On
// servers without TTL indexes (FerretDB 1.x), Write deletes expired
// records itself after a batch, at most once per min(d/10, 10m), spending
// at most a second each time. Default 0: keep every record (an existing
// TTL index is left alone: drop [IndexTTL] to stop expiry). d must be 0 or
// at least a second.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithCreateIndexes sets whether the sink creates its indexes (and the TTL
// index of [WithRetention]) before its first write. Default true. Without
// the unique identity index, retried batches store duplicates.
func WithCreateIndexes(create bool) Option { return func(c *config) { c.create = create } }

// WithLogger sets the logger for what the sink cannot return as an error:
// pruning failures and a missing TTL index feature. The default prints
// warnings and errors to standard error; nil means the default;
// zap.NewNop() quiets it. The sink logs under the name "mongosink".
func WithLogger(l *zap.Logger) Option { return func(c *config) { c.log = stderrlog.Or(l) } }

// Sink stores run records as documents of a MongoDB collection and answers
// history queries. It works with MongoDB 4.2 or later and with servers
// speaking its protocol, such as FerretDB.
//
// Writes are idempotent on the record identity (Job, Tick, Shard, Attempt,
// Instance), enforced by a unique index: a batch is inserted unordered and
// duplicate-key errors count as success, so a batch retried after an
// ambiguous failure is stored once.
//
// A Sink is safe for concurrent use; several Sinks (in one process or many)
// may share a collection. It never closes or disconnects what it was given.
type Sink struct {
	coll *mongo.Collection
	cfg  config
	log  *zap.Logger

	initMu sync.Mutex // serializes index creation (FerretDB 1.x panics on concurrent createIndexes)

	mu        sync.Mutex
	ready     bool // indexes created (or creation off)
	selfPrune bool // retention without a TTL index
	pruner    retention.Pruner
}

var (
	_ logsink.Sink    = (*Sink)(nil)
	_ logsink.Querier = (*Sink)(nil)
)

// New returns a sink writing to coll. It only validates: it does no I/O,
// so it succeeds while the server is down; the indexes are created on the
// first Write (or by [Sink.CreateIndexes]). It returns an error wrapping
// [ErrInvalidOption] if coll is nil or an option is out of range.
func New(coll *mongo.Collection, opts ...Option) (*Sink, error) {
	if coll == nil {
		return nil, fmt.Errorf("%w: nil *mongo.Collection", ErrInvalidOption)
	}
	cfg := config{create: true, log: stderrlog.New()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.retention < 0 || cfg.retention > 0 && cfg.retention < time.Second {
		return nil, fmt.Errorf("%w: retention %v, want 0 or at least 1s", ErrInvalidOption, cfg.retention)
	}
	s := &Sink{
		coll:  coll,
		cfg:   cfg,
		log:   cfg.log.Named("mongosink").With(zap.String("collection", coll.Database().Name()+"."+coll.Name())),
		ready: !cfg.create,
	}
	s.pruner.Retention, s.pruner.Log, s.pruner.Prune = cfg.retention, s.log, s.prune
	return s, nil
}

// CreateIndexes creates the sink's indexes that do not exist yet (it lists
// them first), and with [WithRetention] the TTL index (changing the TTL of
// an existing one). It is idempotent and safe to call from several
// processes at once; calls on one Sink run one at a time. It blocks on
// the server, bounded by ctx. Write calls it once by itself unless
// [WithCreateIndexes](false).
//
// FerretDB 1.24 may drop the connection when several clients create the
// indexes of a new collection at the same moment (a server bug); the
// call then fails, and a retry (the pipeline's, for Write) succeeds.
func (s *Sink) CreateIndexes(ctx context.Context) error {
	s.initMu.Lock()
	defer s.initMu.Unlock()
	return s.createIndexes(ctx)
}

func (s *Sink) createIndexes(ctx context.Context) error {
	have, err := s.indexNames(ctx)
	if err != nil {
		return fmt.Errorf("mongosink: list indexes: %w", err)
	}
	desc := bson.D{{Key: "tick_ns", Value: -1}}
	all := []struct {
		name string
		keys bson.D
	}{
		{IndexIdentity, bson.D{{Key: "job", Value: 1}, {Key: "tick_ns", Value: 1}, {Key: "shard", Value: 1}, {Key: "attempt", Value: 1}, {Key: "instance", Value: 1}}},
		{IndexTick, desc},
		{IndexStatus, append(bson.D{{Key: "status", Value: 1}}, desc...)},
		{IndexInstance, append(bson.D{{Key: "instance", Value: 1}}, desc...)},
		{IndexStarted, bson.D{{Key: "started", Value: -1}}},
	}
	var missing []mongo.IndexModel
	for _, ix := range all {
		if !have[ix.name] {
			o := options.Index().SetName(ix.name)
			if ix.name == IndexIdentity {
				o.SetUnique(true)
			}
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: o})
		}
	}
	if len(missing) > 0 {
		if _, err := s.coll.Indexes().CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("mongosink: create indexes: %w", err)
		}
	}
	if s.cfg.retention == 0 {
		return nil
	}
	secs := int32(min(math.Ceil(s.cfg.retention.Seconds()), math.MaxInt32))
	ttl := mongo.IndexModel{Keys: bson.D{{Key: "tick", Value: 1}}, Options: options.Index().SetName(IndexTTL).SetExpireAfterSeconds(secs)}
	_, err = s.coll.Indexes().CreateOne(ctx, ttl)
	switch {
	case err == nil:
		s.setSelfPrune(false)
		return nil
	case hasCode(err, codeNotImplemented):
		s.log.Info("the server has no TTL indexes: the sink deletes expired records itself", zap.Error(err))
		s.setSelfPrune(true)
		return nil
	case hasCode(err, codeIndexOptionsConflict):
		// The TTL index exists with another expireAfterSeconds.
		err = s.coll.Database().RunCommand(ctx, bson.D{
			{Key: "collMod", Value: s.coll.Name()},
			{Key: "index", Value: bson.D{{Key: "name", Value: IndexTTL}, {Key: "expireAfterSeconds", Value: secs}}},
		}).Err()
		if err == nil {
			s.setSelfPrune(false)
			return nil
		}
	}
	return fmt.Errorf("mongosink: create TTL index: %w", err)
}

// indexNames returns the names of the collection's indexes (none if the
// collection does not exist).
func (s *Sink) indexNames(ctx context.Context) (map[string]bool, error) {
	specs, err := s.coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		if hasCode(err, codeNamespaceNotFound) {
			return nil, nil
		}
		return nil, err
	}
	names := make(map[string]bool, len(specs))
	for _, sp := range specs {
		names[sp.Name] = true
	}
	return names, nil
}

func (s *Sink) setSelfPrune(v bool) {
	s.mu.Lock()
	s.selfPrune = v
	s.mu.Unlock()
}

func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

func (s *Sink) ensureIndexes(ctx context.Context) error {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if ready {
		return nil
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	s.mu.Lock()
	ready = s.ready // another Write may have created them meanwhile
	s.mu.Unlock()
	if ready {
		return nil
	}
	if err := s.createIndexes(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	return nil
}

// Write inserts batch with one unordered InsertMany (the driver splits
// very large batches) and returns nil once every record is stored: newly,
// or already by an earlier write (a duplicate-key error is success). It
// blocks on the server, bounded by ctx; after an error, writing the batch
// again is safe. An empty batch does nothing. When the server refuses
// documents for what they are (too large, refused by a validator; see the
// package documentation, Limits), the error wraps [logsink.ErrPermanent].
//
// Records are clipped with [logsink.Record.Clip] (a no-op for those a
// Pipeline hands over). Strings are stored as valid UTF-8 (bad bytes become
// U+FFFD) and cut to [MaxNameLen], [MaxWordLen] and [MaxTextBytes]. Times
// are BSON dates, to the millisecond; the Tick is also stored exactly, in
// nanoseconds.
func (s *Sink) Write(ctx context.Context, batch []logsink.Record) error {
	if len(batch) == 0 {
		return nil
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return err
	}
	docs := make([]any, len(batch))
	for i := range batch {
		r, _ := batch[i].Clip()
		docs[i] = document(&r)
	}
	_, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		if ctx.Err() == nil && permanent(err) {
			err = fmt.Errorf("%w: %w", logsink.ErrPermanent, err)
		}
		return errtext.Errorf("mongosink: insert %d records: %w", len(batch), err)
	}
	s.autoPrune(ctx)
	return nil
}

// onlyDuplicates reports whether err says that every record not inserted
// was a duplicate of a stored one.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != codeDuplicateKey {
			return false
		}
	}
	return true
}

// autoPrune prunes after a write when the sink deletes expired records
// itself (no TTL index).
func (s *Sink) autoPrune(ctx context.Context) {
	s.mu.Lock()
	self := s.selfPrune
	s.mu.Unlock()
	if self {
		s.pruner.AfterWrite(ctx)
	}
}

// Prune deletes the records whose Tick is before before, with one
// DeleteMany, and returns how many it deleted. It blocks on the server,
// bounded by ctx. Use it to prune on your own schedule, or where TTL
// indexes are not available.
func (s *Sink) Prune(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.prune(ctx, before)
	if err != nil {
		return n, fmt.Errorf("mongosink: prune: %w", err)
	}
	return n, nil
}

func (s *Sink) prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "tick_ns", Value: bson.D{{Key: "$lt", Value: tickNS(before)}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// Query returns one page of records matching q, newest Tick first; records
// of one tick are ordered by job, shard, attempt and instance, descending
// (strings in byte order). It blocks on the server, bounded by ctx, and is
// safe for concurrent use. An invalid cursor is an error wrapping
// [logsink.ErrBadCursor].
func (s *Sink) Query(ctx context.Context, q logsink.Query) (logsink.Page, error) {
	limit := q.PageLimit()
	filter := queryFilter(q)
	if q.Cursor != "" {
		c, err := logsink.DecodeCursor(q.Cursor)
		if err != nil {
			return logsink.Page{}, fmt.Errorf("mongosink: query: %w", err)
		}
		// Documents strictly after the cursor in the sort order: equal on
		// a prefix of the sort keys, less on the next one.
		id := identity(c)
		keys := bson.D{id[1], id[0], id[2], id[3], id[4]} // tick_ns, job, shard, attempt, instance
		or := make(bson.A, len(keys))
		for i := range keys {
			clause := append(bson.D{}, keys[:i]...)
			or[i] = append(clause, bson.E{Key: keys[i].Key, Value: bson.D{{Key: "$lt", Value: keys[i].Value}}})
		}
		filter = append(filter, bson.E{Key: "$or", Value: or})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "tick_ns", Value: -1}, {Key: "job", Value: -1}, {Key: "shard", Value: -1}, {Key: "attempt", Value: -1}, {Key: "instance", Value: -1}}).
		SetLimit(int64(limit + 1))
	if q.OmitOutput {
		opts.SetProjection(bson.D{{Key: "output", Value: 0}})
	}
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return logsink.Page{}, fmt.Errorf("mongosink: query: %w", err)
	}
	var docs []stored
	if err := cur.All(ctx, &docs); err != nil {
		return logsink.Page{}, fmt.Errorf("mongosink: query: %w", err)
	}
	var page logsink.Page
	for i := range docs {
		if i == limit {
			page.Next = logsink.EncodeCursor(page.Records[limit-1].ID())
			break
		}
		page.Records = append(page.Records, docs[i].record(q.OmitOutput))
	}
	return page, nil
}

// Get returns the record with identity id, Output included, or an error
// wrapping [logsink.ErrNotFound]. It blocks on the server, bounded by ctx,
// and is safe for concurrent use.
func (s *Sink) Get(ctx context.Context, id logsink.RecordID) (logsink.Record, error) {
	var d stored
	err := s.coll.FindOne(ctx, identity(id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return logsink.Record{}, fmt.Errorf("%w: job %s tick %s shard %d attempt %d instance %s",
			logsink.ErrNotFound, errtext.Name(id.Job), id.Tick.UTC().Format(time.RFC3339Nano), id.Shard, id.Attempt, errtext.Name(id.Instance))
	}
	if err != nil {
		return logsink.Record{}, fmt.Errorf("mongosink: get: %w", err)
	}
	return d.record(false), nil
}

// queryFilter is the MongoDB filter for q's filters (job, instance,
// statuses, tick range).
func queryFilter(q logsink.Query) bson.D {
	filter := bson.D{}
	if q.Job != "" {
		filter = append(filter, bson.E{Key: "job", Value: cleanName(q.Job, MaxNameLen)})
	}
	if q.Instance != "" {
		filter = append(filter, bson.E{Key: "instance", Value: cleanName(q.Instance, MaxNameLen)})
	}
	if len(q.Statuses) > 0 {
		in := make(bson.A, len(q.Statuses))
		for i, st := range q.Statuses {
			in[i] = cleanName(string(st), MaxWordLen)
		}
		filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: in}}})
	}
	var rng bson.D
	if !q.Since.IsZero() {
		rng = append(rng, bson.E{Key: "$gte", Value: tickNS(q.Since)})
	}
	if !q.Until.IsZero() {
		rng = append(rng, bson.E{Key: "$lt", Value: tickNS(q.Until)})
	}
	if rng != nil {
		filter = append(filter, bson.E{Key: "tick_ns", Value: rng})
	}
	return filter
}
