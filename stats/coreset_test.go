package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteGreedy is plain farthest-point sampling: every candidate's distance
// to the chosen set updated at every step, the farthest (lowest row on
// ties) chosen next.
func bruteGreedy(y []float32, m, p, target, first int) []int {
	minD := make([]float64, m)
	for i := range minD {
		minD[i] = math.Inf(1)
	}
	var sel []int
	cur := first
	for len(sel) < target {
		sel = append(sel, cur)
		for i := 0; i < m; i++ {
			var s float64
			for a := 0; a < p; a++ {
				d := float64(y[i*p+a] - y[cur*p+a])
				s += d * d
			}
			minD[i] = math.Min(minD[i], s)
		}
		best, next := -1.0, 0
		for i := 0; i < m; i++ {
			if minD[i] > best {
				best, next = minD[i], i
			}
		}
		cur = next
	}
	return sel
}

// The bounded greedy search picks exactly what plain farthest-point
// sampling picks.
func TestGreedyMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const m, p, target = 2000, 7, 200
	y := make([]float32, m*p)
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	cand := r.Perm(m)
	got := greedy(y, m, p, target, 11, cand)
	want := bruteGreedy(y, m, p, target, 11)
	for s := range want {
		if got[s] != cand[want[s]] {
			t.Fatalf("step %d: picked %d, brute force picks %d", s, got[s], cand[want[s]])
		}
	}
}

// Without projection Coreset is brute-force greedy over its seeded
// candidate order (all rows here: target·10 ≥ n); the first pick follows
// the same seeded stream.
func TestCoresetWithoutProjectionMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const n, dim, target = 300, 4, 40
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	got := Coreset(x, n, dim, target, 0, 3)
	rs := rand.New(rand.NewPCG(3, 0xc0de))
	cand := rs.Perm(n)
	y := make([]float32, n*dim)
	for i, j := range cand {
		copy(y[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
	}
	want := bruteGreedy(y, n, dim, target, rs.IntN(n))
	for s := range want {
		if got[s] != cand[want[s]] {
			t.Fatalf("step %d: picked %d, brute force picks %d", s, got[s], cand[want[s]])
		}
	}
	if all := Coreset(x, n, dim, n, 0, 3); len(all) != n {
		t.Fatalf("target n gives %d rows", len(all))
	}
}

// On well separated clusters the projected search picks one point from
// every cluster before any second one.
func TestCoresetCoversClusters(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const k, per, dim = 8, 50, 6
	x := make([]float32, k*per*dim)
	for c := 0; c < k; c++ {
		for i := 0; i < per; i++ {
			for a := 0; a < dim; a++ {
				centre := 0.0
				if a == c%dim {
					centre = 100 * float64(1+c/dim)
				}
				x[((c*per)+i)*dim+a] = float32(centre + r.NormFloat64())
			}
		}
	}
	sel := Coreset(x, k*per, dim, k, 4, 7)
	seen := map[int]bool{}
	for _, j := range sel {
		seen[j/per] = true
	}
	if len(sel) != k || len(seen) != k {
		t.Fatalf("coreset %v covers clusters %v, want all %d", sel, seen, k)
	}
}

// BenchmarkCoreset selects 4096 of 40960 clustered 128-d patches.
func BenchmarkCoreset(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	const n, dim, target = 40960, 128, 4096
	centres := make([]float32, 64*dim)
	for i := range centres {
		centres[i] = float32(r.NormFloat64() * 3)
	}
	x := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		c := r.IntN(64)
		for a := 0; a < dim; a++ {
			x[i*dim+a] = centres[c*dim+a] + float32(r.NormFloat64())
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Coreset(x, n, dim, target, 32, 1)
	}
}
