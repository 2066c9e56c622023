package nnsearch

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/tensor"
)

// IVF is an inverted-file index over a Bank for approximate nearest
// neighbour search: every bank row belongs to the list of its nearest
// centroid, and a query is compared only with the rows of the lists of
// its nprobe nearest centroids. Rows are stored list by list, so each
// list is searched by SGEMM against the queries that probe it.
type IVF struct {
	D      int
	cent   *Bank     // nlist centroids
	data   []float32 // bank rows reordered list by list
	norms  []float32 // their |b|²
	orig   []int32   // bank index of each reordered row
	starts []int     // list l holds rows starts[l]..starts[l+1]−1
}

// NewIVF builds the index of bank b on the nlist centroids (nlist×D,
// e.g. from stats.KMeans on the bank). The bank's rows are copied (as
// float32, also from a float16 bank).
func NewIVF(b *Bank, centroids []float32, nlist int) (*IVF, error) {
	if nlist < 1 || len(centroids) != nlist*b.D {
		return nil, fmt.Errorf("nnsearch.NewIVF: centroids have %d values, want %d lists × %d dimensions", len(centroids), nlist, b.D)
	}
	ix := &IVF{D: b.D, cent: NewBank(centroids, nlist, b.D)}
	assign := make([]int32, b.N)
	// Assigned in chunks, so a float16 bank is converted a chunk at a time.
	const chunk = 4096
	buf := make([]float32, min(chunk, b.N)*b.D)
	for i0 := 0; i0 < b.N; i0 += chunk {
		i1 := min(i0+chunk, b.N)
		_, a := ix.cent.Search(b.block(i0, i1, buf), i1-i0, 1)
		copy(assign[i0:], a)
	}
	// Counting sort of the rows by list, stable so ties keep bank order.
	ix.starts = make([]int, nlist+1)
	for _, l := range assign {
		ix.starts[l+1]++
	}
	for l := 0; l < nlist; l++ {
		ix.starts[l+1] += ix.starts[l]
	}
	next := append([]int(nil), ix.starts[:nlist]...)
	ix.data = make([]float32, b.N*b.D)
	ix.norms = make([]float32, b.N)
	ix.orig = make([]int32, b.N)
	row := make([]float32, b.D)
	for i, l := range assign {
		p := next[l]
		next[l]++
		copy(ix.data[p*b.D:(p+1)*b.D], b.Row(i, row))
		ix.norms[p] = b.norms[i]
		ix.orig[p] = int32(i)
	}
	return ix, nil
}

// Lists is the number of inverted lists.
func (ix *IVF) Lists() int { return ix.cent.N }

// Search returns, for each of the nq query rows of q (nq×D), the smallest
// squared distance to a bank row among the lists of its nprobe nearest
// centroids and that row's bank index (ties: the lower index). nprobe ≥
// Lists() searches every row (exact).
func (ix *IVF) Search(q []float32, nq, nprobe int) (dist []float32, idx []int32) {
	if len(q) != nq*ix.D {
		panic("nnsearch.IVF.Search: query length does not match nq*D")
	}
	nprobe = max(1, min(nprobe, ix.cent.N))
	dist = make([]float32, nq)
	idx = make([]int32, nq)
	if nq == 0 {
		return dist, idx
	}
	_, probes := ix.cent.Search(q, nq, nprobe)
	// Invert the probes: for each list, the (query, probe slot) pairs.
	nl := ix.cent.N
	qstart := make([]int, nl+1)
	for _, l := range probes {
		qstart[l+1]++
	}
	for l := 0; l < nl; l++ {
		qstart[l+1] += qstart[l]
	}
	slots := make([]int32, nq*nprobe) // slot = query·nprobe + probe
	next := append([]int(nil), qstart[:nl]...)
	for s, l := range probes {
		slots[next[l]] = int32(s)
		next[l]++
	}
	// Every slot is owned by one list, so lists run in parallel and write
	// their slot's best without contention; queries reduce at the end.
	sd := make([]float32, nq*nprobe)
	si := make([]int32, nq*nprobe)
	qn := rowNorms(q, nq, ix.D)
	tensor.ParallelChunks(nl, 1, func(lo, hi int) {
		qbuf := tensor.GetDirty(queryBlock * ix.D)
		g := tensor.GetDirty(queryBlock * bankBlock)
		defer tensor.Put(qbuf)
		defer tensor.Put(g)
		for l := lo; l < hi; l++ {
			b0, b1 := ix.starts[l], ix.starts[l+1]
			ls := slots[qstart[l]:qstart[l+1]]
			for s0 := 0; s0 < len(ls); s0 += queryBlock {
				blk := ls[s0:min(s0+queryBlock, len(ls))]
				m := len(blk)
				for i, s := range blk {
					qi := int(s) / nprobe
					copy(qbuf[i*ix.D:(i+1)*ix.D], q[qi*ix.D:(qi+1)*ix.D])
					sd[s], si[s] = float32(math.Inf(1)), -1
				}
				for r0 := b0; r0 < b1; r0 += bankBlock {
					r1 := min(r0+bankBlock, b1)
					nb := r1 - r0
					gemm.SgemmSerial(false, true, m, nb, ix.D, 1, qbuf, ix.D, ix.data[r0*ix.D:], ix.D, 0, g, nb)
					for i, s := range blk {
						row := g[i*nb : (i+1)*nb]
						best, bj := float32(math.Inf(1)), -1
						for j, dot := range row {
							if v := ix.norms[r0+j] - 2*dot; v < best || (v == best && bj >= 0 && ix.orig[r0+j] < ix.orig[r0+bj]) {
								best, bj = v, j
							}
						}
						if bj < 0 {
							continue
						}
						d := max(qn[int(s)/nprobe]+best, 0)
						o := ix.orig[r0+bj]
						if d < sd[s] || (d == sd[s] && o < si[s]) {
							sd[s], si[s] = d, o
						}
					}
				}
			}
		}
	})
	for i := 0; i < nq; i++ {
		bd, bi := float32(math.Inf(1)), int32(-1)
		for p := i * nprobe; p < (i+1)*nprobe; p++ {
			if si[p] >= 0 && (sd[p] < bd || (sd[p] == bd && si[p] < bi)) {
				bd, bi = sd[p], si[p]
			}
		}
		dist[i], idx[i] = bd, bi
	}
	// A query whose probed lists are all empty (k-means may leave a
	// centroid without rows) falls back to the exact search.
	var lost []int
	for i, j := range idx {
		if j < 0 {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		all := &Bank{N: len(ix.orig), D: ix.D, Data: ix.data, norms: ix.norms}
		lq := make([]float32, 0, len(lost)*ix.D)
		for _, i := range lost {
			lq = append(lq, q[i*ix.D:(i+1)*ix.D]...)
		}
		ld, li := all.Search(lq, len(lost), 1)
		for a, i := range lost {
			dist[i], idx[i] = ld[a], ix.orig[li[a]]
		}
	}
	return dist, idx
}
