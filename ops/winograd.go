package ops

import (
	"math"
	"math/bits"
	"sync"

	"github.com/vigil-ad/vigil/gemm"
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

// winogradWeights fills t.u with U as [16][Cin][Cout] for channels
// [lo,hi) of the output: stored transposed, the GEMM packs each micro-panel
// with contiguous loads.
func (t *convFwdTask) winogradWeights(lo, hi int) {
	cin, cout := t.s.cin, t.s.cout
	plane := skew(cout * cin)
	u := t.u[:16*plane]
	for co := lo; co < hi; co++ {
		for ci := 0; ci < cin; ci++ {
			k := t.w[(co*cin+ci)*9 : (co*cin+ci)*9+9]
			o := ci*cout + co
			// Columns j of q = G·k (4×3), then each row of q times Gᵀ.
			k0, k1, k2, k3, k4, k5, k6, k7, k8 := k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
			q10, q11, q12 := 0.5*(k0+k3+k6), 0.5*(k1+k4+k7), 0.5*(k2+k5+k8)
			q20, q21, q22 := 0.5*(k0-k3+k6), 0.5*(k1-k4+k7), 0.5*(k2-k5+k8)
			u[o] = k0
			u[plane+o] = 0.5 * (k0 + k1 + k2)
			u[2*plane+o] = 0.5 * (k0 - k1 + k2)
			u[3*plane+o] = k2
			u[4*plane+o] = q10
			u[5*plane+o] = 0.5 * (q10 + q11 + q12)
			u[6*plane+o] = 0.5 * (q10 - q11 + q12)
			u[7*plane+o] = q12
			u[8*plane+o] = q20
			u[9*plane+o] = 0.5 * (q20 + q21 + q22)
			u[10*plane+o] = 0.5 * (q20 - q21 + q22)
			u[11*plane+o] = q22
			u[12*plane+o] = k6
			u[13*plane+o] = 0.5 * (k6 + k7 + k8)
			u[14*plane+o] = 0.5 * (k6 - k7 + k8)
			u[15*plane+o] = k8
		}
	}
}

// Transformed weights are cached by content, so repeated inference with the
// same layer skips the transform while any change to the weights (training)
// misses the cache. The hash reads every weight once, a fraction of the
// transform's cost.
type winoKey struct {
	cout, cin int
	sum       uint64
}

type weightCache struct {
	mu    sync.Mutex
	m     map[winoKey][]float32
	order []winoKey
	size  int
}

// winoCacheFloats bounds the cache (floats, 64 MiB).
const winoCacheFloats = 16 << 20

var winoCache = &weightCache{m: map[winoKey][]float32{}}

func (c *weightCache) get(k winoKey) []float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

// put stores u, evicting the oldest entries beyond the bound; evicted
// slices are left to the garbage collector since readers may hold them.
func (c *weightCache) put(k winoKey, u []float32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok || len(u) > winoCacheFloats {
		return
	}
	for c.size+len(u) > winoCacheFloats && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.size -= len(c.m[old])
		delete(c.m, old)
	}
	c.m[k] = u
	c.order = append(c.order, k)
	c.size += len(u)
}

// weightHash is a 64-bit hash of w's bits over four independent lanes
// (so it runs at load speed rather than multiply latency).
func weightHash(w []float32) uint64 {
	const p1, p2 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F
	h0, h1, h2, h3 := uint64(p1), uint64(p2), uint64(len(w)), uint64(p1^p2)
	i := 0
	for ; i+4 <= len(w); i += 4 {
		h0 = (h0 ^ uint64(math.Float32bits(w[i]))) * p2
		h1 = (h1 ^ uint64(math.Float32bits(w[i+1]))) * p2
		h2 = (h2 ^ uint64(math.Float32bits(w[i+2]))) * p2
		h3 = (h3 ^ uint64(math.Float32bits(w[i+3]))) * p2
		h0, h1, h2, h3 = bits.RotateLeft64(h0, 31), bits.RotateLeft64(h1, 31), bits.RotateLeft64(h2, 31), bits.RotateLeft64(h3, 31)
	}
	for ; i < len(w); i++ {
		h0 = bits.RotateLeft64((h0^uint64(math.Float32bits(w[i])))*p2, 31)
	}
	h := h0 ^ bits.RotateLeft64(h1, 17) ^ bits.RotateLeft64(h2, 29) ^ bits.RotateLeft64(h3, 43)
	h ^= h >> 33
	h *= p1
	h ^= h >> 29
	return h
}

// skew pads the pitch between the 16 Winograd component matrices so the 16
// streams a transform reads or writes do not fall into the same L1 cache
// sets (pitches that are multiples of 4 KiB thrash them).
func skew(n int) int { return (n+15)&^15 + 24 }

// winoBandFloats bounds one band's transformed inputs (floats).
var winoBandFloats = 256 << 10

// winoRows is how many rows of tiles one task transforms and multiplies
// at once, so its transformed inputs and products stay in L2.
func winoRows(s *convShape, th, tw int) int {
	rows := max(1, winoBandFloats/(16*max(s.cin, s.cout)*tw))
	return balanceRows(th, rows, s.n)
}

// winogradForward computes y = conv(x, w) + bias with act via F(2×2,3×3),
// parallel over (image, band of tile rows) with a serial GEMM per task.
func winogradForward(y, x, w, bias []float32, act Act, s *convShape) {
	t := convFwdTasks.Get().(*convFwdTask)
	t.y, t.x, t.w, t.bias, t.act, t.s = y, x, w, bias, act, *s
	key := winoKey{cout: s.cout, cin: s.cin, sum: weightHash(w)}
	cached := winoCache.get(key)
	if cached != nil {
		t.u = cached
	} else {
		t.u = make([]float32, 16*skew(s.cout*s.cin))
		tensor.Parallel(s.cout, t.ufn)
		winoCache.put(key, t.u)
	}
	if s.n > 1 {
		// Every image's 16 products reuse the same U: pack it once per
		// call rather than once per band.
		t.upa = winogradPack(t.u, s)
	}
	t.winogradRun()
}

// winogradTransform returns the Winograd weights U of w for s's shape, in
// the layout winogradForwardU takes.
func winogradTransform(w []float32, s *convShape) []float32 {
	t := convFwdTasks.Get().(*convFwdTask)
	t.w, t.s = w, *s
	t.u = make([]float32, 16*skew(s.cout*s.cin))
	tensor.Parallel(s.cout, t.ufn)
	u := t.u
	t.w, t.u = nil, nil
	convFwdTasks.Put(t)
	return u
}

// winogradPack packs the 16 matrices of U (cin×cout each, used
// transposed) once for the GEMMs, which otherwise repack them for every
// band of every call.
func winogradPack(u []float32, s *convShape) []*gemm.PackedA {
	us := skew(s.cout * s.cin)
	pa := make([]*gemm.PackedA, 16)
	for e := range pa {
		pa[e] = gemm.PackA(true, s.cout, s.cin, u[e*us:], s.cout)
	}
	return pa
}

// winogradForwardU is winogradForward with weights already transformed by
// winogradTransform and, when upa is not nil, packed by winogradPack.
func winogradForwardU(y, x, u, bias []float32, act Act, s *convShape, upa []*gemm.PackedA) {
	t := convFwdTasks.Get().(*convFwdTask)
	t.y, t.x, t.bias, t.act, t.s, t.u, t.upa = y, x, bias, act, *s, u, upa
	t.winogradRun()
}

// winogradRun multiplies with t.u over bands of tile rows in parallel and
// returns t to the pool.
func (t *convFwdTask) winogradRun() {
	s := &t.s
	g := &s.win
	t.tw = (g.ow + 1) / 2
	th := (g.oh + 1) / 2
	t.tile = winoRows(s, th, t.tw) // tile rows per band
	t.tiles = (th + t.tile - 1) / t.tile
	tensor.Parallel(s.n*t.tiles, t.wfn)
	t.y, t.x, t.w, t.bias, t.u, t.upa = nil, nil, nil, nil, nil, nil
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
	us, vs, ms := skew(cout*cin), skew(cin*blk), skew(cout*blk)
	v := tensor.GetDirty(16 * vs)
	m := tensor.GetDirty(16 * ms)
	scratch := tensor.GetDirty(2 * (2*rows + 2) * (2*tw + 2))
	for task := lo; task < hi; task++ {
		img, b := task/bands, task%bands
		ty0 := b * rows
		ty1 := min(th, ty0+rows)
		nt := (ty1 - ty0) * tw
		winoInput(v, t.x[img*cin*hw:(img+1)*cin*hw], cin, g, tw, ty0, ty1, blk, scratch)
		for e := 0; e < 16; e++ {
			if t.upa != nil {
				gemm.SgemmPackedSerial(t.upa[e], false, nt, v[e*vs:], blk, 0, m[e*ms:], blk)
			} else {
				sgemmSerial(true, false, cout, nt, cin, 1, t.u[e*us:], cout, v[e*vs:], blk, 0, m[e*ms:], blk)
			}
		}
		winoOutput(t.y[img*cout*ohw:(img+1)*cout*ohw], m, t.bias, t.act, cout, g, tw, ty0, ty1, blk)
	}
	tensor.Put(scratch)
	tensor.Put(m)
	tensor.Put(v)
}

// winoInput writes V[e][ci][j] = (Bᵀ d B)[e] for the tiles of tile rows
// [ty0,ty1) (j counts from the band's first tile), d being the tile's 4×4
// input patch, zero outside the image. Each channel's rows are copied into
// a zero-padded band 2·tw+2 wide and split into even and odd columns: tile
// tx then reads e[tx], o[tx], e[tx+1], o[tx+1] of four rows, so eight tiles
// transform at once as plain vector arithmetic.
func winoInput(v, x []float32, cin int, g *window, tw, ty0, ty1, blk int, scratch []float32) {
	hw := g.h * g.w
	stride := skew(cin * blk)
	wp := 2*tw + 2
	rows := 2*(ty1-ty0) + 2
	band := scratch[:rows*wp]
	eo := scratch[rows*wp : 2*rows*wp]
	half := tw + 1
	ncopy := min(g.w, wp-g.pl)
	// One column of padding each side and a width a multiple of 16 (the
	// 3×3 pad-1 layers of 16- and 32-wide maps): the padded row's even
	// columns are 0 then the image's odd ones, its odd columns the image's
	// even ones then 0, so one vector split of the image row fills both
	// without staging a padded copy.
	direct := g.pl == 1 && 2*tw == g.w && g.w%16 == 0
	for ci := 0; ci < cin; ci++ {
		plane := x[ci*hw : ci*hw+hw]
		for r := 0; r < rows; r++ {
			row := band[r*wp : r*wp+wp]
			iy := 2*ty0 + r - g.pt
			if direct && iy >= 0 && iy < g.h &&
				splitPad1(plane[iy*g.w:iy*g.w+g.w], eo[r*wp:r*wp+half], eo[r*wp+half:r*wp+2*half]) {
				continue
			}
			if iy < 0 || iy >= g.h || ncopy <= 0 {
				clear(row)
			} else {
				clear(row[:g.pl])
				copy(row[g.pl:g.pl+ncopy], plane[iy*g.w:iy*g.w+ncopy])
				clear(row[g.pl+ncopy:])
			}
			splitEvenOdd(row, eo[r*wp:r*wp+half], eo[r*wp+half:r*wp+2*half])
		}
		for ty := ty0; ty < ty1; ty++ {
			r := 2 * (ty - ty0)
			var e, o [4][]float32
			for k := range e {
				e[k] = eo[(r+k)*wp : (r+k)*wp+half]
				o[k] = eo[(r+k)*wp+half : (r+k)*wp+2*half]
			}
			winoInRow(v[ci*blk+(ty-ty0)*tw:], stride, &e, &o, tw)
		}
	}
}

// winoInRowGo transforms tiles [from,n) of one tile row from even/odd split
// rows, writing v[k*stride+tx] for the 16 components k.
func winoInRowGo(v []float32, stride int, e, o *[4][]float32, from, n int) {
	for tx := from; tx < n; tx++ {
		var p [4][4]float32
		for r := 0; r < 4; r++ {
			d0, d1, d2, d3 := e[r][tx], o[r][tx], e[r][tx+1], o[r][tx+1]
			p[r] = [4]float32{d0 - d2, d1 + d2, d2 - d1, d1 - d3}
		}
		for c := 0; c < 4; c++ {
			v[c*stride+tx] = p[0][c] - p[2][c]
			v[(4+c)*stride+tx] = p[1][c] + p[2][c]
			v[(8+c)*stride+tx] = p[2][c] - p[1][c]
			v[(12+c)*stride+tx] = p[1][c] - p[3][c]
		}
	}
}

// winoOutput turns products M[e][co][j] into 2×2 output tiles (Aᵀ m A) for
// tile rows [ty0,ty1), adds bias, applies act and stores in-range pixels.
func winoOutput(y, m, bias []float32, act Act, cout int, g *window, tw, ty0, ty1, blk int) {
	ohw := g.oh * g.ow
	stride := skew(cout * blk)
	full := g.ow / 2 // tiles whose two columns are both inside
	lo, hi := act.bounds()
	for co := 0; co < cout; co++ {
		var bv float32
		if bias != nil {
			bv = bias[co]
		}
		plane := y[co*ohw : co*ohw+ohw]
		for ty := ty0; ty < ty1; ty++ {
			oy := 2 * ty
			r0 := plane[oy*g.ow : oy*g.ow+g.ow]
			var r1 []float32
			if oy+1 < g.oh {
				r1 = plane[(oy+1)*g.ow : (oy+1)*g.ow+g.ow]
			}
			winoOutRow(r0, r1, m[co*blk+(ty-ty0)*tw:], stride, tw, full, bv, lo, hi)
		}
	}
}

// winoOutRowGo finishes tiles [from,tw) of one tile row: r0 and r1 are the
// two output rows (r1 nil past the bottom), full the number of tiles whose
// both columns are inside.
func winoOutRowGo(r0, r1, m []float32, stride, tw, full int, bv, lo, hi float32, from int) {
	for tx := from; tx < tw; tx++ {
		var mm [16]float32
		for k := range mm {
			mm[k] = m[k*stride+tx]
		}
		a0 := mm[0] + mm[4] + mm[8]
		a1 := mm[1] + mm[5] + mm[9]
		a2 := mm[2] + mm[6] + mm[10]
		a3 := mm[3] + mm[7] + mm[11]
		b0 := mm[4] - mm[8] - mm[12]
		b1 := mm[5] - mm[9] - mm[13]
		b2 := mm[6] - mm[10] - mm[14]
		b3 := mm[7] - mm[11] - mm[15]
		y := [4]float32{a0 + a1 + a2 + bv, a1 - a2 - a3 + bv, b0 + b1 + b2 + bv, b1 - b2 - b3 + bv}
		for i, v := range y {
			if v < lo {
				v = lo
			}
			if v > hi {
				v = hi
			}
			y[i] = v
		}
		ox := 2 * tx
		r0[ox] = y[0]
		if tx < full {
			r0[ox+1] = y[1]
		}
		if r1 != nil {
			r1[ox] = y[2]
			if tx < full {
				r1[ox+1] = y[3]
			}
		}
	}
}
