package logsink

// ring is a FIFO queue of records in a circular slice. It starts small and
// doubles up to a limit, so an idle delivery with a large buffer size does
// not hold megabytes. Not safe for concurrent use: the Delivery guards it.
type ring struct {
	buf  []Record
	head int // index of the oldest record
	n    int // number of records held
}

// minRing is the first allocation, in records.
const minRing = 64

// push appends r. The caller guarantees r.n < limit.
func (q *ring) push(r *Record, limit int) {
	if q.n == len(q.buf) {
		q.grow(limit)
	}
	i := q.head + q.n
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = *r
	q.n++
}

func (q *ring) grow(limit int) {
	c := max(2*len(q.buf), minRing)
	c = min(c, limit)
	buf := make([]Record, c)
	k := copy(buf, q.buf[q.head:min(q.head+q.n, len(q.buf))])
	copy(buf[k:], q.buf[:q.n-k])
	q.buf, q.head = buf, 0
}

// popInto moves up to k of the oldest records to the end of dst and returns
// it. The vacated slots are zeroed so the strings they held can be collected.
func (q *ring) popInto(dst []Record, k int) []Record {
	k = min(k, q.n)
	first := min(k, len(q.buf)-q.head)
	dst = append(dst, q.buf[q.head:q.head+first]...)
	clear(q.buf[q.head : q.head+first])
	dst = append(dst, q.buf[:k-first]...)
	clear(q.buf[:k-first])
	q.head += k
	if q.head >= len(q.buf) {
		q.head -= len(q.buf)
	}
	q.n -= k
	if q.n == 0 {
		q.head = 0
	}
	return dst
}

// release frees the allocation of an empty ring.
func (q *ring) release() {
	if q.n == 0 {
		q.buf, q.head = nil, 0
	}
}

// reset drops every record, keeping the allocation.
func (q *ring) reset() {
	clear(q.buf)
	q.head, q.n = 0, 0
}
