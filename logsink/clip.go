package logsink

import (
	"fmt"
	"slices"
	"strings"

	"github.com/distcron/distcron/internal/clip"
)

// Limits of a record as a [Delivery] hands it to its sink (see
// [Record.Clip]). A record within them is stored by every sink of this
// module, and by the databases behind them with a wide margin: MongoDB
// takes documents of up to 16 MiB, MySQL and MariaDB packets of up to
// max_allowed_packet (16 MiB by default on MariaDB 10.x, 64 MiB on MySQL
// 8, 4 MiB on MySQL 5.7; the SQL sink sends statements of about 4 MiB),
// PostgreSQL values of up to 1 GB. Even text that JSON escapes sixfold (the
// SQL sink stores steps as JSON) stays under 16 MiB.
const (
	// MaxRecordSteps is the most steps a record keeps: the first and the
	// last MaxRecordSteps/2 (the last holds the failure).
	MaxRecordSteps = 100
	// MaxRecordBytes bounds the [Record.Size] of a record: 1 MiB, sixteen
	// times the 64 KiB of output the executors keep.
	MaxRecordBytes = 1 << 20
)

// Markers that [Record.Clip] leaves in a record it clipped.
const (
	// ClipNote starts the note appended to the Error of a clipped record
	// (on a line of its own when Error was not empty), which says what was
	// left out, e.g. "[record clipped by distcron: steps 51-250 of 300
	// omitted; text cut to fit 1048576 bytes where marked …]".
	// strings.Contains(r.Error, ClipNote) tells a clipped record.
	ClipNote = "[record clipped by distcron: "
	// ClipMark stands for the cut part of a text: it starts an output
	// (whose tail is kept) and ends an error (whose head is kept).
	ClipMark = "…"
)

// maxNameBytes is the most bytes a clipped record keeps of its job,
// instance, trigger, status and step names. It does not change what the
// sinks store, which keep 255 characters (1020 bytes at most) of a name.
const maxNameBytes = 1024

// Clip returns r cut to the limits every sink stores ([MaxRecordSteps],
// [MaxRecordBytes]) and whether it had to cut anything; a record within
// them is returned unchanged. [Delivery.Send] clips every record, so sinks
// never see a larger one.
//
// Clipping keeps the identity, outcome and timing fields. Beyond
// MaxRecordSteps it keeps the first and last MaxRecordSteps/2 steps. If
// the record is still larger than MaxRecordBytes, it cuts names to 1 KiB
// and then shares what remains of MaxRecordBytes fairly between the texts
// (Output, Error, and each step's): texts shorter than their share stay
// whole, longer ones are cut to the same length, keeping the end of an
// output and the start of an error, with [ClipMark] where the cut was,
// never splitting a UTF-8 character. Finally it appends a note starting
// with [ClipNote] to Error. Clip allocates new Steps rather than modify
// r's; clipping a clipped record changes nothing.
func (r Record) Clip() (Record, bool) {
	_, clipped := clipRecord(&r)
	return r, clipped
}

// clipRecord clips *r in place (replacing, never modifying, its Steps) and
// returns its Size afterwards.
func clipRecord(r *Record) (size int, clipped bool) {
	size = r.Size()
	if len(r.Steps) <= MaxRecordSteps && size <= MaxRecordBytes {
		return size, false
	}
	var notes []string
	if n := len(r.Steps); n > MaxRecordSteps {
		head := MaxRecordSteps / 2
		tail := MaxRecordSteps - head
		steps := make([]StepRecord, 0, MaxRecordSteps)
		steps = append(steps, r.Steps[:head]...)
		r.Steps = append(steps, r.Steps[n-tail:]...)
		notes = append(notes, fmt.Sprintf("steps %d-%d of %d omitted", head+1, n-tail, n))
	} else {
		r.Steps = slices.Clone(r.Steps)
	}
	note := noteText(notes)
	if r.Size()+len(note)+1 > MaxRecordBytes {
		notes = append(notes, fmt.Sprintf("text cut to fit %d bytes where marked %s", MaxRecordBytes, ClipMark))
		note = noteText(notes)
		cutNames(r)
		cutTexts(r, MaxRecordBytes-len(note)-1)
	}
	if r.Error == "" {
		r.Error = note
	} else {
		r.Error += "\n" + note
	}
	return r.Size(), true
}

func noteText(notes []string) string {
	return ClipNote + strings.Join(notes, "; ") + "]"
}

// cutNames keeps at most maxNameBytes of each name of r.
func cutNames(r *Record) {
	name := func(s string) string { return clip.Text(s, false, maxNameBytes) }
	r.Job, r.Instance = name(r.Job), name(r.Instance)
	r.Trigger, r.Status = Trigger(name(string(r.Trigger))), Status(name(string(r.Status)))
	for i := range r.Steps {
		st := &r.Steps[i]
		st.Name, st.Status = name(st.Name), Status(name(string(st.Status)))
	}
}

// text is one of a record's texts that clipping may cut.
type text struct {
	s    *string
	tail bool // keep the end (outputs), else the start (errors)
}

// cutTexts cuts r's texts so that r.Size() <= limit, giving each text the
// same share of what the rest of r leaves.
func cutTexts(r *Record, limit int) {
	texts := []text{{&r.Output, true}, {&r.Error, false}}
	for i := range r.Steps {
		texts = append(texts, text{&r.Steps[i].Output, true}, text{&r.Steps[i].Error, false})
	}
	lens := make([]int, len(texts))
	total := 0
	for i, t := range texts {
		lens[i] = len(*t.s)
		total += lens[i]
	}
	budget := limit - (r.Size() - total)
	share := fairShare(lens, budget)
	for _, t := range texts {
		if len(*t.s) > share {
			*t.s = cutText(*t.s, t.tail, share)
		}
	}
}

// fairShare returns the largest share such that the sum of min(l, share)
// over lens is at most budget.
func fairShare(lens []int, budget int) int {
	sorted := slices.Sorted(slices.Values(lens))
	for i, l := range sorted {
		m := len(sorted) - i
		if l*m > budget {
			return max(budget/m, 0)
		}
		budget -= l
	}
	return int(^uint(0) >> 1) // everything fits
}

// cutText returns at most n bytes of s: ClipMark and the end of s (tail),
// or the start of s and ClipMark.
func cutText(s string, tail bool, n int) string {
	keep := n - len(ClipMark)
	if keep <= 0 {
		return ""
	}
	if tail {
		return ClipMark + clip.Text(s, true, keep)
	}
	return clip.Text(s, false, keep) + ClipMark
}
