package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/distcron/distcron/logsink"
)

// maxRunsLimit bounds --limit: the pages of logsink.MaxQueryLimit records
// it takes are read one after the other.
const maxRunsLimit = 10000

var statuses = []logsink.Status{
	logsink.StatusSucceeded, logsink.StatusFailed, logsink.StatusTimeout,
	logsink.StatusKilled, logsink.StatusSkipped, logsink.StatusLost,
}

func init() {
	var f struct {
		history, table, job, status, instance, since, until string
		limit                                               int
	}
	commands = append(commands, command{
		name: "runs", args: "[ID]", help: "list run records from the history database, or show one run with its output",
		long: `Reads the run records a SQL or MongoDB sink wrote, newest tick first. It
needs the sink's database (--history or $DISTCRON_HISTORY), not etcd.

With no argument it lists runs, filtered by --job, --status, --instance and
a tick range. With one argument, a run ID from the ID column (or the id
field of -o json, or the id the admin console shows), it prints that run in
full: times, error, exit code, steps and the tail of its output.

History DSNs:
  postgres://user:pass@host:5432/db?sslmode=disable   (or host=... dbname=...)
  mysql://user:pass@host:3306/db                      (or user:pass@tcp(host:3306)/db)
  mongodb://host:27017/db                             (database default "distcron")
  sqlite:PATH, a file path, or file:PATH?...
The table (SQL) or collection (MongoDB) is --table, default "distcron_runs".`,
		examples: `# the last 50 runs
distcron runs --history postgres://ops@db:5432/ops?sslmode=disable

# failed and timed-out runs of one job in the last day
export DISTCRON_HISTORY=mysql://ops:secret@db:3306/ops
distcron runs --job backup --status failed,timeout --since 24h

# runs on one instance in a time window, as JSON (with outputs)
distcron runs --instance node-a --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z -o json

# one run in full, with the tail of its output
distcron runs backup/2026-12-07T02:00:00Z/0/1/node-a --history /var/lib/app/runs.db`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&f.history, "history", "", "the history database, a DSN as above (default $DISTCRON_HISTORY)")
			fs.StringVar(&f.table, "table", defaultTable, "the sink's SQL table or MongoDB collection")
			fs.StringVar(&f.job, "job", "", "only runs of this job")
			fs.StringVar(&f.status, "status", "", "only runs with these statuses, comma-separated: "+joinStatuses())
			fs.StringVar(&f.instance, "instance", "", "only runs on this instance")
			fs.StringVar(&f.since, "since", "", "only ticks at or after this: RFC 3339 time, or a duration ago (1h)")
			fs.StringVar(&f.until, "until", "", "only ticks before this: RFC 3339 time, or a duration ago (1h)")
			fs.IntVar(&f.limit, "limit", logsink.DefaultQueryLimit, "at most this many runs, newest first (1-"+strconv.Itoa(maxRunsLimit)+")")
		},
		run: func(g *global, fs *flag.FlagSet, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("%w: want at most one run ID", errUsage)
			}
			if f.history == "" {
				f.history = os.Getenv("DISTCRON_HISTORY")
			}
			if f.history == "" {
				return fmt.Errorf("%w: --history DSN (or $DISTCRON_HISTORY) is required: one of %s", errUsage, historyForms)
			}
			var id logsink.RecordID
			var q logsink.Query
			var err error
			if len(args) == 1 {
				if id, err = parseRunID(args[0]); err != nil {
					return err
				}
				var set []string
				fs.Visit(func(fl *flag.Flag) {
					switch fl.Name {
					case "job", "status", "instance", "since", "until", "limit":
						set = append(set, "--"+fl.Name)
					}
				})
				if len(set) > 0 {
					return fmt.Errorf("%w: %s: filters are for listing runs, not with a run ID", errUsage, strings.Join(set, ", "))
				}
			} else if q, err = runsQuery(f.job, f.status, f.instance, f.since, f.until, f.limit, time.Now()); err != nil {
				return err
			}
			if g.output == "json" {
				q.OmitOutput = false // full records
			}
			target, err := parseHistory(f.history)
			if err != nil {
				return err
			}
			store, closeStore, err := openHistory(target, f.table, g.timeout)
			if err != nil {
				return err
			}
			defer closeStore()
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			if len(args) == 1 {
				rec, err := store.Get(ctx, id)
				if errors.Is(err, logsink.ErrNotFound) {
					return fmt.Errorf("no run %s in %s (table %s)", args[0], target.display, f.table)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", target.display, err)
				}
				if g.output == "json" {
					return printJSON(g.stdout, runView{ID: formatRunID(rec.ID()), Record: rec})
				}
				return describeRun(g.stdout, rec)
			}
			recs, more, err := queryRuns(ctx, store, q, f.limit)
			if err != nil {
				return fmt.Errorf("%s: %w", target.display, err)
			}
			if more {
				// On stderr, so that the output stays a table or JSON.
				fmt.Fprintf(g.stderr, "(more runs match: raise --limit or narrow the filters)\n")
			}
			if g.output == "json" {
				views := make([]runView, 0, len(recs))
				for _, r := range recs {
					views = append(views, runView{ID: formatRunID(r.ID()), Record: r})
				}
				return printJSON(g.stdout, views)
			}
			var rows [][]string
			for _, r := range recs {
				rows = append(rows, []string{formatRunID(r.ID()), r.Job, r.Tick.UTC().Format(time.RFC3339Nano), r.Instance,
					string(r.Trigger), strconv.Itoa(r.Attempt), string(r.Status), formatDuration(r.Duration), orDash(firstLine(r.Error, 60))})
			}
			return printTable(g.stdout, []string{"ID", "JOB", "TICK", "INSTANCE", "TRIGGER", "ATTEMPT", "STATUS", "DURATION", "ERROR"}, rows)
		},
	})
}

// runView is a record with its run ID, as -o json prints it.
type runView struct {
	ID string `json:"id"`
	logsink.Record
}

// runsQuery builds the history query of the list filters. Its errors wrap
// errUsage.
func runsQuery(job, status, instance, since, until string, limit int, now time.Time) (logsink.Query, error) {
	q := logsink.Query{Job: job, Instance: instance}
	if limit < 1 || limit > maxRunsLimit {
		return q, fmt.Errorf("%w: --limit %d: want 1 to %d", errUsage, limit, maxRunsLimit)
	}
	for _, st := range strings.Split(status, ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !slices.Contains(statuses, logsink.Status(st)) {
			return q, fmt.Errorf("%w: --status %q: want %s", errUsage, st, joinStatuses())
		}
		q.Statuses = append(q.Statuses, logsink.Status(st))
	}
	var err error
	if since != "" {
		if q.Since, err = parseWhen("since", since, now); err != nil {
			return q, err
		}
	}
	if until != "" {
		if q.Until, err = parseWhen("until", until, now); err != nil {
			return q, err
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, fmt.Errorf("%w: --since %s is not before --until %s", errUsage, q.Since.Format(time.RFC3339), q.Until.Format(time.RFC3339))
	}
	q.OmitOutput = true
	return q, nil
}

// parseWhen reads an RFC 3339 time, or a duration meaning that long
// before now ("1h").
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: --%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration ago (1h, 30m)", errUsage, name, s)
}

func joinStatuses() string {
	var s []string
	for _, st := range statuses {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

// queryRuns reads up to limit records matching q, page after page. more
// reports whether further records match.
func queryRuns(ctx context.Context, store logsink.Querier, q logsink.Query, limit int) (recs []logsink.Record, more bool, err error) {
	for {
		q.Limit = min(limit-len(recs), logsink.MaxQueryLimit)
		page, err := store.Query(ctx, q)
		if err != nil {
			return nil, false, err
		}
		recs = append(recs, page.Records...)
		if page.Next == "" {
			return recs, false, nil
		}
		if len(recs) >= limit {
			return recs, true, nil
		}
		q.Cursor = page.Next
	}
}

// formatRunID returns the run ID naming one record:
// JOB/TICK/SHARD/ATTEMPT/INSTANCE, the tick in RFC 3339 UTC. Job and
// instance names cannot hold "/" or spaces, so it splits back without
// quoting, and it is one shell word.
func formatRunID(id logsink.RecordID) string {
	return id.Job + "/" + id.Tick.UTC().Format(time.RFC3339Nano) + "/" + strconv.Itoa(id.Shard) + "/" + strconv.Itoa(id.Attempt) + "/" + id.Instance
}

// parseRunID reads a run ID, or the opaque id of the admin console's API
// (a base64 cursor). Its errors wrap errUsage.
func parseRunID(s string) (logsink.RecordID, error) {
	bad := fmt.Errorf("%w: run ID %q: want JOB/TICK/SHARD/ATTEMPT/INSTANCE as the ID column shows it, e.g. backup/2026-12-07T02:00:00Z/0/1/node-a (to list a job's runs, use --job)", errUsage, s)
	parts := strings.SplitN(s, "/", 5) // the instance last: a record from elsewhere may have "/" in it
	if len(parts) == 1 {
		if id, err := logsink.DecodeCursor(s); err == nil && id.Job != "" && !id.Tick.IsZero() {
			return id, nil
		}
		return logsink.RecordID{}, bad
	}
	if len(parts) != 5 || parts[0] == "" {
		return logsink.RecordID{}, bad
	}
	tick, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return logsink.RecordID{}, fmt.Errorf("%w: tick %q: %v", bad, parts[1], err)
	}
	shard, err1 := strconv.Atoi(parts[2])
	attempt, err2 := strconv.Atoi(parts[3])
	if err1 != nil || err2 != nil || shard < 0 || attempt < 0 {
		return logsink.RecordID{}, bad
	}
	return logsink.RecordID{Job: parts[0], Tick: tick.UTC(), Shard: shard, Attempt: attempt, Instance: parts[4]}, nil
}

func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// firstLine is the first line of s, cut to at most n runes, with control
// characters (tabs would break the table's columns) as spaces.
func firstLine(s string, n int) string {
	line, rest, _ := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(line))
	if r := []rune(line); len(r) > n {
		return string(r[:n-1]) + "…"
	} else if rest != "" {
		return line + " …"
	}
	return line
}

// describeRun prints one record in full, kubectl describe style.
func describeRun(w io.Writer, r logsink.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	field("ID", formatRunID(r.ID()))
	field("Job", r.Job)
	field("Tick", when(r.Tick))
	field("Shard", strconv.Itoa(r.Shard))
	field("Attempt", strconv.Itoa(r.Attempt))
	field("Instance", r.Instance)
	field("Trigger", string(r.Trigger))
	field("Token", strconv.FormatInt(r.Token, 10))
	field("Started", when(r.Started))
	field("Finished", when(r.Finished))
	field("Duration", formatDuration(r.Duration))
	if !r.Started.IsZero() && !r.Tick.IsZero() {
		field("Late", formatDuration(r.Lateness()))
	}
	field("Status", string(r.Status))
	field("Exit code", strconv.Itoa(r.ExitCode))
	if err := tw.Flush(); err != nil {
		return err
	}
	block := func(title, text string, indent string) {
		if text == "" {
			return
		}
		fmt.Fprintf(w, "%s%s:\n", indent, title)
		for line := range strings.Lines(strings.TrimRight(text, "\n")) {
			fmt.Fprintf(w, "%s  %s", indent, line)
		}
		fmt.Fprintln(w)
	}
	block("Error", r.Error, "")
	if len(r.Steps) > 0 {
		fmt.Fprintln(w, "Steps:")
		for i, s := range r.Steps {
			fmt.Fprintf(w, "  %d. %s: %s in %s, exit code %d\n", i+1, s.Name, s.Status, formatDuration(s.Duration), s.ExitCode)
			block("Error", s.Error, "     ")
			block("Output", s.Output, "     ")
		}
	}
	if r.Output == "" {
		fmt.Fprintln(w, "Output: (none)")
		return nil
	}
	block("Output (tail)", r.Output, "")
	return nil
}
