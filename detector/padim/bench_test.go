package padim

import (
	"math/rand/v2"
	"testing"
)

// benchDetector is a PaDiM model at the default shape (100 channels, a
// 32×32 grid at input 256) with random SPD factors.
func benchDetector(b *testing.B) (*Detector, []float32) {
	const k, L, n = 100, 1024, 8
	r := rand.New(rand.NewPCG(1, 2))
	d := &Detector{channels: make([]int, k), h: 32, w: 32}
	tri := k * (k + 1) / 2
	d.mean = make([]float32, L*k)
	d.chol = make([]float32, L*tri)
	for l := 0; l < L; l++ {
		o := l * tri
		for a := 0; a < k; a++ {
			for c := 0; c <= a; c++ {
				if c == a {
					d.chol[o] = 1 + r.Float32()
				} else {
					d.chol[o] = 0.1 * float32(r.NormFloat64())
				}
				o++
			}
		}
	}
	if err := d.prepare(); err != nil {
		b.Fatal(err)
	}
	rows := make([]float32, n*L*k)
	for i := range rows {
		rows[i] = float32(r.NormFloat64())
	}
	return d, rows
}

// One batch of 8 images: one GEMM per location (stats.Gaussian.MahalanobisBatch).
// A variant holding every location's factor as a full square matrix (no
// per-call unpacking) was slower: it reads twice the memory.
func BenchmarkMahalanobisBatch8(b *testing.B) {
	d, rows := benchDetector(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.mahalanobis(rows, 8)
	}
}
