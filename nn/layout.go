package nn

import (
	"fmt"

	"github.com/vigil-ad/vigil/tensor"
)

// SpaceToBatch splits every map of x [N,C,H,W] (H and W multiples of s)
// into its s² interleaved sub-grids and stacks them along the batch:
// out[(dy·s+dx)·N + n, c, y, x] = x[n, c, s·y+dy, s·x+dx]. Followed by
// unstrided layers and undone by BatchToSpace, it turns a strided layer
// into a dense one without recomputation (the multi-pooling of Bailer et
// al., used for dense patch descriptors).
func SpaceToBatch(x *Var, s int) *Var {
	n, c, h, w := x.Value.Dims4("nn.SpaceToBatch")
	if s < 1 || h%s != 0 || w%s != 0 {
		panic(fmt.Sprintf("nn.SpaceToBatch: map %dx%d is not a multiple of %d", h, w, s))
	}
	y := tensor.New(s*s*n, c, h/s, w/s)
	spaceBatch(x.Value.Data, y.Data, n*c, h, w, s, true)
	var res *Var
	res = result(y, []*Var{x}, func() {
		g := like(x.Value)
		spaceBatch(g.Data, res.Grad.Data, n*c, h, w, s, false)
		x.accum(g)
	})
	return res
}

// BatchToSpace is the inverse of SpaceToBatch: [s²·N,C,h,w] -> [N,C,s·h,s·w].
func BatchToSpace(x *Var, s int) *Var {
	nb, c, h, w := x.Value.Dims4("nn.BatchToSpace")
	if s < 1 || nb%(s*s) != 0 {
		panic(fmt.Sprintf("nn.BatchToSpace: batch %d is not a multiple of %d", nb, s*s))
	}
	n := nb / (s * s)
	y := tensor.New(n, c, h*s, w*s)
	spaceBatch(y.Data, x.Value.Data, n*c, h*s, w*s, s, false)
	var res *Var
	res = result(y, []*Var{x}, func() {
		g := like(x.Value)
		spaceBatch(res.Grad.Data, g.Data, n*c, h*s, w*s, s, true)
		x.accum(g)
	})
	return res
}

// spaceBatch moves values between a dense layout (planes of H×W, nc of
// them) and its s² sub-grids stacked along the batch; toBatch copies dense
// into grids, otherwise grids into dense. Both layouts hold nc planes per
// sub-grid block, so block k = dy·s+dx starts at k·nc·(H/s)·(W/s).
func spaceBatch(dense, grids []float32, nc, H, W, s int, toBatch bool) {
	h, w := H/s, W/s
	tensor.ParallelChunks(nc, 4, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dense[p*H*W : (p+1)*H*W]
			for dy := 0; dy < s; dy++ {
				for dx := 0; dx < s; dx++ {
					g := grids[((dy*s+dx)*nc+p)*h*w:][:h*w]
					for y := 0; y < h; y++ {
						row := d[(s*y+dy)*W+dx:]
						gr := g[y*w : (y+1)*w]
						if toBatch {
							for x := range gr {
								gr[x] = row[s*x]
							}
						} else {
							for x, v := range gr {
								row[s*x] = v
							}
						}
					}
				}
			}
		}
	})
}

// Transpose returns the transpose of a matrix x [M,K] as [K,M].
func Transpose(x *Var) *Var {
	s := x.Value.Shape
	if len(s) != 2 {
		panic(fmt.Sprintf("nn.Transpose: want a matrix, got shape %v", s))
	}
	m, k := s[0], s[1]
	y := tensor.New(k, m)
	transpose(y.Data, x.Value.Data, m, k)
	var res *Var
	res = result(y, []*Var{x}, func() {
		g := like(x.Value)
		transpose(g.Data, res.Grad.Data, k, m)
		x.accum(g)
	})
	return res
}

// transpose writes the k×m transpose of the m×k matrix a into dst.
func transpose(dst, a []float32, m, k int) {
	for i := 0; i < m; i++ {
		for j, v := range a[i*k : (i+1)*k] {
			dst[j*m+i] = v
		}
	}
}
