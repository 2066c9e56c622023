// Package nnsearch finds nearest neighbours by brute force on the engine's
// SGEMM: squared distances are |q|² + |b|² − 2 q·b, computed a block of
// queries against a block of the bank at a time, in parallel, keeping a
// running top-k (the query × bank distance matrix is never formed). It
// serves the k-NN, PatchCore and k-means code paths. Banks may be float16
// (converted block by block); IVF adds approximate search over k-means
// inverted lists.
package nnsearch

import (
	"math"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// Bank is a set of N vectors of dimension D, row-major, stored as
// float32 (Data) or as float16 (NewBankHalf; Data is then nil and Row
// reads a row).
type Bank struct {
	N, D  int
	Data  []float32
	half  []uint16
	norms []float32 // |b_i|²
}

// NewBank wraps data (N×D, not copied) and precomputes the row norms.
func NewBank(data []float32, n, d int) *Bank {
	if len(data) != n*d {
		panic("nnsearch.NewBank: data length does not match n*d")
	}
	b := &Bank{N: n, D: d, Data: data, norms: rowNorms(data, n, d)}
	return b
}

// NewBankHalf wraps float16 data (N×D, not copied). Search converts one
// block of rows at a time into a reused buffer, so the bank stays at half
// the memory of a float32 one.
func NewBankHalf(data []uint16, n, d int) *Bank {
	if len(data) != n*d {
		panic("nnsearch.NewBankHalf: data length does not match n*d")
	}
	b := &Bank{N: n, D: d, half: data, norms: make([]float32, n)}
	tensor.ParallelChunks(n, 256, func(lo, hi int) {
		row := make([]float32, d)
		for i := lo; i < hi; i++ {
			var s float32
			for _, v := range b.Row(i, row) {
				s += v * v
			}
			b.norms[i] = s
		}
	})
	return b
}

// Half reports whether the bank is stored as float16.
func (b *Bank) Half() bool { return b.half != nil }

// HalfData returns the float16 rows of a NewBankHalf bank (nil otherwise).
func (b *Bank) HalfData() []uint16 { return b.half }

// Row returns row i as float32: a slice of Data, or for a float16 bank
// the row converted into dst (grown to D when shorter).
func (b *Bank) Row(i int, dst []float32) []float32 {
	if b.half == nil {
		return b.Data[i*b.D : (i+1)*b.D]
	}
	if cap(dst) < b.D {
		dst = make([]float32, b.D)
	}
	dst = dst[:b.D]
	for j, h := range b.half[i*b.D : (i+1)*b.D] {
		dst[j] = tensor.HalfToFloat32(h)
	}
	return dst
}

// AppendRow appends row i, as float32, to dst.
func (b *Bank) AppendRow(dst []float32, i int) []float32 {
	if b.half == nil {
		return append(dst, b.Data[i*b.D:(i+1)*b.D]...)
	}
	for _, h := range b.half[i*b.D : (i+1)*b.D] {
		dst = append(dst, tensor.HalfToFloat32(h))
	}
	return dst
}

// block returns rows b0..b1−1 as float32: a slice of Data, or converted
// into buf for a float16 bank.
func (b *Bank) block(b0, b1 int, buf []float32) []float32 {
	if b.half == nil {
		return b.Data[b0*b.D : b1*b.D]
	}
	buf = buf[:(b1-b0)*b.D]
	for j, h := range b.half[b0*b.D : b1*b.D] {
		buf[j] = tensor.HalfToFloat32(h)
	}
	return buf
}

func rowNorms(data []float32, n, d int) []float32 {
	out := make([]float32, n)
	tensor.Parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float32
			for _, v := range data[i*d : (i+1)*d] {
				s += v * v
			}
			out[i] = s
		}
	})
	return out
}

// Block sizes: a query block times a bank block of distances stays in L2.
const (
	queryBlock = 128
	bankBlock  = 1024
)

// Search returns, for each of the nq query rows of q (nq×D), the k
// smallest squared Euclidean distances in ascending order and the bank
// indices they belong to, as nq×k row-major slices. k is clipped to N.
func (b *Bank) Search(q []float32, nq, k int) (dist []float32, idx []int32) {
	if k > b.N {
		k = b.N
	}
	if len(q) != nq*b.D {
		panic("nnsearch.Search: query length does not match nq*D")
	}
	dist = make([]float32, nq*k)
	idx = make([]int32, nq*k)
	if k == 0 || nq == 0 {
		return dist, idx
	}
	qn := rowNorms(q, nq, b.D)
	for i := range dist {
		dist[i], idx[i] = float32(math.Inf(1)), -1
	}
	nblocks := (nq + queryBlock - 1) / queryBlock
	// Each worker takes a run of query blocks and walks the bank once,
	// block by block, so a float16 bank block is converted once per
	// worker run rather than once per query block.
	tensor.ParallelChunks(nblocks, 1, func(lo, hi int) {
		g := tensor.GetDirty(queryBlock * bankBlock)
		defer tensor.Put(g)
		var conv []float32
		if b.half != nil {
			conv = tensor.GetDirty(bankBlock * b.D)
			defer tensor.Put(conv)
		}
		for b0 := 0; b0 < b.N; b0 += bankBlock {
			b1 := min(b0+bankBlock, b.N)
			nb := b1 - b0
			bb := b.block(b0, b1, conv)
			for blk := lo; blk < hi; blk++ {
				q0 := blk * queryBlock
				q1 := min(q0+queryBlock, nq)
				m := q1 - q0
				// g = Q_blk · B_blkᵀ
				gemm.SgemmSerial(false, true, m, nb, b.D, 1, q[q0*b.D:], b.D, bb, b.D, 0, g, nb)
				if k == 1 {
					nearest1(g, m, nb, b.norms[b0:b1], dist[q0:q1], idx[q0:q1], qn[q0:q1], int32(b0))
					continue
				}
				for i := 0; i < m; i++ {
					row := g[i*nb : (i+1)*nb]
					dk := dist[(q0+i)*k : (q0+i+1)*k]
					ik := idx[(q0+i)*k : (q0+i+1)*k]
					worst := dk[k-1]
					base := qn[q0+i]
					for j, dot := range row {
						d := base + b.norms[b0+j] - 2*dot
						if d < worst {
							if d < 0 {
								d = 0 // rounding of the expansion
							}
							insert(dk, ik, d, int32(b0+j))
							worst = dk[k-1]
						}
					}
				}
			}
		}
	})
	return dist, idx
}

// nearest1 is the k = 1 case: for each of the m rows of dot products g
// (m×nb) it keeps the smallest |q|² + |b|² − 2 q·b in dist/idx. The scan
// compares |b|²/2 − q·b and adds |q|² only when a row improves.
func nearest1(g []float32, m, nb int, norms, dist []float32, idx []int32, qn []float32, off int32) {
	for i := 0; i < m; i++ {
		row := g[i*nb : (i+1)*nb]
		row = row[:len(norms)]
		best, bj := float32(math.Inf(1)), -1
		for j, dot := range row {
			if v := norms[j] - 2*dot; v < best {
				best, bj = v, j
			}
		}
		if bj < 0 {
			continue
		}
		if d := max(qn[i]+best, 0); d < dist[i] {
			dist[i], idx[i] = d, off+int32(bj)
		}
	}
}

// insert places (d, j) into the ascending top-k lists, dropping the last.
func insert(dk []float32, ik []int32, d float32, j int32) {
	p := len(dk) - 1
	for p > 0 && dk[p-1] > d {
		dk[p] = dk[p-1]
		ik[p] = ik[p-1]
		p--
	}
	dk[p] = d
	ik[p] = j
}
