package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/logsink"
)

// errNoHistory is the 501 answer of the history routes without WithHistory.
var errNoHistory = errors.New("no run history: the host app configured no queryable sink (admin.WithHistory with a SQL or MongoDB sink)")

// Summary bounds.
const (
	defaultSummaryWindow = 24 * time.Hour
	maxSummaryWindow     = 366 * 24 * time.Hour
	// maxSummaryRecords bounds the records read for a summary from a
	// history store that is not a logsink.Summarizer.
	maxSummaryRecords = 20 * logsink.MaxQueryLimit
)

var statuses = []logsink.Status{
	logsink.StatusSucceeded, logsink.StatusFailed, logsink.StatusTimeout,
	logsink.StatusKilled, logsink.StatusSkipped, logsink.StatusLost,
}

// runView is a record with its opaque id for GET api/runs/{id}.
type runView struct {
	ID string `json:"id"`
	logsink.Record
	// OutputOmitted: api/runs was asked for outputs, but this record with
	// them would exceed the page's byte bound alone; api/runs/{id} has it
	// whole.
	OutputOmitted bool `json:"output_omitted,omitempty"`
}

// runID encodes a record identity as a URL-safe string.
func runID(id logsink.RecordID) string {
	b, _ := json.Marshal(struct {
		Job      string    `json:"j"`
		Tick     time.Time `json:"t"`
		Shard    int       `json:"s"`
		Attempt  int       `json:"a"`
		Instance string    `json:"i"`
	}{id.Job, id.Tick.UTC(), id.Shard, id.Attempt, id.Instance})
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseRunID(s string) (logsink.RecordID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return logsink.RecordID{}, err
	}
	var v struct {
		Job      string    `json:"j"`
		Tick     time.Time `json:"t"`
		Shard    int       `json:"s"`
		Attempt  int       `json:"a"`
		Instance string    `json:"i"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return logsink.RecordID{}, err
	}
	if v.Job == "" || v.Tick.IsZero() {
		return logsink.RecordID{}, errors.New("job or tick missing")
	}
	return logsink.RecordID{Job: v.Job, Tick: v.Tick, Shard: v.Shard, Attempt: v.Attempt, Instance: v.Instance}, nil
}

// parseTime reads an RFC 3339 time, or a Go duration meaning that long
// before now ("24h").
func parseTime(name, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s=%s: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration before now (24h)", name, errtext.Name(s))
}

// parseQuery reads the filters of GET api/runs into a logsink.Query.
func parseQuery(v url.Values, now time.Time) (logsink.Query, error) {
	for key := range v {
		switch key {
		case "job", "status", "instance", "since", "until", "limit", "cursor", "output":
		default:
			return logsink.Query{}, fmt.Errorf("unknown parameter %s (want job, status, instance, since, until, limit, cursor or output)", errtext.Name(key))
		}
	}
	q := logsink.Query{Job: v.Get("job"), Instance: v.Get("instance"), Cursor: v.Get("cursor"), OmitOutput: true}
	for _, list := range v["status"] {
		for _, st := range strings.Split(list, ",") {
			st = strings.TrimSpace(st)
			if st == "" {
				continue
			}
			if !slices.Contains(statuses, logsink.Status(st)) {
				return q, fmt.Errorf("unknown status %s (want %s)", errtext.Name(st), joinStatuses())
			}
			q.Statuses = append(q.Statuses, logsink.Status(st))
		}
	}
	var err error
	if s := v.Get("since"); s != "" {
		if q.Since, err = parseTime("since", s, now); err != nil {
			return q, err
		}
	}
	if s := v.Get("until"); s != "" {
		if q.Until, err = parseTime("until", s, now); err != nil {
			return q, err
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			return q, fmt.Errorf("limit=%s: not an integer", errtext.Name(s))
		}
	}
	if s := v.Get("output"); s != "" {
		out, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("output=%s: want true or false", errtext.Name(s))
		}
		q.OmitOutput = !out
	}
	return q, nil
}

func joinStatuses() string {
	s := make([]string, len(statuses))
	for i, st := range statuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// outputChunk is how many records with their outputs listRuns asks the
// store for at a time, so that a page's byte bound also bounds what is
// held in memory.
const outputChunk = 25

func (h *handler) listRuns(w http.ResponseWriter, r *http.Request) {
	if h.cfg.history == nil {
		writeError(w, http.StatusNotImplemented, "%v", errNoHistory)
		return
	}
	q, err := parseQuery(r.URL.Query(), time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	runs, next, err := h.runsPage(ctx, q)
	if err != nil {
		h.failHistory(w, r, err)
		return
	}
	// {"runs":[...],"next":"..."}, from the records encoded one by one.
	var buf bytes.Buffer
	buf.WriteString(`{"runs":[`)
	for i, b := range runs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	if next != "" {
		nb, _ := json.Marshal(next)
		buf.WriteString(`,"next":`)
		buf.Write(nb)
	}
	buf.WriteString("}\n")
	writeRaw(w, http.StatusOK, buf.Bytes())
}

// runsPage reads one page of q from the history store: at most
// q.PageLimit() records whose JSON takes at most maxPage bytes in all
// (records with outputs are read outputChunk at a time), each encoded,
// and the cursor of the rest. The store's own cursors are used throughout,
// so any Querier works.
func (h *handler) runsPage(ctx context.Context, q logsink.Query) ([][]byte, string, error) {
	limit, budget := q.PageLimit(), h.cfg.maxPage
	chunk := limit
	if !q.OmitOutput {
		chunk = min(limit, outputChunk)
	}
	var out [][]byte
	size := len(`{"runs":[],"next":""}`) + 200 // the frame and a cursor
	cursor := q.Cursor
	for {
		cq := q
		cq.Limit, cq.Cursor = min(chunk, limit-len(out)), cursor
		page, err := h.cfg.history.Query(ctx, cq)
		if err != nil {
			return nil, "", err
		}
		for i, rec := range page.Records {
			b, err := encodeRun(runView{ID: runID(rec.ID()), Record: rec})
			if err != nil {
				return nil, "", err
			}
			if size+len(b)+1 > budget {
				if len(out) > 0 {
					// Stop before this record: the cursor after the
					// previous one, from the store (cheaply, no outputs).
					next, err := h.cursorAfter(ctx, q, cursor, i)
					return out, next, err
				}
				// Alone too large: listed without its outputs.
				stripped := rec
				stripped.Output, stripped.Steps = "", slices.Clone(rec.Steps)
				for j := range stripped.Steps {
					stripped.Steps[j].Output = ""
				}
				if b, err = encodeRun(runView{ID: runID(rec.ID()), Record: stripped, OutputOmitted: rec.Output != "" || len(rec.Steps) > 0}); err != nil {
					return nil, "", err
				}
			}
			out = append(out, b)
			size += len(b) + 1
		}
		if page.Next == "" || len(out) >= limit || len(page.Records) == 0 {
			return out, page.Next, nil
		}
		cursor = page.Next
	}
}

// cursorAfter returns the store's cursor after the first n records (n >
// 0) of q continued from cursor.
func (h *handler) cursorAfter(ctx context.Context, q logsink.Query, cursor string, n int) (string, error) {
	if n == 0 {
		return cursor, nil
	}
	q.Limit, q.Cursor, q.OmitOutput = n, cursor, true
	page, err := h.cfg.history.Query(ctx, q)
	if err != nil {
		return "", err
	}
	return page.Next, nil
}

func encodeRun(v runView) ([]byte, error) {
	b, err := encodeJSON(v)
	return bytes.TrimSuffix(b, []byte("\n")), err
}

func (h *handler) getRun(w http.ResponseWriter, r *http.Request) {
	if h.cfg.history == nil {
		writeError(w, http.StatusNotImplemented, "%v", errNoHistory)
		return
	}
	id, err := parseRunID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad run id %s: %v (use the id of a record from api/runs)", errtext.Name(r.PathValue("id")), err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	rec, err := h.cfg.history.Get(ctx, id)
	if err != nil {
		h.failHistory(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runView{ID: runID(rec.ID()), Record: rec})
}

// failHistory answers an error of the history store: not found and bad
// cursors as such, anything else as 503 (the store is a dependency) with
// a generic message and a request id; the store's error (which may name
// hosts, users, tables) goes to the log only.
func (h *handler) failHistory(w http.ResponseWriter, r *http.Request, err error) {
	if st := statusOf(err); st == http.StatusNotFound || st == http.StatusBadRequest || st == 499 {
		writeError(w, st, "%v", err)
		return
	}
	h.serverError(w, r, http.StatusServiceUnavailable, "the history store failed this request", err)
}

// jobSummary is the dashboard row of one job.
type jobSummary struct {
	Job    string                   `json:"job"`
	Counts map[logsink.Status]int64 `json:"counts"`
	Total  int64                    `json:"total"`
	// SuccessRate is succeeded / (total - skipped), from 0 to 1; null
	// when no run counts.
	SuccessRate *float64  `json:"success_rate"`
	Last        time.Time `json:"last,omitzero"` // the newest tick
}

type summaryBody struct {
	Since time.Time    `json:"since"`
	Until time.Time    `json:"until"`
	Jobs  []jobSummary `json:"jobs"`
	// Totals are the counts of all jobs together.
	Totals      map[logsink.Status]int64 `json:"totals"`
	Total       int64                    `json:"total"`
	SuccessRate *float64                 `json:"success_rate"`
	// Partial: the store is not a Summarizer and held more records than
	// the handler reads for one summary; counts cover the newest ones.
	Partial bool `json:"partial"`
}

func (h *handler) getSummary(w http.ResponseWriter, r *http.Request) {
	if h.cfg.history == nil {
		writeError(w, http.StatusNotImplemented, "%v", errNoHistory)
		return
	}
	now := time.Now().UTC()
	v := r.URL.Query()
	for key := range v {
		if key != "since" && key != "until" && key != "job" {
			writeError(w, http.StatusBadRequest, "unknown parameter %s (want since, until or job)", errtext.Name(key))
			return
		}
	}
	q := logsink.Query{Job: v.Get("job"), Since: now.Add(-defaultSummaryWindow), Until: now.Add(time.Second)}
	var err error
	if s := v.Get("since"); s != "" {
		if q.Since, err = parseTime("since", s, now); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if s := v.Get("until"); s != "" {
		if q.Until, err = parseTime("until", s, now); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if !q.Since.Before(q.Until) || q.Until.Sub(q.Since) > maxSummaryWindow {
		writeError(w, http.StatusBadRequest, "since must be before until, at most %v apart", maxSummaryWindow)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	counts, partial, err := summarize(ctx, h.cfg.history, q)
	if err != nil {
		h.failHistory(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, buildSummary(q, counts, partial))
}

// summarize counts records by job and status, by the store when it can.
func summarize(ctx context.Context, qr logsink.Querier, q logsink.Query) ([]logsink.StatusCount, bool, error) {
	if s, ok := qr.(logsink.Summarizer); ok {
		counts, err := s.Summarize(ctx, q)
		return counts, false, err
	}
	type key struct {
		job    string
		status logsink.Status
	}
	m := map[key]*logsink.StatusCount{}
	q.Limit, q.OmitOutput = logsink.MaxQueryLimit, true
	read := 0
	for {
		page, err := qr.Query(ctx, q)
		if err != nil {
			return nil, false, err
		}
		for _, rec := range page.Records {
			k := key{rec.Job, rec.Status}
			c := m[k]
			if c == nil {
				c = &logsink.StatusCount{Job: rec.Job, Status: rec.Status}
				m[k] = c
			}
			c.Runs++
			if rec.Tick.After(c.Last) {
				c.Last = rec.Tick
			}
		}
		read += len(page.Records)
		if page.Next == "" {
			break
		}
		if read >= maxSummaryRecords {
			return flatten(m), true, nil
		}
		q.Cursor = page.Next
	}
	return flatten(m), false, nil
}

func flatten[K comparable](m map[K]*logsink.StatusCount) []logsink.StatusCount {
	out := make([]logsink.StatusCount, 0, len(m))
	for _, c := range m {
		out = append(out, *c)
	}
	return out
}

func buildSummary(q logsink.Query, counts []logsink.StatusCount, partial bool) summaryBody {
	body := summaryBody{Since: q.Since.UTC(), Until: q.Until.UTC(), Jobs: []jobSummary{}, Totals: map[logsink.Status]int64{}, Partial: partial}
	byJob := map[string]*jobSummary{}
	for _, c := range counts {
		js := byJob[c.Job]
		if js == nil {
			js = &jobSummary{Job: c.Job, Counts: map[logsink.Status]int64{}}
			byJob[c.Job] = js
		}
		js.Counts[c.Status] += c.Runs
		js.Total += c.Runs
		if c.Last.After(js.Last) {
			js.Last = c.Last.UTC()
		}
		body.Totals[c.Status] += c.Runs
		body.Total += c.Runs
	}
	for _, js := range byJob {
		js.SuccessRate = rate(js.Counts)
		body.Jobs = append(body.Jobs, *js)
	}
	slices.SortFunc(body.Jobs, func(a, b jobSummary) int { return strings.Compare(a.Job, b.Job) })
	body.SuccessRate = rate(body.Totals)
	return body
}

// rate is succeeded / (all but skipped), or nil when that is 0.
func rate(c map[logsink.Status]int64) *float64 {
	var n int64
	for st, k := range c {
		if st != logsink.StatusSkipped {
			n += k
		}
	}
	if n == 0 {
		return nil
	}
	r := float64(c[logsink.StatusSucceeded]) / float64(n)
	return &r
}
