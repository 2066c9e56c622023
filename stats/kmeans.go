package stats

import (
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/nnsearch"
	"github.com/vigil-ad/vigil/tensor"
)

// KMeans clusters the n rows of x (n×dim) into k centroids with seeded
// k-means++ seeding and Lloyd iterations and returns the k×dim centroids.
// Seeding runs on a seeded random sample of at most 16·k rows (its cost is
// sequential in k), the Lloyd steps on a sample of at most 64·k rows (as
// FAISS caps points per centroid), so the cost does not grow with n. An
// empty cluster keeps its centroid. k must be in 1..n.
func KMeans(x []float32, n, dim, k, iters int, seed uint64) []float32 {
	if k < 1 || k > n || len(x) < n*dim {
		panic("stats.KMeans: k out of range 1..n or x shorter than n×dim")
	}
	r := rand.New(rand.NewPCG(seed, 0x4b3a))
	cent := make([]float32, k*dim)
	if n > 64*k {
		nl := 64 * k
		sub := make([]float32, nl*dim)
		for i, j := range r.Perm(n)[:nl] {
			copy(sub[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
		}
		x, n = sub, nl
	}
	sample := x
	ns := n
	if n > 16*k {
		ns = 16 * k
		sample = make([]float32, ns*dim)
		for i, j := range r.Perm(n)[:ns] {
			copy(sample[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
		}
	}
	first := r.IntN(ns)
	copy(cent[:dim], sample[first*dim:(first+1)*dim])
	// k-means++: each next centroid drawn with probability ∝ D².
	d2 := make([]float64, ns)
	for i := range d2 {
		d2[i] = math.Inf(1)
	}
	for c := 1; c < k; c++ {
		prev := cent[(c-1)*dim : c*dim]
		tensor.ParallelChunks(ns, 2048, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var s float64
				for a, v := range sample[i*dim : (i+1)*dim] {
					t := float64(v - prev[a])
					s += t * t
				}
				d2[i] = math.Min(d2[i], s)
			}
		})
		total := 0.0
		for _, v := range d2 {
			total += v
		}
		pick := 0
		if total > 0 {
			u := r.Float64() * total
			for pick = 0; pick < ns-1; pick++ {
				u -= d2[pick]
				if u <= 0 {
					break
				}
			}
		} else {
			pick = r.IntN(ns)
		}
		copy(cent[c*dim:(c+1)*dim], sample[pick*dim:(pick+1)*dim])
	}
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	for it := 0; it < iters; it++ {
		idx := Assign(nil, cent, k, x, n, dim)
		clear(sums)
		clear(counts)
		for i, c := range idx {
			counts[c]++
			for a, v := range x[i*dim : (i+1)*dim] {
				sums[int(c)*dim+a] += float64(v)
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] == 0 {
				continue
			}
			for a := 0; a < dim; a++ {
				cent[c*dim+a] = float32(sums[c*dim+a] / float64(counts[c]))
			}
		}
	}
	return cent
}

// Assign writes into dst (n) the index of the nearest of the k centroids
// (k×dim) for each of the n rows of x, and returns it.
func Assign(dst []int32, cent []float32, k int, x []float32, n, dim int) []int32 {
	_, idx := nnsearch.NewBank(cent[:k*dim], k, dim).Search(x[:n*dim], n, 1)
	dst = grow(dst, n)
	copy(dst, idx)
	return dst
}
