package logsink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// JSONSink writes each record as one JSON object (the encoding/json form of
// [Record]) followed by a newline.
//
// A batch is encoded in memory and handed to the writer in one Write call
// under a mutex, so concurrent Write calls on the same JSONSink never
// interleave lines. Two JSONSinks over the same writer do not coordinate:
// share one JSONSink instead. JSONSink never closes or flushes its writer.
// It is safe for concurrent use.
type JSONSink struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

var _ Sink = (*JSONSink)(nil)

// NewJSON returns a sink that writes JSON lines to w, for example
// logsink.NewJSON(os.Stdout). HTML characters (<, >, &) are not escaped.
func NewJSON(w io.Writer) *JSONSink {
	s := &JSONSink{w: w}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

// Write encodes batch and writes it to the underlying writer in a single
// call. It blocks for as long as the writer does; ctx is checked only before
// writing. An error from the writer is returned as is (wrapped), so a
// delivery retries the batch; since the writer may have taken part of it,
// a retry can repeat lines.
//
// A record that encoding/json cannot encode (a time outside years 0-9999)
// is still written, with the offending times zeroed and the reason appended
// to its error field, rather than failing the batch forever.
func (s *JSONSink) Write(ctx context.Context, batch []Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
	for i := range batch {
		if err := s.enc.Encode(&batch[i]); err != nil {
			r := sanitize(batch[i], err)
			if err := s.enc.Encode(&r); err != nil {
				return fmt.Errorf("distcron: json sink: encode record of job %q: %w", r.Job, err)
			}
		}
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("distcron: json sink: %w", err)
	}
	return nil
}

// sanitize makes r encodable: time.Time.MarshalJSON fails outside years
// 0-9999, the only way a Record can fail to encode.
func sanitize(r Record, cause error) Record {
	for _, t := range []*time.Time{&r.Tick, &r.Started, &r.Finished} {
		if y := t.Year(); y < 0 || y > 9999 {
			*t = time.Time{}
		}
	}
	note := "logsink: record not encodable as is: " + cause.Error()
	if r.Error == "" {
		r.Error = note
	} else {
		r.Error += "; " + note
	}
	return r
}
