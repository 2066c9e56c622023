package nnsearch

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

func randRows(r *rand.Rand, n, d int) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func sq(a, b []float32) float64 {
	var s float64
	for i := range a {
		t := float64(a[i] - b[i])
		s += t * t
	}
	return s
}

// The IVF search equals a brute-force search restricted to the rows of
// each query's nprobe nearest centroids (found by brute force too), and
// with nprobe = every list it is the exact search.
func TestIVFMatchesRestrictedBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ n, d, nl, nq, probe int }{{1, 3, 1, 2, 1}, {300, 8, 7, 50, 2}, {2500, 20, 16, 300, 3}, {900, 5, 30, 40, 30}, {500, 6, 9, 20, 99}} {
		data := randRows(r, tc.n, tc.d)
		cent := randRows(r, tc.nl, tc.d)
		// Duplicate a row so that ties between lists and within a list occur.
		if tc.n > 10 {
			copy(data[7*tc.d:8*tc.d], data[3*tc.d:4*tc.d])
		}
		q := randRows(r, tc.nq, tc.d)
		if tc.n > 10 {
			copy(q[:tc.d], data[3*tc.d:4*tc.d])
		}
		ix, err := NewIVF(NewBank(data, tc.n, tc.d), cent, tc.nl)
		if err != nil {
			t.Fatal(err)
		}
		dist, idx := ix.Search(q, tc.nq, tc.probe)
		// Each row's list: its nearest centroid (lowest on ties).
		list := make([]int, tc.n)
		for j := range list {
			for c := 1; c < tc.nl; c++ {
				if sq(data[j*tc.d:(j+1)*tc.d], cent[c*tc.d:(c+1)*tc.d]) < sq(data[j*tc.d:(j+1)*tc.d], cent[list[j]*tc.d:(list[j]+1)*tc.d]) {
					list[j] = c
				}
			}
		}
		np := min(tc.probe, tc.nl)
		for i := 0; i < tc.nq; i++ {
			qi := q[i*tc.d : (i+1)*tc.d]
			order := make([]int, tc.nl)
			for c := range order {
				order[c] = c
			}
			sort.SliceStable(order, func(a, b int) bool {
				return sq(qi, cent[order[a]*tc.d:(order[a]+1)*tc.d]) < sq(qi, cent[order[b]*tc.d:(order[b]+1)*tc.d])
			})
			probed := map[int]bool{}
			for _, c := range order[:np] {
				probed[c] = true
			}
			best, bj := math.Inf(1), -1
			for j := 0; j < tc.n; j++ {
				if !probed[list[j]] {
					continue
				}
				if s := sq(qi, data[j*tc.d:(j+1)*tc.d]); s < best {
					best, bj = s, j
				}
			}
			if bj < 0 {
				// Only empty lists probed: the exact search answers.
				for j := 0; j < tc.n; j++ {
					if s := sq(qi, data[j*tc.d:(j+1)*tc.d]); s < best {
						best, bj = s, j
					}
				}
			}
			tol := 1e-4 * (1 + best)
			if math.Abs(float64(dist[i])-best) > tol {
				t.Fatalf("%+v query %d: distance %v, brute force %v (row %d)", tc, i, dist[i], best, bj)
			}
			if int(idx[i]) != bj && math.Abs(sq(qi, data[int(idx[i])*tc.d:(int(idx[i])+1)*tc.d])-best) > tol {
				t.Fatalf("%+v query %d: row %d, brute force row %d", tc, i, idx[i], bj)
			}
		}
		if tc.n > 10 && (idx[0] != 3 || dist[0] > 1e-5) {
			t.Fatalf("%+v: query equal to rows 3 and 7 got row %d at %v, want the lower row 3 at ~0", tc, idx[0], dist[0])
		}
	}
}

func TestIVFRejectsBadCentroids(t *testing.T) {
	b := NewBank(make([]float32, 12), 4, 3)
	if _, err := NewIVF(b, make([]float32, 5), 2); err == nil {
		t.Fatal("5 centroid values for 2 lists of 3 dimensions accepted")
	}
}

// A float16 bank searches exactly as the float32 bank of its converted
// values (the same GEMM on the same numbers, converted block by block),
// for k = 1 and k > 1, across several bank blocks.
func TestHalfBankMatchesConverted(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	const n, d, nq = 2600, 12, 700
	h := make([]uint16, n*d)
	f := make([]float32, n*d)
	for i := range h {
		h[i] = tensor.Float32ToHalf(float32(r.NormFloat64()))
		f[i] = tensor.HalfToFloat32(h[i])
	}
	q := randRows(r, nq, d)
	hb, fb := NewBankHalf(h, n, d), NewBank(f, n, d)
	if !hb.Half() || fb.Half() || len(hb.HalfData()) != n*d {
		t.Fatal("Half/HalfData do not tell the storage")
	}
	for _, k := range []int{1, 4} {
		hd, hi := hb.Search(q, nq, k)
		fd, fi := fb.Search(q, nq, k)
		for i := range hd {
			if hd[i] != fd[i] || hi[i] != fi[i] {
				t.Fatalf("k=%d entry %d: half bank (%v, %d), float32 bank (%v, %d)", k, i, hd[i], hi[i], fd[i], fi[i])
			}
		}
	}
	row := hb.Row(1234, nil)
	for j := range row {
		if row[j] != f[1234*d+j] {
			t.Fatalf("Row(1234)[%d] = %v, want %v", j, row[j], f[1234*d+j])
		}
	}
	// The IVF index reads a float16 bank's rows too.
	cent := randRows(r, 5, d)
	ih, err := NewIVF(hb, cent, 5)
	if err != nil {
		t.Fatal(err)
	}
	iff, _ := NewIVF(fb, cent, 5)
	a, ai := ih.Search(q, nq, 2)
	b, bi := iff.Search(q, nq, 2)
	for i := range a {
		if a[i] != b[i] || ai[i] != bi[i] {
			t.Fatalf("ivf query %d: half (%v, %d), float32 (%v, %d)", i, a[i], ai[i], b[i], bi[i])
		}
	}
}
