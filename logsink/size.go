package logsink

import "unsafe"

// Fixed parts of a record's size: the structs themselves, strings and
// slices counted by their headers.
const (
	recordOverhead = int(unsafe.Sizeof(Record{}))
	stepOverhead   = int(unsafe.Sizeof(StepRecord{}))
)

// Size returns the approximate number of bytes r holds: the Record struct,
// the bytes of its strings, and for each step the StepRecord struct and the
// bytes of its strings. Strings shared with other records are counted in
// each. It is what the delivery's byte bound ([WithBufferBytes]) counts
// and what [MaxRecordBytes] bounds; a sink stores about as many bytes.
func (r Record) Size() int {
	n := recordOverhead + len(r.Job) + len(r.Instance) + len(r.Trigger) + len(r.Status) + len(r.Error) + len(r.Output)
	for i := range r.Steps {
		n += stepSize(&r.Steps[i])
	}
	return n
}

func stepSize(s *StepRecord) int {
	return stepOverhead + len(s.Name) + len(s.Status) + len(s.Error) + len(s.Output)
}
