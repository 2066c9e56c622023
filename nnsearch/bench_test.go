package nnsearch

import (
	"math/rand/v2"
	"testing"
)

// PatchCore's shape at 256: one batch of 8 images of 32×32 patches against a
// 16384-row bank of 192-d features.
func BenchmarkSearchBatch8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, d, nq = 16384, 192, 8192
	bank := NewBank(randRows(r, n, d), n, d)
	q := randRows(r, nq, d)
	b.SetBytes(int64(nq) * n * d * 2) // flops, reported as "MB/s" = MFLOP/s
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bank.Search(q, nq, 1)
	}
}
