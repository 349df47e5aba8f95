package mongosink

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/distcron/distcron/logsink"
)

var _ logsink.Summarizer = (*Sink)(nil)

// Summarize counts the records matching q's filters (Job, Statuses,
// Instance, Since, Until) by job and status, with the newest tick of
// each, in one aggregation ($match, $group) served by the collection's
// indexes. Limit, Cursor and OmitOutput are ignored. On servers without
// the $max accumulator (FerretDB 1.x) it counts with $sum and reads the
// newest tick of each group with one indexed query per group. It blocks on
// the server, bounded by ctx, and is safe for concurrent use.
func (s *Sink) Summarize(ctx context.Context, q logsink.Query) ([]logsink.StatusCount, error) {
	filter := queryFilter(q)
	groups, err := s.group(ctx, filter, true)
	withLast := err == nil
	if hasCode(err, codeNotImplemented) {
		groups, err = s.group(ctx, filter, false)
	}
	if err != nil {
		return nil, fmt.Errorf("mongosink: summarize: %w", err)
	}
	out := make([]logsink.StatusCount, 0, len(groups))
	for _, g := range groups {
		if !withLast {
			// The group's job and status satisfy the filter's own.
			f := bson.D{{Key: "job", Value: g.ID.Job}, {Key: "status", Value: g.ID.Status}}
			for _, e := range filter {
				if e.Key != "job" && e.Key != "status" {
					f = append(f, e)
				}
			}
			var d struct {
				TickNS int64 `bson:"tick_ns"`
			}
			err := s.coll.FindOne(ctx, f, options.FindOne().
				SetSort(bson.D{{Key: "tick_ns", Value: -1}}).
				SetProjection(bson.D{{Key: "tick_ns", Value: 1}})).Decode(&d)
			if err != nil {
				return nil, fmt.Errorf("mongosink: summarize: newest tick of %s/%s: %w", g.ID.Job, g.ID.Status, err)
			}
			g.Last = d.TickNS
		}
		out = append(out, logsink.StatusCount{Job: g.ID.Job, Status: logsink.Status(g.ID.Status), Runs: g.Runs, Last: time.Unix(0, g.Last).UTC()})
	}
	return out, nil
}

type statusGroup struct {
	ID struct {
		Job    string `bson:"job"`
		Status string `bson:"status"`
	} `bson:"_id"`
	Runs int64 `bson:"runs"`
	Last int64 `bson:"last"`
}

// group runs the counting aggregation, with the newest tick ($max) when
// withLast.
func (s *Sink) group(ctx context.Context, filter bson.D, withLast bool) ([]statusGroup, error) {
	grp := bson.D{
		{Key: "_id", Value: bson.D{{Key: "job", Value: "$job"}, {Key: "status", Value: "$status"}}},
		{Key: "runs", Value: bson.D{{Key: "$sum", Value: 1}}},
	}
	if withLast {
		grp = append(grp, bson.E{Key: "last", Value: bson.D{{Key: "$max", Value: "$tick_ns"}}})
	}
	cur, err := s.coll.Aggregate(ctx, bson.A{bson.D{{Key: "$match", Value: filter}}, bson.D{{Key: "$group", Value: grp}}})
	if err != nil {
		return nil, err
	}
	var groups []statusGroup
	if err := cur.All(ctx, &groups); err != nil {
		return nil, err
	}
	return groups, nil
}
