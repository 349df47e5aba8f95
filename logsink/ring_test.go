package logsink

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The ring behaves as a FIFO queue across wrap-around and growth,
// checked against a plain slice.
func TestRing(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		maxK  int // largest pop
		ops   int
	}{
		{"tiny limit", 3, 2, 2000},
		{"below first allocation", 50, 7, 2000},
		{"grows", 1000, 300, 2000},
		{"large", keepRing + 500, keepRing, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, uint64(tt.limit)))
			var q ring
			var model []int64
			var dst []Record
			next := int64(0)
			for range tt.ops {
				if rnd.IntN(2) == 0 {
					for range rnd.IntN(tt.limit) + 1 {
						if q.n == tt.limit {
							break
						}
						r := Record{Token: next}
						q.push(&r, tt.limit)
						model = append(model, next)
						next++
					}
				} else {
					k := rnd.IntN(tt.maxK) + 1
					dst = q.popInto(dst[:0], k)
					want := model[:min(k, len(model))]
					got := make([]int64, len(dst))
					for i, r := range dst {
						got[i] = r.Token
					}
					if !slices.Equal(got, want) {
						t.Fatalf("popInto(%d) = %v, want %v", k, got, want)
					}
					model = model[len(want):]
				}
				if q.n != len(model) || len(q.buf) > tt.limit {
					t.Fatalf("n = %d (model %d), cap %d (limit %d)", q.n, len(model), len(q.buf), tt.limit)
				}
			}
			q.release()
			if q.n > 0 && len(q.buf) == 0 {
				t.Fatal("release freed a non-empty ring")
			}
			q.popInto(nil, q.n)
			if q.release(); q.buf != nil {
				t.Fatal("release kept the buffer of an empty ring")
			}
		})
	}
}
