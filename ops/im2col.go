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

// band describes the zero-padded copy of the input rows that output rows
// [oy0,oy1) read: rows × wp floats, starting at input row iy0.
func (g *window) band(oy0, oy1 int) (iy0, rows, wp int) {
	iy0 = oy0*g.sh - g.pt
	rows = (oy1-oy0-1)*g.sh + g.dh*(g.kh-1) + 1
	wp = max(g.pl+g.w, (g.ow-1)*g.sw+g.dw*(g.kw-1)+1)
	return
}

// bandSize is the scratch im2colRows/col2im need for output rows
// [oy0,oy0+n): the band, and for stride 2 its even/odd split as well.
func (g *window) bandSize(n int) int {
	_, rows, wp := g.band(0, n)
	if g.sw == 2 {
		return 2 * rows * wp
	}
	return rows * wp
}

// fillBand copies input rows [iy0,iy0+rows) of plane into pad (rows×wp),
// with the left padding, right padding and out-of-image rows zero.
func (g *window) fillBand(plane, pad []float32, iy0, rows, wp int) {
	ncopy := min(g.w, wp-g.pl)
	for r := 0; r < rows; r++ {
		row := pad[r*wp : r*wp+wp]
		iy := iy0 + r
		if iy < 0 || iy >= g.h {
			clear(row)
			continue
		}
		clear(row[:g.pl])
		copy(row[g.pl:g.pl+ncopy], plane[iy*g.w:iy*g.w+ncopy])
		clear(row[g.pl+ncopy:])
	}
}

// im2colRows writes the columns of output rows [oy0,oy1) of c input planes
// src (each h×w) into dst, laid out as [c*kh*kw][(oy1-oy0)*ow]. Each
// channel is first copied into a zero-padded band (scratch pad, at least
// bandSize(oy1-oy0) floats) so the column loops need no bounds logic.
func im2colRows(src []float32, c int, g *window, oy0, oy1 int, pad, dst []float32) {
	if g.kh == 1 && g.kw == 1 && g.pt == 0 && g.pl == 0 && !disableIm2colPoint {
		im2colPoint(src, c, g, oy0, oy1, pad, dst)
		return
	}
	if g.sh == 2 && g.sw == 2 && !disableIm2colS2 && im2colS2(src, c, g, oy0, oy1, pad, dst) {
		return
	}
	hw := g.h * g.w
	iy0, rows, wp := g.band(oy0, oy1)
	band := pad[:rows*wp]
	nr := oy1 - oy0
	np := nr * g.ow
	// Stride 2 reads every other column: split each band row into its even
	// and odd columns (same row pitch) so that every kernel tap is again a
	// contiguous run.
	var eo []float32
	half := (wp + 1) / 2
	if g.sw == 2 {
		eo = pad[rows*wp : 2*rows*wp]
	}
	for ci := 0; ci < c; ci++ {
		g.fillBand(src[ci*hw:ci*hw+hw], band, iy0, rows, wp)
		if eo != nil {
			for r := 0; r < rows; r++ {
				splitEvenOdd(band[r*wp:(r+1)*wp], eo[r*wp:r*wp+half], eo[r*wp+half:(r+1)*wp])
			}
		}
		for ki := 0; ki < g.kh; ki++ {
			for kj := 0; kj < g.kw; kj++ {
				d := dst[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				col := kj * g.dw
				for r := 0; r < nr; r++ {
					br := (r*g.sh + ki*g.dh) * wp
					out := d[r*g.ow : r*g.ow+g.ow]
					switch {
					case g.sw == 1:
						copyShort(out, band[br+col:br+col+g.ow])
					case eo != nil && col%2 == 0:
						copyShort(out, eo[br+col/2:br+col/2+g.ow])
					case eo != nil:
						copyShort(out, eo[br+half+col/2:br+half+col/2+g.ow])
					default:
						s := band[br+col : br+col+(g.ow-1)*g.sw+1]
						for ox := range out {
							out[ox] = s[ox*g.sw]
						}
					}
				}
			}
		}
	}
}

// col2im adds columns col ([c*kh*kw][oh*ow]) back into c planes dst (each
// h×w): the adjoint of im2col over all output positions. col is scratch:
// the stride-2 path modifies it. It accumulates in
// a zero-padded plane (scratch pad, at least bandSize(oh) floats) and adds
// the in-image part back.
func col2im(col []float32, c int, g *window, pad, dst []float32) {
	if g.sh == 2 && g.sw == 2 && !disableIm2colS2 && col2imS2(col, c, g, pad, dst) {
		return
	}
	np := g.oh * g.ow
	hw := g.h * g.w
	iy0, rows, wp := g.band(0, g.oh)
	band := pad[:rows*wp]
	// Stride 2 accumulates into even/odd split rows (contiguous adds) and
	// interleaves them back into the plane at the end.
	half := (wp + 1) / 2
	split := g.sw == 2
	ncopy := min(g.w, wp-g.pl)
	for ci := 0; ci < c; ci++ {
		clear(band)
		for ki := 0; ki < g.kh; ki++ {
			for kj := 0; kj < g.kw; kj++ {
				row := col[((ci*g.kh+ki)*g.kw+kj)*np:][:np]
				c0 := kj * g.dw
				if split {
					c0 = c0/2 + half*(c0%2)
				}
				for oy := 0; oy < g.oh; oy++ {
					src := row[oy*g.ow : oy*g.ow+g.ow]
					br := (oy*g.sh + ki*g.dh) * wp
					if g.sw == 1 || split {
						addRow(band[br+c0:br+c0+len(src)], src)
						continue
					}
					d := band[br+c0 : br+c0+(g.ow-1)*g.sw+1]
					for i, v := range src {
						d[i*g.sw] += v
					}
				}
			}
		}
		plane := dst[ci*hw : ci*hw+hw]
		for r := 0; r < rows; r++ {
			iy := iy0 + r
			if iy < 0 || iy >= g.h {
				continue
			}
			pr := plane[iy*g.w : iy*g.w+g.w]
			br := band[r*wp : (r+1)*wp]
			if split {
				// Interleave the even/odd halves back into natural column
				// order (in the other half of the scratch) before adding.
				nat := pad[rows*wp : rows*wp+wp]
				mergeEvenOdd(nat, br[:half], br[half:])
				br = nat
			}
			addRow(pr[:ncopy], br[g.pl:g.pl+ncopy])
		}
	}
}

// copyShort copies src into dst (same length): memmove from 13 floats up,
// a plain loop below that, where the call costs more than the copy.
func copyShort(dst, src []float32) {
	if len(dst) > 12 {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = src[i]
	}
}

// mergeEvenOddGo interleaves values [from,...) of e and o into dst.
func mergeEvenOddGo(dst, e, o []float32, from int) {
	for i := from; i < len(e) && 2*i < len(dst); i++ {
		dst[2*i] = e[i]
	}
	for i := from; i < len(o) && 2*i+1 < len(dst); i++ {
		dst[2*i+1] = o[i]
	}
}

// addRowGo is the portable addRow.
func addRowGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// disableIm2colPoint sends unpadded 1×1 layers through the general path
// (tests compare).
var disableIm2colPoint = false

// im2colPoint is im2colRows for an unpadded 1×1 kernel (ResNet's strided
// shortcut convolutions): the columns are the input subsampled by the
// stride, read straight from the input rows they come from (stride-2 rows
// through the vector even/odd split, the odd half going to pad) instead of
// staging whole bands.
func im2colPoint(src []float32, c int, g *window, oy0, oy1 int, pad, dst []float32) {
	hw, np := g.h*g.w, (oy1-oy0)*g.ow
	split := g.sw == 2 && (g.w+1)/2 == g.ow && len(pad) >= g.w/2
	for ci := 0; ci < c; ci++ {
		plane := src[ci*hw : ci*hw+hw]
		d := dst[ci*np : ci*np+np]
		for oy := oy0; oy < oy1; oy++ {
			row := plane[oy*g.sh*g.w : oy*g.sh*g.w+g.w]
			out := d[(oy-oy0)*g.ow : (oy-oy0+1)*g.ow]
			switch {
			case g.sw == 1:
				copy(out, row)
			case split:
				splitEvenOdd(row, out, pad[:g.w/2])
			default:
				for ox := range out {
					out[ox] = row[ox*g.sw]
				}
			}
		}
	}
}
