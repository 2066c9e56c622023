package patchcore

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

func TestContract(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:1","size":64,"taps":[0,1],"ratio":0.25,"seed":3}`, detectortest.Options{Progress: true})
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:2","size":64,"taps":[0,1],"ratio":0.1,"seed":5,"half":true}`, detectortest.Options{NTrain: 12})
}

// The greedy k-center coreset must cover the set: on well separated
// clusters it picks one point from every cluster before any second one.
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
	sel := Coreset(x, k*per, dim, k, dim, 7)
	seen := map[int]bool{}
	for _, j := range sel {
		seen[j/per] = true
	}
	if len(sel) != k || len(seen) != k {
		t.Fatalf("coreset %v covers clusters %v, want all %d", sel, seen, k)
	}
}

// Brute-force check of the k-center objective: the coreset's covering
// radius is within the greedy 2-approximation of a random subset's.
func TestCoresetRadiusBeatsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	n, dim, m := 400, 5, 20
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	radius := func(sel []int) float64 {
		worst := 0.0
		for i := 0; i < n; i++ {
			best := math.Inf(1)
			for _, j := range sel {
				var s float64
				for a := 0; a < dim; a++ {
					d := float64(x[i*dim+a] - x[j*dim+a])
					s += d * d
				}
				best = math.Min(best, s)
			}
			worst = math.Max(worst, best)
		}
		return math.Sqrt(worst)
	}
	core := radius(Coreset(x, n, dim, m, dim, 3))
	rnd := radius(r.Perm(n)[:m])
	if core >= rnd {
		t.Fatalf("coreset radius %.3f not below a random subset's %.3f", core, rnd)
	}
}

// The bounded greedy search picks exactly what plain farthest-point
// sampling (every candidate's distance updated at every step) picks.
func TestGreedyMatchesPlainSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const m, p, target = 3000, 7, 300
	y := make([]float32, m*p)
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	cand := r.Perm(m)
	got := greedy(y, m, p, target, 11, cand)
	minD := make([]float64, m)
	for i := range minD {
		minD[i] = math.Inf(1)
	}
	cur := 11
	for step := 0; step < target; step++ {
		if got[step] != cand[cur] {
			t.Fatalf("step %d: picked %d, plain search picks %d", step, got[step], cand[cur])
		}
		best := -1.0
		for i := 0; i < m; i++ {
			var s float64
			for a := 0; a < p; a++ {
				d := float64(y[i*p+a] - y[cur*p+a])
				s += d * d
			}
			minD[i] = math.Min(minD[i], s)
		}
		next := 0
		for i := 0; i < m; i++ {
			if minD[i] > best {
				best, next = minD[i], i
			}
		}
		cur = next
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
