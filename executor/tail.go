package executor

import "sync"

// tail is an io.Writer that keeps the last max bytes written to it. It is
// safe for concurrent use and never holds more than max bytes.
type tail struct {
	mu    sync.Mutex
	max   int
	buf   []byte // len(buf) <= max; a ring once len(buf) == max
	start int    // index of the oldest byte when buf is a full ring
}

func newTail(limit int) *tail { return &tail{max: limit} }

// Write keeps the end of p. It never fails.
func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if n >= t.max {
		t.grow(t.max)
		t.buf = t.buf[:t.max]
		copy(t.buf, p[n-t.max:])
		t.start = 0
		return n, nil
	}
	if room := t.max - len(t.buf); room > 0 {
		k := min(room, len(p))
		t.grow(len(t.buf) + k)
		t.buf = append(t.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // full ring: overwrite the oldest bytes
		k := copy(t.buf[t.start:], p)
		p = p[k:]
		t.start = (t.start + k) % t.max
	}
	return n, nil
}

// grow makes room for size bytes, doubling up to max.
func (t *tail) grow(size int) {
	if size <= cap(t.buf) {
		return
	}
	c := min(max(size, 2*cap(t.buf), 512), t.max)
	b := make([]byte, len(t.buf), c)
	copy(b, t.buf)
	t.buf = b
}

// Bytes returns a copy of the kept bytes, oldest first; nil if none.
func (t *tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == 0 {
		return nil
	}
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.start:]...)
	return append(out, t.buf[:t.start]...)
}
