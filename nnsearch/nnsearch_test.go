package nnsearch

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// Brute-force reference: exact distances by direct differences.
func TestSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ n, d, nq, k int }{{1, 1, 1, 1}, {7, 3, 5, 3}, {1500, 17, 300, 5}, {2100, 64, 130, 1}, {10, 4, 3, 20}} {
		bank := make([]float32, tc.n*tc.d)
		for i := range bank {
			bank[i] = float32(r.NormFloat64())
		}
		q := make([]float32, tc.nq*tc.d)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		b := NewBank(bank, tc.n, tc.d)
		dist, idx := b.Search(q, tc.nq, tc.k)
		k := min(tc.k, tc.n)
		for i := 0; i < tc.nq; i++ {
			type pair struct {
				d float64
				j int
			}
			all := make([]pair, tc.n)
			for j := 0; j < tc.n; j++ {
				var s float64
				for c := 0; c < tc.d; c++ {
					v := float64(q[i*tc.d+c] - bank[j*tc.d+c])
					s += v * v
				}
				all[j] = pair{s, j}
			}
			sort.Slice(all, func(a, b int) bool { return all[a].d < all[b].d })
			for p := 0; p < k; p++ {
				got := float64(dist[i*k+p])
				if diff := got - all[p].d; diff > 1e-3*(1+all[p].d) || diff < -1e-3*(1+all[p].d) {
					t.Fatalf("case %+v query %d rank %d: distance %v, want %v", tc, i, p, got, all[p].d)
				}
				// The index must point at a vector with that distance.
				j := int(idx[i*k+p])
				var s float64
				for c := 0; c < tc.d; c++ {
					v := float64(q[i*tc.d+c] - bank[j*tc.d+c])
					s += v * v
				}
				if d := s - all[p].d; d > 1e-3*(1+s) || d < -1e-3*(1+s) {
					t.Fatalf("case %+v query %d rank %d: index %d has distance %v, want %v", tc, i, p, j, s, all[p].d)
				}
			}
		}
	}
}

func TestSearchSelfIsZero(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n, d := 300, 8
	bank := make([]float32, n*d)
	for i := range bank {
		bank[i] = float32(r.Float64())
	}
	dist, idx := NewBank(bank, n, d).Search(bank, n, 1)
	for i := 0; i < n; i++ {
		if dist[i] > 1e-5 || int(idx[i]) != i {
			t.Fatalf("row %d: nearest %d at %v", i, idx[i], dist[i])
		}
	}
}

// BenchmarkSearchPatchCore is one image's PatchCore query at 224 (28×28
// patches of 128 features) against a 16384-patch bank, k = 1.
func BenchmarkSearchPatchCore(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, d, nq = 16384, 128, 784
	bank := make([]float32, n*d)
	for i := range bank {
		bank[i] = r.Float32()
	}
	q := make([]float32, nq*d)
	for i := range q {
		q[i] = r.Float32()
	}
	bk := NewBank(bank, n, d)
	b.SetBytes(int64(nq) * n * d * 2) // flops, reported as "MB/s" = MFLOP/s
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bk.Search(q, nq, 1)
	}
}
