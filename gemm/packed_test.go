package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// packedFn runs a product through PackA and SgemmPacked(Serial), in the
// signature checkCase takes (alpha must be 1).
func packedFn(t *testing.T, parallel bool) func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) {
	return func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		if alpha != 1 {
			t.Fatalf("packed products have alpha 1, case has %v", alpha)
		}
		pa := PackA(tA, m, k, a, lda)
		if pa.Rows() != m || pa.Depth() != k {
			t.Fatalf("PackA %dx%d reports %dx%d", m, k, pa.Rows(), pa.Depth())
		}
		if parallel {
			SgemmPacked(pa, tB, n, b, ldb, beta, c, ldc)
		} else {
			SgemmPackedSerial(pa, tB, n, b, ldb, beta, c, ldc)
		}
	}
}

// TestSgemmPackedShapes checks prepacked-A products against the reference
// on odd, block-crossing and narrow (fallback) sizes, with every kernel
// family at default and tiny blocking, serial and split over 4 workers.
func TestSgemmPackedShapes(t *testing.T) {
	dims := [][3]int{
		{1, 1, 1}, {5, 1, 9}, {13, 17, 19}, {14, 32, 16}, {15, 33, 31}, {29, 65, 70},
		{7, 17, 259}, {40, 3, 300}, {2, 100, 64}, {43, 48, 24},
		{97, 211, 61}, {64, 500, 130}, // split over workers
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	runtime.GOMAXPROCS(4)
	withKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, d := range dims {
			for tr := 0; tr < 4; tr++ {
				for _, par := range []bool{false, true} {
					if par != (d[0]*d[1]*d[2] >= minParallelFMA/8) {
						continue // small products run serially anyway
					}
					tc := gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: d[0], n: d[1], k: d[2],
						alpha: 1, beta: []float32{0, 1, 0.5}[r.IntN(3)],
						padA: r.IntN(4), padB: r.IntN(4), pC: r.IntN(4)}
					checkCase(t, r, tc, packedFn(t, par))
				}
			}
		}
	})
}

// TestSgemmPackedSameAsSgemm checks that a prepacked product is
// bit-identical to Sgemm's (same panels, same kernel, same order), so
// callers may switch paths freely.
func TestSgemmPackedSameAsSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 70, 99, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want, got := make([]float32, m*n), make([]float32, m*n)
	SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	SgemmPackedSerial(PackA(false, m, k, a, k), false, n, b, n, 0, got, n)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("C[%d] = %v, Sgemm gives %v", i, got[i], want[i])
		}
	}
}

func TestPackABadArgs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PackA with a short A did not panic")
		}
	}()
	PackA(false, 4, 5, make([]float32, 19), 5)
}
