package ops

// window is the geometry of a 2-D sliding window from an input plane
// (h×w) to an output plane (oh×ow).
type window struct {
	h, w, oh, ow   int
	kh, kw, sh, sw int
	pt, pl, dh, dw int
}

// span returns the output indices [lo,hi) of length out for which
// o*stride+off lies inside [0,in).
func span(off, stride, in, out int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if in-1-off >= 0 {
		hi = (in-1-off)/stride + 1
	}
	hi = min(hi, out)
	lo = min(lo, hi)
	return lo, hi
}

// im2col writes the columns for output positions [p0,p1) of c input planes
// src (each h×w) into dst, laid out as [c*kh*kw][p1-p0]; padding reads as 0.
func im2col(src []float32, c int, g *window, p0, p1 int, dst []float32) {
	np := p1 - p0
	hw := g.h * g.w
	for ci := 0; ci < c; ci++ {
		plane := src[ci*hw : ci*hw+hw]
		for ki := 0; ki < g.kh; ki++ {
			offy := ki*g.dh - g.pt
			for kj := 0; kj < g.kw; kj++ {
				offx := kj*g.dw - g.pl
				xlo, xhi := span(offx, g.sw, g.w, g.ow)
				row := dst[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				for p := p0; p < p1; {
					oy := p / g.ow
					ox0 := p - oy*g.ow
					ox1 := min(g.ow, ox0+p1-p)
					seg := row[p-p0 : p-p0+ox1-ox0]
					p += ox1 - ox0
					iy := oy*g.sh + offy
					a, b := max(ox0, xlo), min(ox1, xhi)
					if iy < 0 || iy >= g.h || a >= b {
						clear(seg)
						continue
					}
					xr := plane[iy*g.w : iy*g.w+g.w]
					clear(seg[:a-ox0])
					if g.sw == 1 {
						copy(seg[a-ox0:b-ox0], xr[a+offx:b+offx])
					} else {
						s := seg[a-ox0 : b-ox0]
						for i := range s {
							s[i] = xr[(a+i)*g.sw+offx]
						}
					}
					clear(seg[b-ox0:])
				}
			}
		}
	}
}

// col2im adds columns col ([c*kh*kw][oh*ow]) back into c planes dst (each
// h×w): the adjoint of im2col over all output positions.
func col2im(col []float32, c int, g *window, dst []float32) {
	np := g.oh * g.ow
	hw := g.h * g.w
	for ci := 0; ci < c; ci++ {
		plane := dst[ci*hw : ci*hw+hw]
		for ki := 0; ki < g.kh; ki++ {
			offy := ki*g.dh - g.pt
			ylo, yhi := span(offy, g.sh, g.h, g.oh)
			for kj := 0; kj < g.kw; kj++ {
				offx := kj*g.dw - g.pl
				xlo, xhi := span(offx, g.sw, g.w, g.ow)
				if xlo >= xhi {
					continue
				}
				row := col[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				for oy := ylo; oy < yhi; oy++ {
					iy := oy*g.sh + offy
					xr := plane[iy*g.w : iy*g.w+g.w]
					src := row[oy*g.ow+xlo : oy*g.ow+xhi]
					if g.sw == 1 {
						dst := xr[xlo+offx : xhi+offx]
						for i, v := range src {
							dst[i] += v
						}
					} else {
						for i, v := range src {
							xr[(xlo+i)*g.sw+offx] += v
						}
					}
				}
			}
		}
	}
}
