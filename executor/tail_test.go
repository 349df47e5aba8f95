package executor

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestTail(t *testing.T) {
	const limit = 100
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		tl := newTail(limit)
		var all []byte
		for range r.IntN(20) {
			p := make([]byte, r.IntN(3*limit/2))
			for i := range p {
				p[i] = byte(r.IntN(256))
			}
			n, err := tl.Write(p)
			if n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
			}
			all = append(all, p...)
			want := all[max(0, len(all)-limit):]
			if got := tl.Bytes(); !bytes.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("round %d: Bytes() = %x, want %x", round, got, want)
			}
			if cap(tl.buf) > limit {
				t.Fatalf("buffer capacity %d > %d", cap(tl.buf), limit)
			}
		}
	}
	if got := newTail(limit).Bytes(); got != nil {
		t.Errorf("empty Bytes() = %q, want nil", got)
	}
}

func TestTailConcurrent(t *testing.T) {
	tl := newTail(MaxOutput)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			line := bytes.Repeat([]byte{'a' + byte(i)}, 1000)
			for range 100 {
				_, _ = tl.Write(line)
				_ = tl.Bytes()
			}
		})
	}
	wg.Wait()
	got := tl.Bytes()
	if len(got) != MaxOutput {
		t.Fatalf("len = %d, want %d", len(got), MaxOutput)
	}
	// Writes are atomic: every 1000-byte write lands whole.
	first := len(got) % 1000
	for i := first; i < len(got); i += 1000 {
		if !bytes.Equal(got[i:i+1000], bytes.Repeat(got[i:i+1], 1000)) {
			t.Fatalf("interleaved write at offset %d", i)
		}
	}
}
