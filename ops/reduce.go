package ops

import (
	"slices"
	"sync"

	"github.com/vigil-ad/vigil/tensor"
)

// parallelReduce runs fn over [0,n) with tensor.Parallel, giving each piece
// its own zeroed accumulator of accLen floats, then hands the accumulators
// to merge in the order of their ranges. Pieces are fixed by n and the
// worker count, so the floating-point result does not depend on which
// worker finished first: training runs are repeatable.
func parallelReduce(n, accLen int, fn func(lo, hi int, part []float32), merge func(part []float32)) {
	var mu sync.Mutex
	var los []int
	parts := map[int][]float32{}
	tensor.Parallel(n, func(lo, hi int) {
		part := tensor.Get(accLen)
		fn(lo, hi, part)
		mu.Lock()
		parts[lo] = part
		los = append(los, lo)
		mu.Unlock()
	})
	slices.Sort(los)
	for _, lo := range los {
		merge(parts[lo])
		tensor.Put(parts[lo])
	}
}

// addTo returns a merge function that adds a part into acc.
func addTo(acc []float32) func([]float32) {
	return func(part []float32) {
		for i, v := range part[:len(acc)] {
			acc[i] += v
		}
	}
}
