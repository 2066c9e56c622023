package ops

import "github.com/vigil-ad/vigil/tensor"

// shiftedWeightGrad computes dW for a stride-1, non-pointwise convolution
// without im2col. With x copied into zero-padded planes of pitch wp and dY
// widened to wp columns (zeros past ow), the column of x that kernel tap
// (ki,kj) sees is a contiguous run of the padded plane starting at
// ki*dh*wp + kj*dw, the same for every channel. So each tap is one GEMM
//
//	dW[:, :, ki, kj] += dY'(Cout/G × OH·wp) · Xshift(Cin/G × OH·wp)ᵀ
//
// and the only data preparation is the padded copy of x and dY (about
// 1/(kh·kw) of what im2col writes). Images run in parallel, each piece
// accumulating into its own [tap][Cout/G·Cin/G] buffer, merged in order.
func shiftedWeightGrad(dw, x, dy []float32, s *convShape) {
	g := &s.win
	iy0, rows, wp := g.band(0, g.oh)
	kk := g.kh * g.kw
	// The last tap reads dw*(kw-1) floats past the band; keep them zero.
	pitch := rows*wp + g.dw*(g.kw-1)
	np := g.oh * wp
	hw, P := g.h*g.w, g.oh*g.ow
	mk := s.coutg * s.cing
	parallelReduce(s.n, s.g*kk*mk, func(lo, hi int, part []float32) {
		xb := tensor.GetDirty(s.cing * pitch)
		dyb := tensor.GetDirty(s.coutg * np)
		for img := lo; img < hi; img++ {
			for gi := 0; gi < s.g; gi++ {
				xs := x[(img*s.cin+gi*s.cing)*hw:]
				for ci := 0; ci < s.cing; ci++ {
					b := xb[ci*pitch : (ci+1)*pitch]
					g.fillBand(xs[ci*hw:(ci+1)*hw], b, iy0, rows, wp)
					clear(b[rows*wp:])
				}
				dys := dy[(img*s.cout+gi*s.coutg)*P:]
				for co := 0; co < s.coutg; co++ {
					for oy := 0; oy < g.oh; oy++ {
						d := dyb[co*np+oy*wp : co*np+(oy+1)*wp]
						copy(d, dys[co*P+oy*g.ow:co*P+(oy+1)*g.ow])
						clear(d[g.ow:])
					}
				}
				pg := part[gi*kk*mk:]
				for ki := 0; ki < g.kh; ki++ {
					for kj := 0; kj < g.kw; kj++ {
						off := ki*g.dh*wp + kj*g.dw
						k := ki*g.kw + kj
						sgemmSerial(false, true, s.coutg, s.cing, np, 1, dyb, np, xb[off:], pitch, 1, pg[k*mk:], s.cing)
					}
				}
			}
		}
		tensor.Put(dyb)
		tensor.Put(xb)
	}, func(part []float32) {
		for gi := 0; gi < s.g; gi++ {
			for k := 0; k < kk; k++ {
				src := part[(gi*kk+k)*mk : (gi*kk+k+1)*mk]
				for co := 0; co < s.coutg; co++ {
					row := dw[(gi*s.coutg+co)*s.cing*kk:]
					for ci, v := range src[co*s.cing : (co+1)*s.cing] {
						row[ci*kk+k] += v
					}
				}
			}
		}
	})
}
