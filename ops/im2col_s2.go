package ops

// Stride-2 im2col by phase planes. Output pixel (oy,ox) of kernel tap
// (ki,kj) reads input (2(oy+qy)+a, 2(ox+qx)+b), where a, qy and b, qx are
// the parity and half of ki·dh-pt and kj·dw-pl. Splitting each input plane
// once into its four parity planes, stored with pitch ow (the output
// width), makes every tap's column row, for all output rows of the tile,
// ONE contiguous copy from a parity plane at a fixed offset; only the |qx|
// columns per row that the copy takes from a neighbouring row (ox+qx
// outside [0,ow)) are patched afterwards. The row-by-row path copies kh·kw
// short runs per output row instead, which for the 16- and 32-wide maps of
// a training batch is bound by per-copy overhead.

// disableIm2colS2 forces the row-by-row im2col (tests compare).
var disableIm2colS2 = false

// floorDiv2 returns ⌊v/2⌋ and v mod 2 (in {0,1}) for any sign of v.
func floorDiv2(v int) (q, r int) {
	q = v >> 1
	return q, v - 2*q
}

// im2colS2 is im2colRows for sh = sw = 2. It reports false, writing
// nothing, when scratch is too small for the parity planes.
func im2colS2(src []float32, c int, g *window, oy0, oy1 int, scratch, dst []float32) bool {
	ow, nr := g.ow, oy1-oy0
	np := nr * ow
	qyMin, _ := floorDiv2(-g.pt)
	qyMax, _ := floorDiv2((g.kh-1)*g.dh - g.pt)
	i0 := oy0 + qyMin          // first parity row stored
	rows := nr + qyMax - qyMin // parity rows stored
	plane := rows * ow
	if 4*plane+2*ow > len(scratch) {
		return false
	}
	par := scratch[:4*plane] // [a][b] planes, rows×ow each
	tmp := scratch[4*plane : 4*plane+2*ow]
	hw := g.h * g.w
	ncopy := min(g.w, 2*ow)
	for ci := 0; ci < c; ci++ {
		x := src[ci*hw : ci*hw+hw]
		// Parity planes: par[a][b][i-i0][j] = x[2i+a][2j+b], zero outside.
		for a := 0; a < 2; a++ {
			e := par[(2*a)*plane : (2*a+1)*plane]
			o := par[(2*a+1)*plane : (2*a+2)*plane]
			for r := 0; r < rows; r++ {
				iy := 2*(i0+r) + a
				er, or := e[r*ow:(r+1)*ow], o[r*ow:(r+1)*ow]
				if iy < 0 || iy >= g.h {
					clear(er)
					clear(or)
					continue
				}
				copy(tmp[:ncopy], x[iy*g.w:iy*g.w+ncopy])
				clear(tmp[ncopy:])
				splitEvenOdd(tmp, er, or)
			}
		}
		for ki := 0; ki < g.kh; ki++ {
			qy, a := floorDiv2(ki*g.dh - g.pt)
			for kj := 0; kj < g.kw; kj++ {
				qx, b := floorDiv2(kj*g.dw - g.pl)
				p := par[(2*a+b)*plane : (2*a+b+1)*plane]
				d := dst[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				start := (oy0+qy-i0)*ow + qx // source of d[0]
				lo, hi := max(0, -start), min(np, plane-start)
				if lo < hi { // what is left out lies in the patched columns
					copy(d[lo:hi], p[start+lo:start+hi])
				}
				if qx == 0 {
					continue
				}
				// Columns whose source ox+qx fell outside [0,ow) read a
				// neighbouring parity row: recompute them from x.
				c0, c1 := 0, -qx // qx < 0: the first -qx columns
				if qx > 0 {
					c0, c1 = ow-qx, ow
				}
				c0, c1 = max(c0, 0), min(c1, ow)
				for r := 0; r < nr; r++ {
					iy := 2*(oy0+r+qy) + a
					row := d[r*ow : (r+1)*ow]
					for ox := c0; ox < c1; ox++ {
						ix := 2*(ox+qx) + b
						var v float32
						if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
							v = x[iy*g.w+ix]
						}
						row[ox] = v
					}
				}
			}
		}
	}
	return true
}

// col2imS2 is col2im for sh = sw = 2, the adjoint of im2colS2: each tap's
// column row is added to a parity-plane accumulator in one contiguous run,
// after its edge columns (whose run position wraps into a neighbouring
// row) have been added straight into dst and zeroed in col; the parity
// planes are then interleaved back into dst. col is scratch and is
// modified. It reports false, touching nothing, when scratch is too small.
func col2imS2(col []float32, c int, g *window, scratch, dst []float32) bool {
	ow, nr := g.ow, g.oh
	np := nr * ow
	qyMin, _ := floorDiv2(-g.pt)
	qyMax, _ := floorDiv2((g.kh-1)*g.dh - g.pt)
	i0 := qyMin
	rows := nr + qyMax - qyMin
	plane := rows * ow
	if 4*plane+2*ow > len(scratch) {
		return false
	}
	par := scratch[:4*plane]
	tmp := scratch[4*plane : 4*plane+2*ow]
	hw := g.h * g.w
	nw := min(g.w, 2*ow)
	for ci := 0; ci < c; ci++ {
		x := dst[ci*hw : ci*hw+hw]
		clear(par)
		for ki := 0; ki < g.kh; ki++ {
			qy, a := floorDiv2(ki*g.dh - g.pt)
			for kj := 0; kj < g.kw; kj++ {
				qx, b := floorDiv2(kj*g.dw - g.pl)
				p := par[(2*a+b)*plane : (2*a+b+1)*plane]
				d := col[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				if qx != 0 {
					c0, c1 := 0, -qx
					if qx > 0 {
						c0, c1 = ow-qx, ow
					}
					c0, c1 = max(c0, 0), min(c1, ow)
					for r := 0; r < nr; r++ {
						iy := 2*(r+qy) + a
						row := d[r*ow : (r+1)*ow]
						for ox := c0; ox < c1; ox++ {
							ix := 2*(ox+qx) + b
							if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
								x[iy*g.w+ix] += row[ox]
							}
							row[ox] = 0
						}
					}
				}
				start := (qy-i0)*ow + qx
				lo, hi := max(0, -start), min(np, plane-start)
				if lo < hi {
					addRow(p[start+lo:start+hi], d[lo:hi])
				}
			}
		}
		for a := 0; a < 2; a++ {
			e := par[(2*a)*plane : (2*a+1)*plane]
			o := par[(2*a+1)*plane : (2*a+2)*plane]
			for r := 0; r < rows; r++ {
				iy := 2*(i0+r) + a
				if iy < 0 || iy >= g.h {
					continue
				}
				mergeEvenOdd(tmp, e[r*ow:(r+1)*ow], o[r*ow:(r+1)*ow])
				addRow(x[iy*g.w:iy*g.w+nw], tmp[:nw])
			}
		}
	}
	return true
}
