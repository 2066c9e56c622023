package gemm

import (
	"math/rand/v2"
	"testing"
)

// benchGemm times C = A·op(B) for every kernel family and reports
// GFLOP/s (2mnk flops per call).
func benchGemm(b *testing.B, tA, tB bool, m, n, k int, fn func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	orig := active.Load()
	defer active.Store(orig)
	r := rand.New(rand.NewPCG(9, 10))
	a, bm, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	for _, ki := range kernels {
		if ki.name == "generic" && m*n*k > 1<<26 {
			continue // minutes per op; not informative
		}
		b.Run(ki.name, func(b *testing.B) {
			active.Store(ki)
			fn(tA, tB, m, n, k, 1, a, lda, bm, ldb, 0, c, n) // warm pools
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fn(tA, tB, m, n, k, 1, a, lda, bm, ldb, 0, c, n)
			}
			b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkSgemm1024(b *testing.B) {
	benchGemm(b, false, false, 1024, 1024, 1024, Sgemm)
}

// BenchmarkSgemmIm2col: a 3×3 conv with 64 in/out channels on 56×56
// (ResNet-18 layer1) as GEMM, both orientations.
func BenchmarkSgemmIm2col(b *testing.B) {
	b.Run("M64_N3136_K576", func(b *testing.B) { benchGemm(b, false, false, 64, 3136, 576, Sgemm) })
	b.Run("M3136_N64_K576", func(b *testing.B) { benchGemm(b, false, false, 3136, 64, 576, Sgemm) })
}

// BenchmarkSgemmTrans: the back-propagation variants A^T·B and A·B^T.
func BenchmarkSgemmTrans(b *testing.B) {
	b.Run("AtB_M64_N3136_K576", func(b *testing.B) { benchGemm(b, true, false, 64, 3136, 576, Sgemm) })
	b.Run("ABt_M64_N576_K3136", func(b *testing.B) { benchGemm(b, false, true, 64, 576, 3136, Sgemm) })
}

func BenchmarkSgemmSerial1024(b *testing.B) {
	benchGemm(b, false, false, 1024, 1024, 1024, SgemmSerial)
}
