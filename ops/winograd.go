package ops

import (
	"github.com/vigil-ad/vigil/tensor"
)

// Winograd F(2×2,3×3) for 3×3 stride-1 undilated ungrouped convolutions:
// each 2×2 output tile costs 16 multiplies per (input, output) channel pair
// instead of 36, and the 16 elementwise products batch into 16 GEMMs
// U[e](Cout×Cin) · V[e](Cin×tiles). Transforms (Lavin & Gray 2015):
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]

// useWinograd reports whether the Winograd path applies and pays: enough
// channels for the GEMMs and enough tiles to amortise the weight transform.
func useWinograd(s *convShape) bool {
	g := &s.win
	if g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || s.g != 1 {
		return false
	}
	tiles := ((g.oh + 1) / 2) * ((g.ow + 1) / 2)
	return s.cin >= 16 && s.cout >= 16 && s.n*tiles >= 128
}

// winogradWeights fills t.u with U as [16][Cout][Cin] for channels
// [lo,hi) of the output.
func (t *convFwdTask) winogradWeights(lo, hi int) {
	cin, cout := t.s.cin, t.s.cout
	w, u := t.w, t.u
	plane := cout * cin
	for co := lo; co < hi; co++ {
		for ci := 0; ci < cin; ci++ {
			k := w[(co*cin+ci)*9 : (co*cin+ci)*9+9]
			// q = G·k (4×3), then U = q·Gᵀ (4×4).
			var q [4][3]float32
			for j := 0; j < 3; j++ {
				a, b, c := k[j], k[3+j], k[6+j]
				q[0][j] = a
				q[1][j] = 0.5 * (a + b + c)
				q[2][j] = 0.5 * (a - b + c)
				q[3][j] = c
			}
			o := co*cin + ci
			for i := 0; i < 4; i++ {
				a, b, c := q[i][0], q[i][1], q[i][2]
				u[(i*4+0)*plane+o] = a
				u[(i*4+1)*plane+o] = 0.5 * (a + b + c)
				u[(i*4+2)*plane+o] = 0.5 * (a - b + c)
				u[(i*4+3)*plane+o] = c
			}
		}
	}
}

// winoBandFloats bounds one band's transformed inputs (floats).
var winoBandFloats = 64 << 10

// winoRows is how many rows of tiles one task transforms and multiplies
// at once, so its transformed inputs and products stay in L2.
func winoRows(s *convShape, th, tw int) int {
	rows := max(1, winoBandFloats/(16*max(s.cin, s.cout)*tw))
	rows = min(rows, th)
	for s.n*((th+rows-1)/rows) < 2*tensor.Workers() && rows > 1 {
		rows = (rows + 1) / 2
	}
	return rows
}

// winogradForward computes y = conv(x, w) + bias with act via F(2×2,3×3),
// parallel over (image, band of tile rows) with a serial GEMM per task.
func winogradForward(y, x, w, bias []float32, act Act, s *convShape) {
	t := convFwdTasks.Get().(*convFwdTask)
	t.y, t.x, t.w, t.bias, t.act, t.s = y, x, w, bias, act, *s
	g := &t.s.win
	t.tw = (g.ow + 1) / 2
	th := (g.oh + 1) / 2
	t.u = tensor.GetDirty(16 * s.cout * s.cin)
	tensor.Parallel(s.cout, t.ufn)
	t.tile = winoRows(s, th, t.tw) // tile rows per band
	t.tiles = (th + t.tile - 1) / t.tile
	tensor.Parallel(s.n*t.tiles, t.wfn)
	tensor.Put(t.u)
	t.y, t.x, t.w, t.bias, t.u = nil, nil, nil, nil, nil
	convFwdTasks.Put(t)
}

func (t *convFwdTask) winograd(lo, hi int) {
	s := &t.s
	g := &s.win
	cin, cout := s.cin, s.cout
	tw, rows, bands := t.tw, t.tile, t.tiles
	th := (g.oh + 1) / 2
	blk := rows * tw
	hw, ohw := g.h*g.w, g.oh*g.ow
	v := tensor.GetDirty(16 * cin * blk)
	m := tensor.GetDirty(16 * cout * blk)
	scratch := tensor.GetDirty(g.w + 4 + 16)
	for task := lo; task < hi; task++ {
		img, b := task/bands, task%bands
		ty0 := b * rows
		ty1 := min(th, ty0+rows)
		nt := (ty1 - ty0) * tw
		winoInput(v, t.x[img*cin*hw:(img+1)*cin*hw], cin, g, tw, ty0, ty1, blk, scratch)
		for e := 0; e < 16; e++ {
			sgemmSerial(false, false, cout, nt, cin, 1, t.u[e*cout*cin:], cin, v[e*cin*blk:], blk, 0, m[e*cout*blk:], blk)
		}
		winoOutput(t.y[img*cout*ohw:(img+1)*cout*ohw], m, t.bias, t.act, cout, g, tw, ty0, ty1, blk)
	}
	tensor.Put(scratch)
	tensor.Put(m)
	tensor.Put(v)
}

// winoInput writes V[e][ci][j] = (Bᵀ d B)[e] for the tiles of tile rows
// [ty0,ty1) (j counts from the band's first tile), d being the tile's 4×4
// input patch, zero outside the image. Interior tiles read the image rows
// directly; edge tiles go through a zero-padded 4×4 copy.
func winoInput(v, x []float32, cin int, g *window, tw, ty0, ty1, blk int, scratch []float32) {
	hw := g.h * g.w
	stride := cin * blk
	zero := scratch[:g.w+4]
	clear(zero)
	tmp := scratch[g.w+4 : g.w+4+16]
	// Interior tiles: 0 <= 2tx-pl and 2tx-pl+3 < w.
	txa, txb := span(-g.pl, 2, g.w-3, tw)
	var outs [16][]float32
	for ci := 0; ci < cin; ci++ {
		plane := x[ci*hw : ci*hw+hw]
		for ty := ty0; ty < ty1; ty++ {
			var rows [4][]float32
			for r := range rows {
				rows[r] = zero[:g.w]
				if iy := 2*ty - g.pt + r; iy >= 0 && iy < g.h {
					rows[r] = plane[iy*g.w : iy*g.w+g.w]
				}
			}
			base := ci*blk + (ty-ty0)*tw
			for e := range outs {
				outs[e] = v[e*stride+base : e*stride+base+tw]
			}
			if txa < txb {
				winoInTiles(rows[0], rows[1], rows[2], rows[3], 2*txa-g.pl, txb-txa, &outs, txa)
			}
			for tx := 0; tx < tw; tx++ {
				if tx == txa && txa < txb {
					tx = txb - 1
					continue
				}
				c0 := 2*tx - g.pl
				for r := 0; r < 4; r++ {
					for c := 0; c < 4; c++ {
						var val float32
						if ix := c0 + c; ix >= 0 && ix < g.w {
							val = rows[r][ix]
						}
						tmp[r*4+c] = val
					}
				}
				winoInTiles(tmp[0:4], tmp[4:8], tmp[8:12], tmp[12:16], 0, 1, &outs, tx)
			}
		}
	}
}

// winoInTiles transforms n consecutive tiles whose patches start at column
// c0 (+2 per tile) of rows r0..r3, writing outs[e][j0+i].
func winoInTiles(r0, r1, r2, r3 []float32, c0, n int, outs *[16][]float32, j0 int) {
	o0, o1, o2, o3 := outs[0][j0:j0+n], outs[1][j0:j0+n], outs[2][j0:j0+n], outs[3][j0:j0+n]
	o4, o5, o6, o7 := outs[4][j0:j0+n], outs[5][j0:j0+n], outs[6][j0:j0+n], outs[7][j0:j0+n]
	o8, o9, o10, o11 := outs[8][j0:j0+n], outs[9][j0:j0+n], outs[10][j0:j0+n], outs[11][j0:j0+n]
	o12, o13, o14, o15 := outs[12][j0:j0+n], outs[13][j0:j0+n], outs[14][j0:j0+n], outs[15][j0:j0+n]
	r0, r1, r2, r3 = r0[c0:c0+2*n+2], r1[c0:c0+2*n+2], r2[c0:c0+2*n+2], r3[c0:c0+2*n+2]
	for i := range o0 {
		c := 2 * i
		// Bᵀ down the columns: q_r = combos of rows, per column.
		a0, a1, a2, a3 := r0[c]-r2[c], r0[c+1]-r2[c+1], r0[c+2]-r2[c+2], r0[c+3]-r2[c+3]
		b0, b1, b2, b3 := r1[c]+r2[c], r1[c+1]+r2[c+1], r1[c+2]+r2[c+2], r1[c+3]+r2[c+3]
		e0, e1, e2, e3 := r2[c]-r1[c], r2[c+1]-r1[c+1], r2[c+2]-r1[c+2], r2[c+3]-r1[c+3]
		f0, f1, f2, f3 := r1[c]-r3[c], r1[c+1]-r3[c+1], r1[c+2]-r3[c+2], r1[c+3]-r3[c+3]
		// Then across each row.
		o0[i], o1[i], o2[i], o3[i] = a0-a2, a1+a2, a2-a1, a1-a3
		o4[i], o5[i], o6[i], o7[i] = b0-b2, b1+b2, b2-b1, b1-b3
		o8[i], o9[i], o10[i], o11[i] = e0-e2, e1+e2, e2-e1, e1-e3
		o12[i], o13[i], o14[i], o15[i] = f0-f2, f1+f2, f2-f1, f1-f3
	}
}

// winoOutput turns products M[e][co][j] into 2×2 output tiles (Aᵀ m A) for
// tile rows [ty0,ty1), adds bias, applies act and stores in-range pixels.
func winoOutput(y, m, bias []float32, act Act, cout int, g *window, tw, ty0, ty1, blk int) {
	ohw := g.oh * g.ow
	stride := cout * blk
	full := g.ow / 2 // tiles whose two columns are both inside
	for co := 0; co < cout; co++ {
		var bv float32
		if bias != nil {
			bv = bias[co]
		}
		plane := y[co*ohw : co*ohw+ohw]
		for ty := ty0; ty < ty1; ty++ {
			base := co*blk + (ty-ty0)*tw
			var ms [16][]float32
			for e := range ms {
				ms[e] = m[e*stride+base:][:tw]
			}
			oy := 2 * ty
			r0 := plane[oy*g.ow : oy*g.ow+g.ow]
			r1 := r0
			two := oy+1 < g.oh
			if two {
				r1 = plane[(oy+1)*g.ow : (oy+1)*g.ow+g.ow]
			}
			m0, m1, m2, m3, m4, m5, m6, m7 := ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6], ms[7]
			m8, m9, m10, m11, m12, m13, m14, m15 := ms[8], ms[9], ms[10], ms[11], ms[12], ms[13], ms[14], ms[15]
			for tx := 0; tx < tw; tx++ {
				// Aᵀ down the columns, then across.
				a0 := m0[tx] + m4[tx] + m8[tx]
				a1 := m1[tx] + m5[tx] + m9[tx]
				a2 := m2[tx] + m6[tx] + m10[tx]
				a3 := m3[tx] + m7[tx] + m11[tx]
				b0 := m4[tx] - m8[tx] - m12[tx]
				b1 := m5[tx] - m9[tx] - m13[tx]
				b2 := m6[tx] - m10[tx] - m14[tx]
				b3 := m7[tx] - m11[tx] - m15[tx]
				y00 := a0 + a1 + a2 + bv
				y01 := a1 - a2 - a3 + bv
				y10 := b0 + b1 + b2 + bv
				y11 := b1 - b2 - b3 + bv
				switch act {
				case ActReLU:
					y00, y01, y10, y11 = max(y00, 0), max(y01, 0), max(y10, 0), max(y11, 0)
				case ActReLU6:
					y00, y01, y10, y11 = min(max(y00, 0), 6), min(max(y01, 0), 6), min(max(y10, 0), 6), min(max(y11, 0), 6)
				}
				ox := 2 * tx
				if tx < full {
					r0[ox], r0[ox+1] = y00, y01
					if two {
						r1[ox], r1[ox+1] = y10, y11
					}
					continue
				}
				r0[ox] = y00
				if two {
					r1[ox] = y10
				}
			}
		}
	}
}
