package ops

import "github.com/vigil-ad/vigil/tensor"

// shiftedWeightGrad computes dW for a non-pointwise convolution without
// im2col. The zero-padded input is split into sh·sw phase planes
// (phase (a,b) holds padded pixels (i·sh+a, j·sw+b)) of pitch wq, and dY is
// widened to wq columns (zeros past ow). Kernel tap (ki,kj) then reads, for
// every output pixel, one phase plane at a fixed offset, so its input
// column is a contiguous run, the same for every channel, and each tap is
// one GEMM
//
//	dW[:, :, ki, kj] += dY'(Cout/G × OH·wq) · Xphase(Cin/G × OH·wq)ᵀ
//
// The only data preparation is the phase copy of x and the widened dY
// (about 1/(kh·kw) of what im2col writes). Images run in parallel, each
// piece accumulating into its own [tap][Cout/G·Cin/G] buffer, merged in
// order.
func shiftedWeightGrad(dw, x, dy []float32, s *convShape) {
	g := &s.win
	kk := g.kh * g.kw
	offyMax, offxMax := g.dh*(g.kh-1)/g.sh, g.dw*(g.kw-1)/g.sw
	wq := g.ow + offxMax + 1
	rq := g.oh + offyMax + 1
	phases := g.sh * g.sw
	planeQ := rq * wq
	chanQ := phases * planeQ // one input channel's phase planes
	np := g.oh * wq
	hw, P := g.h*g.w, g.oh*g.ow
	mk := s.coutg * s.cing
	parallelReduce(s.n, s.g*kk*mk, func(lo, hi int, part []float32) {
		xb := tensor.GetDirty(s.cing * chanQ)
		dyb := tensor.GetDirty(s.coutg * np)
		prow := tensor.GetDirty(wq * g.sw)
		for img := lo; img < hi; img++ {
			for gi := 0; gi < s.g; gi++ {
				xs := x[(img*s.cin+gi*s.cing)*hw:]
				for ci := 0; ci < s.cing; ci++ {
					g.fillPhases(xs[ci*hw:(ci+1)*hw], xb[ci*chanQ:(ci+1)*chanQ], prow, rq, wq)
				}
				dys := dy[(img*s.cout+gi*s.coutg)*P:]
				for co := 0; co < s.coutg; co++ {
					for oy := 0; oy < g.oh; oy++ {
						d := dyb[co*np+oy*wq : co*np+(oy+1)*wq]
						copy(d, dys[co*P+oy*g.ow:co*P+(oy+1)*g.ow])
						clear(d[g.ow:])
					}
				}
				pg := part[gi*kk*mk:]
				for ki := 0; ki < g.kh; ki++ {
					for kj := 0; kj < g.kw; kj++ {
						ey, ex := ki*g.dh, kj*g.dw
						off := ((ey%g.sh)*g.sw+ex%g.sw)*planeQ + (ey/g.sh)*wq + ex/g.sw
						k := ki*g.kw + kj
						sgemmSerial(false, true, s.coutg, s.cing, np, 1, dyb, np, xb[off:], chanQ, 1, pg[k*mk:], s.cing)
					}
				}
			}
		}
		tensor.Put(prow)
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

// fillPhases writes the sh·sw phase planes (rq×wq each) of one zero-padded
// input plane into dst; prow is scratch for one padded row (wq·sw floats).
func (g *window) fillPhases(plane, dst, prow []float32, rq, wq int) {
	planeQ := rq * wq
	wpad := wq * g.sw
	ncopy := max(0, min(g.w, wpad-g.pl))
	for r := 0; r < rq*g.sh; r++ {
		a, i := r%g.sh, r/g.sh
		iy := r - g.pt
		if iy < 0 || iy >= g.h {
			for b := 0; b < g.sw; b++ {
				clear(dst[(a*g.sw+b)*planeQ+i*wq : (a*g.sw+b)*planeQ+(i+1)*wq])
			}
			continue
		}
		row := prow[:wpad]
		clear(row[:min(g.pl, wpad)])
		copy(row[g.pl:g.pl+ncopy], plane[iy*g.w:iy*g.w+ncopy])
		clear(row[min(g.pl+ncopy, wpad):])
		switch g.sw {
		case 1:
			copy(dst[a*planeQ+i*wq:a*planeQ+(i+1)*wq], row)
		case 2:
			e := dst[(a*2)*planeQ+i*wq : (a*2)*planeQ+(i+1)*wq]
			o := dst[(a*2+1)*planeQ+i*wq : (a*2+1)*planeQ+(i+1)*wq]
			splitEvenOdd(row, e, o)
		default:
			for b := 0; b < g.sw; b++ {
				d := dst[(a*g.sw+b)*planeQ+i*wq : (a*g.sw+b)*planeQ+(i+1)*wq]
				for j := range d {
					d[j] = row[j*g.sw+b]
				}
			}
		}
	}
}
