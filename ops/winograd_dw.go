package ops

import "github.com/vigil-ad/vigil/tensor"

// Winograd F(2×2,3×3) weight gradient. The forward pass computes each 2×2
// output tile as Y = Aᵀ[U ⊙ V]A with U = G·g·Gᵀ and V = Bᵀ·d·B, which is
// linear in U, so for an output gradient dY
//
//	∂L/∂U = Σ_tiles (A·dY·Aᵀ) ⊙ V    and    ∂L/∂g = Gᵀ·(∂L/∂U)·G.
//
// The sum over tiles of the 16 elementwise products is 16 GEMMs
// D[e](Cout×tiles) · V[e](Cin×tiles)ᵀ, with 16 multiplies per tile and
// channel pair instead of the 36 of the direct weight gradient. Tasks cover
// several images each (longer GEMM depth), accumulate into private buffers
// and merge in a fixed order.

// winoWeightGrad sets dw ([Cout][Cin][3][3]) to the weight gradient of a
// convolution for which useWinograd holds.
func winoWeightGrad(dw, x, dy []float32, s *convShape) {
	g := &s.win
	cin, cout := s.cin, s.cout
	tw, th := (g.ow+1)/2, (g.oh+1)/2
	tpi := tw * th // tiles per image
	per := max(1, winoBandFloats/(16*max(cin, cout)*tpi))
	// At least two tasks per worker when there are enough images.
	per = min(per, max(1, s.n/(2*tensor.Workers())))
	tasks := (s.n + per - 1) / per
	blk := per * tpi
	hw, ohw := g.h*g.w, g.oh*g.ow
	us := skew(cout * cin)
	acc := tensor.Get(16 * us) // zeroed; parts are added in range order
	parallelReduce(tasks, 16*us, func(lo, hi int, part []float32) {
		vs, ds := skew(cin*blk), skew(cout*blk)
		v := tensor.GetDirty(16 * vs)
		d := tensor.GetDirty(16 * ds)
		scratch := tensor.GetDirty(2 * (2*th + 2) * (2*tw + 2))
		for task := lo; task < hi; task++ {
			img0 := task * per
			img1 := min(s.n, img0+per)
			for img := img0; img < img1; img++ {
				j := (img - img0) * tpi
				winoInput(v[j:], x[img*cin*hw:(img+1)*cin*hw], cin, g, tw, 0, th, blk, scratch)
				winoGradOut(d[j:], dy[img*cout*ohw:(img+1)*cout*ohw], cout, g, tw, th, blk)
			}
			nt := (img1 - img0) * tpi
			for e := 0; e < 16; e++ {
				sgemmSerial(false, true, cout, cin, nt, 1, d[e*ds:], blk, v[e*vs:], blk, 1, part[e*us:], cin)
			}
		}
		tensor.Put(scratch)
		tensor.Put(d)
		tensor.Put(v)
	}, func(part []float32) { addRow(acc, part[:16*us]) })
	winoWeightBack(dw, acc, cout, cin, us)
	tensor.Put(acc)
}

// winoGradOut writes D[e][co][j] = (A·dY·Aᵀ)[e] for all tiles of one
// image (j counting from the image's first tile), dY's 2×2 tile being zero
// past the bottom and right edges; A = [1 0; 1 1; 1 -1; 0 -1].
func winoGradOut(d, dy []float32, cout int, g *window, tw, th, blk int) {
	stride := skew(cout * blk)
	ohw := g.oh * g.ow
	full := g.ow / 2 // tiles with both columns inside
	var zero [2]float32
	for co := 0; co < cout; co++ {
		plane := dy[co*ohw : co*ohw+ohw]
		for ty := 0; ty < th; ty++ {
			oy := 2 * ty
			r0 := plane[oy*g.ow : oy*g.ow+g.ow]
			r1 := zero[:0]
			if oy+1 < g.oh {
				r1 = plane[(oy+1)*g.ow : (oy+1)*g.ow+g.ow]
			}
			base := co*blk + ty*tw
			var o [16][]float32
			for k := range o {
				o[k] = d[k*stride+base : k*stride+base+tw]
			}
			tx0 := 0
			if len(r1) > 0 {
				tx0 = winoGORows(r0, r1, d[base:], stride, full)
			}
			for tx := tx0; tx < tw; tx++ {
				ox := 2 * tx
				var a, b, c, e float32
				if tx < full && len(r1) > 0 {
					p0, p1 := r0[ox:ox+2], r1[ox:ox+2]
					a, b, c, e = p0[0], p0[1], p1[0], p1[1]
				} else {
					a = r0[ox]
					if tx < full {
						b = r0[ox+1]
					}
					if len(r1) > 0 {
						c = r1[ox]
						if tx < full {
							e = r1[ox+1]
						}
					}
				}
				// Rows of A·dY: (a,b), (a+c,b+e), (a-c,b-e), (-c,-e); each
				// row (x0,x1) times Aᵀ is (x0, x0+x1, x0-x1, -x1).
				s0, s1, d0, d1 := a+c, b+e, a-c, b-e
				o[0][tx], o[1][tx], o[2][tx], o[3][tx] = a, a+b, a-b, -b
				o[4][tx], o[5][tx], o[6][tx], o[7][tx] = s0, s0+s1, s0-s1, -s1
				o[8][tx], o[9][tx], o[10][tx], o[11][tx] = d0, d0+d1, d0-d1, -d1
				o[12][tx], o[13][tx], o[14][tx], o[15][tx] = -c, -c-e, e-c, e
			}
		}
	}
}

// winoWeightBack sets dw[co][ci] (3×3) = Gᵀ·M[co][ci]·G from the summed
// products m ([16][Cout·Cin], component pitch us), G = [1 0 0; ½ ½ ½;
// ½ -½ ½; 0 0 1].
func winoWeightBack(dw, m []float32, cout, cin, us int) {
	for o := 0; o < cout*cin; o++ {
		var q [3][4]float32 // Gᵀ·M: kernel row r, component column j
		for j := 0; j < 4; j++ {
			m0, m1, m2, m3 := m[j*us+o], m[(4+j)*us+o], m[(8+j)*us+o], m[(12+j)*us+o]
			q[0][j] = m0 + 0.5*(m1+m2)
			q[1][j] = 0.5 * (m1 - m2)
			q[2][j] = 0.5*(m1+m2) + m3
		}
		k := dw[o*9 : o*9+9]
		for r := 0; r < 3; r++ {
			m0, m1, m2, m3 := q[r][0], q[r][1], q[r][2], q[r][3]
			k[r*3] = m0 + 0.5*(m1+m2)
			k[r*3+1] = 0.5 * (m1 - m2)
			k[r*3+2] = 0.5*(m1+m2) + m3
		}
	}
}
