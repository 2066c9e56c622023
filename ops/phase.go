package ops

import "github.com/vigil-ad/vigil/tensor"

// Strided transposed convolution by output phases (sub-pixel
// decomposition). A transposed convolution — equally, the input gradient of
// a strided convolution — scatters every input pixel through the kernel into
// the larger output, which the plain formulation does with a GEMM followed
// by col2im (strided scatter-adds of kh·kw times the output size). Splitting
// the output into its sh·sw phases (pixels (i,j) with (i+pt) mod sh = a and
// (j+pl) mod sw = b) turns each phase into a stride-1 gather: only the taps
// ky ≡ a, kx ≡ b (mod stride) reach it, each from the input at a fixed
// offset. Per phase that is one im2col of the small input (K = Cu·taps) and
// one GEMM, over several images at once so the GEMM has wide panels, and a
// strided store of the result: no col2im and no wasted multiplications.
//
// Names follow the convolution view: u (Cu×oh×ow) is the convolution's
// output side, the transposed convolution's input; v (Cv×h×w) is the
// convolution's input side, the result. w is [Cu][Cv][kh][kw], which is the
// convolution weight [Cout][Cin] and the transposed-convolution weight
// [Cin][Cout] alike.

// phaseConvT runs strided transposed convolutions by output phases. Off:
// since col2im accumulates stride-2 planes by parity (im2col_s2.go), GEMM +
// col2im measured faster on the decoder's k4 s2 layer (2.1 vs 2.5-2.9 ms
// CPU, BenchmarkAEPathsCPU); the kernel stays for other geometries and is
// tested directly.
var phaseConvT = false

// disablePairCols forces strided stores for stride-2 column phases (tests
// compare).
var disablePairCols = false

// phaseTaps lists, for one phase a of one axis, the kernel taps that reach
// it and the input offset of each: output index m of the phase reads input
// m+off[t] through tap k[t].
type phaseTaps struct {
	k, off []int
	m0, n  int // first phase index and the number of phase positions
}

// axisPhases returns the phases of one axis: input length in (u side),
// output length out (v side), kernel k, stride s, padding p, dilation d.
func axisPhases(out, k, s, p, d int) []phaseTaps {
	ph := make([]phaseTaps, s)
	for a := 0; a < s; a++ {
		t := &ph[a]
		for ky := 0; ky < k; ky++ {
			if e := ky * d; (e-a)%s == 0 {
				t.k = append(t.k, ky)
				t.off = append(t.off, (a-e)/s)
			}
		}
		// Output index i = s·m + a - p must lie in [0,out).
		t.m0 = 0
		if p-a > 0 {
			t.m0 = (p - a + s - 1) / s
		}
		if last := out - 1 + p - a; last >= 0 {
			t.n = max(0, last/s+1-t.m0)
		}
	}
	return ph
}

// usePhaseT reports whether the phase path applies and can pay:
// ungrouped, strided (stride 1 has a single phase, which the forward paths
// cover) and at least 8 result channels cv (the GEMM's rows; with fewer
// the GEMM is all packing).
func usePhaseT(g, cv int, win *window) bool {
	return g == 1 && (win.sh > 1 || win.sw > 1) && cv >= 8
}

// phaseTask is one transposed convolution by phases, handed to the pool.
type phaseTask struct {
	v, u, bias []float32
	n, cu, cv  int
	win        window
	py, px     []phaseTaps
	wp         [][]float32 // per phase (a·sw+b): [Cv][Cu·ty·tx] weights
	chunk      int         // images per task
	chunks     int
	// Zero-padded copy of u: padT rows above and padL columns left of each
	// rq×wq plane, so that every tap of every phase reads in bounds.
	pad          []float32
	padT, padL   int
	rq, wq       int
	padFn, runFn func(lo, hi int)
	// pairCols: the column phases pe and po interleave into whole rows.
	pairCols bool
	pe, po   int
}

// phaseTransposed sets v = convTranspose(u, w) (+ bias per v channel when
// bias is not nil) for n images. g is the convolution-view window (h×w the
// v plane, oh×ow the u plane).
func phaseTransposed(v, u, w, bias []float32, n, cu, cv int, g *window) {
	t := &phaseTask{v: v, u: u, bias: bias, n: n, cu: cu, cv: cv, win: *g}
	t.py = axisPhases(g.h, g.kh, g.sh, g.pt, g.dh)
	t.px = axisPhases(g.w, g.kw, g.sw, g.pl, g.dw)
	t.padT, t.rq = padExtent(t.py, g.oh)
	t.padL, t.wq = padExtent(t.px, g.ow)
	nph := g.sh * g.sw
	t.wp = make([][]float32, nph)
	maxK, maxCols := 0, 0
	kk := g.kh * g.kw
	for a := range t.py {
		for b := range t.px {
			ty, tx := t.py[a], t.px[b]
			K := cu * len(ty.k) * len(tx.k)
			m := tensor.GetDirty(cv * K)
			for c := 0; c < cv; c++ {
				row := m[c*K : (c+1)*K]
				i := 0
				for ci := 0; ci < cu; ci++ {
					src := w[(ci*cv+c)*kk:]
					for _, ky := range ty.k {
						for _, kx := range tx.k {
							row[i] = src[ky*g.kw+kx]
							i++
						}
					}
				}
			}
			t.wp[a*g.sw+b] = m
			maxK = max(maxK, K)
			maxCols = max(maxCols, ty.n*t.wq)
		}
	}
	t.pad = tensor.GetDirty(n * cu * t.rq * t.wq)
	t.padFn, t.runFn = t.padPlanes, t.run
	tensor.Parallel(n*cu, t.padFn)
	// Images per task: the im2col tile stays near colTileFloats, but keep
	// at least two tasks per worker when there are enough images.
	per := max(1, colTileFloats/max(1, maxK*maxCols))
	per = min(per, max(1, n*nph/(2*tensor.Workers())))
	t.chunk = min(per, n)
	t.chunks = (n + t.chunk - 1) / t.chunk
	tasks := nph
	if g.sw == 2 && !disablePairCols {
		t.pe, t.po, t.pairCols = pairedColumns(t.px, g.w, g.pl)
	}
	if t.pairCols {
		tasks = g.sh // one task per row phase and image chunk
	}
	tensor.Parallel(tasks*t.chunks, t.runFn)
	for _, m := range t.wp {
		tensor.Put(m)
	}
	tensor.Put(t.pad)
}

// padExtent returns how many zero rows (columns) the padded u plane needs
// before the data and its padded length, for input length in.
func padExtent(ph []phaseTaps, in int) (before, length int) {
	lo, hi := 0, in
	for _, t := range ph {
		if t.n == 0 {
			continue
		}
		for _, o := range t.off {
			lo = min(lo, t.m0+o)
			hi = max(hi, t.m0+t.n+o)
		}
	}
	return -lo, hi - lo
}

// padPlanes copies u planes [lo,hi) (image·Cu + channel) into t.pad.
func (t *phaseTask) padPlanes(lo, hi int) {
	g := &t.win
	hw, pq := g.oh*g.ow, t.rq*t.wq
	for pl := lo; pl < hi; pl++ {
		src := t.u[pl*hw : (pl+1)*hw]
		dst := t.pad[pl*pq : (pl+1)*pq]
		clear(dst[:t.padT*t.wq])
		for r := 0; r < g.oh; r++ {
			row := dst[(t.padT+r)*t.wq : (t.padT+r+1)*t.wq]
			clear(row[:t.padL])
			copyShort(row[t.padL:t.padL+g.ow], src[r*g.ow:(r+1)*g.ow])
			clear(row[t.padL+g.ow:])
		}
		clear(dst[(t.padT+g.oh)*t.wq:])
	}
}

func (t *phaseTask) run(lo, hi int) {
	g := &t.win
	for task := lo; task < hi; task++ {
		ph, ch := task/t.chunks, task%t.chunks
		img0 := ch * t.chunk
		img1 := min(t.n, img0+t.chunk)
		if t.pairCols {
			t.pair(ph, img0, img1)
			continue
		}
		a, b := ph/g.sw, ph%g.sw
		out := t.product(a, b, img0, img1)
		t.store(a, b, out, img0, img1)
		if out != nil {
			tensor.Put(out)
		}
	}
}

// pairedColumns reports whether the two column phases of a stride-2 axis
// start at columns 0 and 1 (phase e and o), so one row of each interleaves
// into a whole output row.
func pairedColumns(px []phaseTaps, w, pl int) (e, o int, ok bool) {
	if len(px) != 2 {
		return 0, 0, false
	}
	for b := 0; b < 2; b++ {
		j0 := 2*px[b].m0 + b - pl
		if j0 == 0 && px[b].n == (w+1)/2 && px[1-b].n == w/2 && 2*px[1-b].m0+(1-b)-pl == 1 {
			return b, 1 - b, true
		}
	}
	return 0, 0, false
}

// pair computes the column phases of row phase a for images [img0,img1)
// and interleaves them into whole rows of v (stride-2 columns).
func (t *phaseTask) pair(a, img0, img1 int) {
	g := &t.win
	ty := &t.py[a]
	if ty.n == 0 {
		return
	}
	eo, oo := t.product(a, t.pe, img0, img1), t.product(a, t.po, img0, img1)
	cols := ty.n * t.wq
	ncol := (img1 - img0) * cols
	ne, no := t.px[t.pe].n, t.px[t.po].n
	hwv := g.h * g.w
	var zero []float32
	if eo == nil || oo == nil {
		zero = tensor.Get(ne)
	}
	for img := img0; img < img1; img++ {
		base := (img - img0) * cols
		for c := 0; c < t.cv; c++ {
			plane := t.v[(img*t.cv+c)*hwv : (img*t.cv+c+1)*hwv]
			for mm := 0; mm < ty.n; mm++ {
				i := g.sh*(ty.m0+mm) + a - g.pt
				row := plane[i*g.w : (i+1)*g.w]
				e, o := zero, zero
				if eo != nil {
					e = eo[c*ncol+base+mm*t.wq:][:ne]
				}
				if oo != nil {
					o = oo[c*ncol+base+mm*t.wq:][:no]
				}
				mergeEvenOdd(row, e, o)
				if t.bias != nil {
					biasAct(row, t.bias[c], true, ActNone)
				}
			}
		}
	}
	for _, b := range [][]float32{eo, oo, zero} {
		if b != nil {
			tensor.Put(b)
		}
	}
}

// product returns phase (a,b)'s GEMM result for images [img0,img1) as
// [Cv][images·ty.n·wq] ("wide" rows of wq columns: the padded pitch;
// columns past tx.n are computed and dropped), which makes every tap's
// input for one channel a single contiguous run of the padded plane. It
// returns nil when no tap reaches the phase.
func (t *phaseTask) product(a, b, img0, img1 int) []float32 {
	g := &t.win
	ty, tx := &t.py[a], &t.px[b]
	K := t.cu * len(ty.k) * len(tx.k)
	if ty.n == 0 || tx.n == 0 || K == 0 {
		return nil
	}
	wq, pq := t.wq, t.rq*t.wq
	cols := ty.n * wq       // wide columns per image
	run := cols - wq + tx.n // the part that reads real positions
	ncol := (img1 - img0) * cols
	col := tensor.GetDirty(K * ncol)
	for img := img0; img < img1; img++ {
		base := (img - img0) * cols
		for ci := 0; ci < t.cu; ci++ {
			plane := t.pad[(img*t.cu+ci)*pq : (img*t.cu+ci+1)*pq]
			r := ci * len(ty.k) * len(tx.k)
			for _, dy := range ty.off {
				for _, dx := range tx.off {
					o := (ty.m0+dy+t.padT)*wq + tx.m0 + dx + t.padL
					d := col[r*ncol+base : r*ncol+base+cols]
					copy(d[:run], plane[o:o+run])
					clear(d[run:])
					r++
				}
			}
		}
	}
	out := tensor.GetDirty(t.cv * ncol)
	sgemmSerial(false, false, t.cv, ncol, K, 1, t.wp[a*g.sw+b], K, col, ncol, 0, out, ncol)
	tensor.Put(col)
	return out
}

// store writes phase (a,b) of images [img0,img1) into v with strided
// stores, adding the bias (out nil: no tap reaches the phase, bias only).
func (t *phaseTask) store(a, b int, out []float32, img0, img1 int) {
	g := &t.win
	ty, tx := &t.py[a], &t.px[b]
	if ty.n == 0 || tx.n == 0 {
		return
	}
	wq := t.wq
	cols := ty.n * wq
	ncol := (img1 - img0) * cols
	hwv := g.h * g.w
	j0, sw, sh := g.sw*tx.m0+b-g.pl, g.sw, g.sh
	for img := img0; img < img1; img++ {
		base := (img - img0) * cols
		for c := 0; c < t.cv; c++ {
			var bv float32
			if t.bias != nil {
				bv = t.bias[c]
			}
			plane := t.v[(img*t.cv+c)*hwv : (img*t.cv+c+1)*hwv]
			for mm := 0; mm < ty.n; mm++ {
				i := sh*(ty.m0+mm) + a - g.pt
				dst := plane[i*g.w+j0 : i*g.w+j0+(tx.n-1)*sw+1]
				if out == nil {
					for nn := 0; nn < tx.n; nn++ {
						dst[nn*sw] = bv
					}
					continue
				}
				src := out[c*ncol+base+mm*wq : c*ncol+base+mm*wq+tx.n]
				if sw == 2 {
					stride2Store(dst, src, bv)
					continue
				}
				for nn, x := range src {
					dst[nn*sw] = x + bv
				}
			}
		}
	}
}

// stride2Store sets dst[2i] = src[i] + bv (len(dst) == 2·len(src)-1).
func stride2Store(dst, src []float32, bv float32) {
	if len(src) == 0 {
		return
	}
	dst = dst[:2*len(src)-1]
	for i, x := range src {
		dst[2*i] = x + bv
	}
}
