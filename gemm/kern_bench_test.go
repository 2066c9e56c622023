package gemm

import (
	"testing"
	"unsafe"
)

// BenchmarkMicroKernel times the full-tile micro-kernel alone on packed
// panels that stay in cache: the ceiling the blocked algorithm can reach
// on one core.
func BenchmarkMicroKernel(b *testing.B) {
	for _, ki := range kernels {
		b.Run(ki.name, func(b *testing.B) {
			const kc = 256
			ap := make([]float32, ki.mr*kc)
			bp := make([]float32, ki.nr*kc)
			c := make([]float32, ki.mr*ki.nr)
			kern := ki.rows[ki.mr]
			for i := 0; i < b.N; i++ {
				kern(kc, &ap[0], &bp[0], &c[0], ki.nr, 1, 1, uintptr(unsafe.Pointer(&bp[0])), 0)
			}
			b.ReportMetric(2*float64(ki.mr*ki.nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
