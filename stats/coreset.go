package stats

import (
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// Coreset selects target rows of x (n×dim) by greedy k-center search
// (farthest-point sampling, PatchCore's coreset) and returns their
// indices into x in the order chosen. With proj in 1..dim−1 the distances
// are taken on a seeded Gaussian random projection to proj dimensions
// (Johnson-Lindenstrauss, as the reference does to cut the cost); proj ≤ 0
// or ≥ dim searches the rows themselves. To bound the cost, the search runs
// over a seeded random candidate subset of at most 10·target rows.
func Coreset(x []float32, n, dim, target, proj int, seed uint64) []int {
	if target >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	if target < 1 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0xc0de))
	cand := r.Perm(n)
	if len(cand) > 10*target {
		cand = cand[:10*target]
	}
	m := len(cand)
	p := dim
	if proj > 0 && proj < dim {
		p = proj
	}
	y := make([]float32, m*p)
	if p == dim {
		for i, j := range cand {
			copy(y[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
		}
	} else {
		// y = x P, P dim×p with N(0, 1/p) entries.
		P := make([]float32, dim*p)
		for i := range P {
			P[i] = float32(r.NormFloat64() / math.Sqrt(float64(p)))
		}
		const chunk = 1024
		tensor.ParallelChunks((m+chunk-1)/chunk, 1, func(lo, hi int) {
			rows := make([]float32, chunk*dim)
			for c := lo; c < hi; c++ {
				i0, i1 := c*chunk, min((c+1)*chunk, m)
				for i := i0; i < i1; i++ {
					copy(rows[(i-i0)*dim:(i-i0+1)*dim], x[cand[i]*dim:(cand[i]+1)*dim])
				}
				gemm.SgemmSerial(false, false, i1-i0, p, dim, 1, rows, dim, P, p, 0, y[i0*p:], p)
			}
		})
	}
	return greedy(y, m, p, target, r.IntN(m), cand)
}

// greedy runs farthest-point sampling on the m rows of y (m×p) from row
// first and returns the chosen rows mapped through cand. It gives the
// plain search's result (ties go to the lower row) at a fraction of the
// cost: every candidate belongs to the cluster of its nearest chosen
// centre, and by the triangle inequality a new centre c can only come
// closer to x than x's centre a when |c − a|² < 4·|x − a|² (Elkan's
// bound). A whole cluster whose farthest member fails the bound is
// skipped, and the next centre is the farthest of the clusters' farthest
// members, so late iterations touch only the few clusters near c.
func greedy(y []float32, m, p, target, first int, cand []int) []int {
	minD := make([]float32, m)
	centres := make([]int32, 0, target) // row of each chosen centre
	members := make([][]int32, 0, target)
	maxD := make([]float32, 0, target) // farthest member's distance, per cluster
	far := make([]int32, 0, target)    // that member (lowest row on ties)
	cc := make([]float32, target)
	workers := tensor.Workers()
	moved := make([][]int32, workers)
	sel := make([]int, 0, target)
	cur := int32(first)
	// First centre: every candidate joins its cluster.
	all := make([]int32, m)
	c0 := y[int(cur)*p : (int(cur)+1)*p]
	tensor.ParallelChunks(m, 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			all[i] = int32(i)
			minD[i] = sqDist(y[i*p:(i+1)*p], c0)
		}
	})
	minD[cur] = 0
	sel = append(sel, cand[cur])
	centres = append(centres, cur)
	members = append(members, all)
	mv, fi := farthest(all, minD)
	maxD, far = append(maxD, mv), append(far, fi)
	for len(sel) < target {
		// Next centre: the farthest candidate overall.
		bv, bi := float32(-1), int32(-1)
		for a, v := range maxD {
			if v > bv || (v == bv && far[a] < bi) {
				bv, bi = v, far[a]
			}
		}
		if bv <= 0 {
			break // every candidate coincides with a chosen one
		}
		cur = bi
		sel = append(sel, cand[cur])
		c := y[int(cur)*p : (int(cur)+1)*p]
		nc := len(centres)
		tensor.ParallelChunks(nc, 256, func(lo, hi int) {
			for a := lo; a < hi; a++ {
				if maxD[a] > 0 {
					cc[a] = sqDist(y[int(centres[a])*p:(int(centres[a])+1)*p], c)
				}
			}
		})
		chunk := (nc + workers - 1) / workers
		tensor.ParallelChunks(workers, 1, func(lo, hi int) {
			for wk := lo; wk < hi; wk++ {
				out := moved[wk][:0]
				for a := wk * chunk; a < min((wk+1)*chunk, nc); a++ {
					if !(cc[a] < 4*maxD[a]) {
						continue
					}
					mem := members[a]
					keep := mem[:0]
					mv, fi := float32(-1), int32(-1)
					for _, i := range mem {
						md := minD[i]
						if cc[a] < 4*md {
							if s := sqDist(y[int(i)*p:(int(i)+1)*p], c); s < md || i == cur {
								if i == cur {
									s = 0
								}
								minD[i] = s
								out = append(out, i)
								continue
							}
						}
						keep = append(keep, i)
						if md > mv || (md == mv && i < fi) {
							mv, fi = md, i
						}
					}
					members[a], maxD[a], far[a] = keep, max(mv, 0), fi
				}
				moved[wk] = out
			}
		})
		var mem []int32
		for _, o := range moved {
			mem = append(mem, o...)
		}
		mv, fi := farthest(mem, minD)
		centres = append(centres, cur)
		members = append(members, mem)
		maxD, far = append(maxD, mv), append(far, fi)
	}
	return sel
}

// farthest returns the largest minD among rows (lowest row on ties).
func farthest(rows []int32, minD []float32) (float32, int32) {
	mv, fi := float32(0), int32(-1)
	for _, i := range rows {
		if md := minD[i]; md > mv || (md == mv && (fi < 0 || i < fi)) {
			mv, fi = md, i
		}
	}
	return mv, fi
}

// sqDist is the squared Euclidean distance of two equal-length vectors.
func sqDist(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1 float32
	i := 0
	for ; i+1 < len(a); i += 2 {
		t0, t1 := a[i]-b[i], a[i+1]-b[i+1]
		s0 += t0 * t0
		s1 += t1 * t1
	}
	if i < len(a) {
		t := a[i] - b[i]
		s0 += t * t
	}
	return s0 + s1
}
