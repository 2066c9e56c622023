package decision

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Bootstrap returns a percentile-bootstrap confidence interval for the
// (1−alpha) quantile threshold: point is the k-th smallest validation score
// with k = ceil((n+1)(1−alpha)) capped at n (the order statistic the
// conformal threshold is built on), and [lo, hi] are the (1−confidence)/2
// and (1+confidence)/2 percentiles (nearest rank) of the same order
// statistic over B resamples with replacement drawn from a PCG seeded with
// seed. Each resample costs O(n) (multiplicities over the sorted sample, no
// re-sorting). Invalid input (no or non-finite scores, alpha or confidence
// outside (0,1), B < 1) returns NaN for all three.
func Bootstrap(valScores []float64, alpha float64, B int, confidence float64, seed uint64) (point, lo, hi float64) {
	nan := math.NaN()
	if checkScores(valScores) != nil || checkAlpha(alpha) != nil || B < 1 || !(confidence > 0 && confidence < 1) {
		return nan, nan, nan
	}
	s := slices.Clone(valScores)
	slices.Sort(s)
	n := len(s)
	k := min(n, conformalRank(n, alpha))
	point = s[k-1]
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	mult := make([]int32, n)
	reps := make([]float64, B)
	for b := range reps {
		clear(mult)
		for i := 0; i < n; i++ {
			mult[rng.IntN(n)]++
		}
		// The k-th smallest of the resample is the first sorted value at
		// which the running multiplicity reaches k.
		c := 0
		for i, m := range mult {
			c += int(m)
			if c >= k {
				reps[b] = s[i]
				break
			}
		}
	}
	slices.Sort(reps)
	rank := func(q float64) float64 {
		r := int(math.Ceil(q*float64(B))) - 1
		return reps[min(B-1, max(0, r))]
	}
	return point, rank((1 - confidence) / 2), rank((1 + confidence) / 2)
}
