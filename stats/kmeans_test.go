package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// On well separated blobs k-means converges to the global optimum, which
// brute force gives directly: the centroids are the blobs' own means.
func TestKMeansMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	centres := [][3]float32{{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {10, 10, 5}, {5, 5, 20}}
	const n, d, k = 300, 3, 5 // n ≤ 64·k: Lloyd runs on every row
	x := make([]float32, n*d)
	lab := make([]int, n)
	for i := 0; i < n; i++ {
		lab[i] = i % k
		for a := 0; a < d; a++ {
			x[i*d+a] = centres[lab[i]][a] + float32(r.NormFloat64()*0.5)
		}
	}
	want := make([]float64, k*d)
	cnt := make([]float64, k)
	for i := 0; i < n; i++ {
		cnt[lab[i]]++
		for a := 0; a < d; a++ {
			want[lab[i]*d+a] += float64(x[i*d+a])
		}
	}
	for c := 0; c < k; c++ {
		for a := 0; a < d; a++ {
			want[c*d+a] /= cnt[c]
		}
	}
	got := KMeans(x, n, d, k, 20, 1)
	for c := 0; c < k; c++ {
		found := false
		for j := 0; j < k; j++ {
			var s float64
			for a := 0; a < d; a++ {
				t := float64(got[j*d+a]) - want[c*d+a]
				s += t * t
			}
			if s < 1e-8 {
				found = true
			}
		}
		if !found {
			t.Fatalf("blob mean %v not among the centroids %v", want[c*d:(c+1)*d], got)
		}
	}
	// Assign agrees with a brute-force nearest centroid.
	as := Assign(nil, got, k, x, n, d)
	for i := 0; i < n; i++ {
		best, bi := math.Inf(1), -1
		for j := 0; j < k; j++ {
			var s float64
			for a := 0; a < d; a++ {
				t := float64(x[i*d+a] - got[j*d+a])
				s += t * t
			}
			if s < best {
				best, bi = s, j
			}
		}
		if int(as[i]) != bi {
			t.Fatalf("row %d assigned to %d, nearest is %d", i, as[i], bi)
		}
	}
	// Same seed, same centroids.
	again := KMeans(x, n, d, k, 20, 1)
	for i := range got {
		if got[i] != again[i] {
			t.Fatal("k-means is not deterministic for a fixed seed")
		}
	}
}
