package ops

import (
	"sync"

	"github.com/vigil-ad/vigil/gemm"

	"github.com/vigil-ad/vigil/tensor"
)

// Conv2D holds the hyper-parameters of a 2-D convolution (cross-correlation,
// as in PyTorch and ONNX). Zero strides, dilations and groups mean 1.
type Conv2D struct {
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int // 0 means 1
	Groups                 int // 0 means 1; Groups == Cin == Cout is depthwise
	Act                    Act // applied after bias in forward only
}

func (p Conv2D) norm() Conv2D {
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	if p.DilH == 0 {
		p.DilH = 1
	}
	if p.DilW == 0 {
		p.DilW = 1
	}
	if p.Groups == 0 {
		p.Groups = 1
	}
	if p.StrideH < 0 || p.StrideW < 0 || p.DilH < 0 || p.DilW < 0 || p.Groups < 0 ||
		p.PadT < 0 || p.PadL < 0 || p.PadB < 0 || p.PadR < 0 {
		panicf("ops.Conv2D: negative parameter in %+v", p)
	}
	return p
}

// OutSize returns the output height and width for an h×w input and a
// kh×kw kernel.
func (p Conv2D) OutSize(h, w, kh, kw int) (oh, ow int) {
	q := p.norm()
	oh = (h+q.PadT+q.PadB-q.DilH*(kh-1)-1)/q.StrideH + 1
	ow = (w+q.PadL+q.PadR-q.DilW*(kw-1)-1)/q.StrideW + 1
	return oh, ow
}

// convShape is a checked convolution problem.
type convShape struct {
	n, cin, cout, g, cing, coutg int
	win                          window
}

func (s *convShape) k() int { return s.cing * s.win.kh * s.win.kw }
func (s *convShape) p() int { return s.win.oh * s.win.ow }

func (s *convShape) depthwise() bool { return s.g == s.cin && s.cout == s.cin && s.g > 1 }

// pointwise reports a 1×1 stride-1 unpadded convolution, a plain GEMM.
func (s *convShape) pointwise() bool {
	g := &s.win
	return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w
}

func convCheck(op string, x, w, b *tensor.Tensor, p Conv2D) convShape {
	n, cin, h, wd := x.Dims4(op)
	cout, cing, kh, kw := w.Dims4(op)
	g := p.Groups
	if cin%g != 0 || cout%g != 0 || cing != cin/g {
		panicf("%s: input %v, weight %v and groups %d do not agree", op, x.Shape, w.Shape, g)
	}
	if b != nil && b.Len() != cout {
		panicf("%s: bias has %d values, want %d", op, b.Len(), cout)
	}
	oh, ow := p.OutSize(h, wd, kh, kw)
	if oh <= 0 || ow <= 0 {
		panicf("%s: input %v too small for kernel %dx%d with %+v", op, x.Shape, kh, kw, p)
	}
	return convShape{n: n, cin: cin, cout: cout, g: g, cing: cing, coutg: cout / g,
		win: window{h: h, w: wd, oh: oh, ow: ow, kh: kh, kw: kw, sh: p.StrideH, sw: p.StrideW,
			pt: p.PadT, pl: p.PadL, dh: p.DilH, dw: p.DilW}}
}

// Conv2dForward returns conv(x, w) + b with p.Act applied. x is
// [N,Cin,H,W], w is [Cout,Cin/G,KH,KW], b is [Cout] or nil.
func Conv2dForward(x, w, b *tensor.Tensor, p Conv2D) *tensor.Tensor {
	p = p.norm()
	s := convCheck("ops.Conv2dForward", x, w, b, p)
	y := tensor.New(s.n, s.cout, s.win.oh, s.win.ow)
	conv2dForward(y, x, w, b, p, &s)
	return y
}

// Conv2dForwardInto is Conv2dForward writing into the preallocated y
// ([N,Cout,OH,OW]); its scratch space comes from the tensor buffer pool, so
// repeated calls do not allocate buffers.
func Conv2dForwardInto(y, x, w, b *tensor.Tensor, p Conv2D) {
	p = p.norm()
	s := convCheck("ops.Conv2dForwardInto", x, w, b, p)
	yn, yc, yh, yw := y.Dims4("ops.Conv2dForwardInto output")
	if yn != s.n || yc != s.cout || yh != s.win.oh || yw != s.win.ow {
		panicf("ops.Conv2dForwardInto: output %v, want [%d %d %d %d]", y.Shape, s.n, s.cout, s.win.oh, s.win.ow)
	}
	conv2dForward(y, x, w, b, p, &s)
}

func conv2dForward(y, x, w, b *tensor.Tensor, p Conv2D, s *convShape) {
	var bias []float32
	if b != nil {
		bias = b.Data
	}
	if s.depthwise() {
		depthwiseForward(y.Data, x.Data, w.Data, bias, p.Act, s)
		return
	}
	if useWinograd(s) && !disableWinograd {
		winogradForward(y.Data, x.Data, w.Data, bias, p.Act, s)
		return
	}
	gemmConvForward(y.Data, x.Data, w.Data, bias, p.Act, s)
}

// minTileCols is the fewest output positions an im2col tile should have:
// narrower tiles repack the weights too often and starve the GEMM kernel.
const minTileCols = 256

// colRows picks how many output rows one im2col tile covers: small enough
// that the tile stays in cache, wide enough for an efficient GEMM, and a
// tile count that spreads evenly over the workers. whole reports that
// there are too few tiles to keep every worker busy: the caller then
// handles one image at a time with a parallel im2col and GEMM instead.
func colRows(s *convShape) (rows int, whole bool) {
	oh, ow, K := s.win.oh, s.win.ow, s.k()
	rows = oh
	if !s.pointwise() {
		rows = min(oh, max(1, colTileFloats/max(K*ow, 1)))
	}
	rows = max(rows, min(oh, (minTileCols+ow-1)/ow))
	tiles := (oh + rows - 1) / rows
	w, imgs := tensor.Workers(), s.n*s.g
	if imgs*tiles < w {
		return oh, true
	}
	for imgs*tiles < 4*w && (imgs*tiles)%w != 0 && tiles < oh {
		tiles++
	}
	return (oh + tiles - 1) / tiles, false
}

// balanceRows adjusts a band height so the bands of a plane have equal
// heights and, with few images, there are enough bands (at least two per
// worker) for the pool to balance the load.
func balanceRows(total, rows, images int) int {
	rows = max(1, min(rows, total))
	bands := (total + rows - 1) / rows
	if want := 2 * tensor.Workers(); images*bands < want {
		bands = min(total, (want+images-1)/images)
	}
	return (total + bands - 1) / bands
}

// convFwdTask carries one forward convolution to the worker pool. Tasks
// are recycled with their bound method value, so a steady-state forward
// pass hands work to the pool without allocating.
type convFwdTask struct {
	y, x, w, bias []float32
	act           Act
	s             convShape
	tile, tiles   int
	tw            int             // Winograd tiles per row
	pa            []*gemm.PackedA // per group: weights packed by a plan, or nil
	upa           []*gemm.PackedA // Winograd: U packed by a plan, or nil
	u             []float32       // Winograd-transformed weights
	img, grp      int             // current image and group (wholeImages)
	col           []float32       // im2col scratch (wholeImages)
	tr            []float32       // Yᵀ of the current image and group, or nil (wholeImages)
	// Bound method values, made once per recycled task.
	fn, dwfn, ufn, wfn, colfn, epifn func(lo, hi int)
}

var convFwdTasks = sync.Pool{New: func() any {
	t := new(convFwdTask)
	t.fn, t.dwfn, t.ufn, t.wfn = t.run, t.depthwise, t.winogradWeights, t.winograd
	t.colfn, t.epifn = t.im2colChannels, t.epilogue
	return t
}}

// disableShiftedDW forces the im2col weight gradient (tests compare).
var disableShiftedDW = false

// disableWinoDW forces the direct weight gradient where Winograd's would
// apply (tests and benchmarks compare).
var disableWinoDW = false

// disableTransposedGemm keeps Y = W·col where the transposed product
// would pad less (tests and benchmarks compare).
var disableTransposedGemm = false

// disableWinograd forces the im2col path (tests and benchmarks compare).
var disableWinograd = false

// colTileFloats bounds one im2col tile (floats).
var colTileFloats = 64 << 10

// gemmConvForward is the im2col + GEMM path, parallel over (image, group,
// tile of output positions) with a serial GEMM per task.
func gemmConvForward(y, x, w, bias []float32, act Act, s *convShape) {
	gemmConvForwardPA(y, x, w, bias, act, s, nil)
}

// gemmConvForwardPA is gemmConvForward with each group's weights taken
// prepacked from pa (a plan's; nil: packed per call). The products are
// bit-identical either way.
func gemmConvForwardPA(y, x, w, bias []float32, act Act, s *convShape, pa []*gemm.PackedA) {
	t := convFwdTasks.Get().(*convFwdTask)
	t.y, t.x, t.w, t.bias, t.act, t.s, t.pa = y, x, w, bias, act, *s, pa
	rows, whole := colRows(s)
	if whole {
		t.wholeImages()
	} else {
		t.tile = rows
		t.tiles = (s.win.oh + t.tile - 1) / t.tile
		tensor.Parallel(s.n*s.g*t.tiles, t.fn)
	}
	t.y, t.x, t.w, t.bias, t.col, t.pa = nil, nil, nil, nil, nil, nil
	convFwdTasks.Put(t)
}

// wholeImages runs the im2col + GEMM path one (image, group) at a time:
// im2col split over input channels, then the parallel GEMM over the whole
// image, then the epilogue split over output channels. It serves small
// batches of small maps (deep layers), where output tiles would be too
// narrow to parallelise over.
func (t *convFwdTask) wholeImages() {
	s := &t.s
	P, K := s.p(), s.k()
	hw := s.win.h * s.win.w
	pw := s.pointwise()
	if !pw {
		t.col = tensor.GetDirty(K * P)
	}
	var tr []float32
	if !disableTransposedGemm && transposedPays(s.coutg, P) {
		tr = tensor.GetDirty(P * s.coutg)
		t.tr = tr
	}
	for img := 0; img < s.n; img++ {
		for g := 0; g < s.g; g++ {
			t.img, t.grp = img, g
			xs := t.x[(img*s.cin+g*s.cing)*hw:]
			bm := xs
			if !pw {
				tensor.Parallel(s.cing, t.colfn)
				bm = t.col
			}
			ys := t.y[(img*s.cout+g*s.coutg)*P:]
			if tr != nil {
				// Yᵀ = colᵀ·Wᵀ, then transposed back with the epilogue.
				sgemmPar(true, true, P, s.coutg, K, 1, bm, P, t.w[g*s.coutg*K:], K, 0, tr, s.coutg)
				tensor.Parallel(s.coutg, t.epifn)
				continue
			}
			if t.pa != nil {
				gemm.SgemmPacked(t.pa[g], false, P, bm, P, 0, ys, P)
			} else {
				sgemmPar(false, false, s.coutg, P, K, 1, t.w[g*s.coutg*K:], K, bm, P, 0, ys, P)
			}
			if t.bias != nil || t.act != ActNone {
				tensor.Parallel(s.coutg, t.epifn)
			}
		}
	}
	if t.col != nil {
		tensor.Put(t.col)
	}
	if tr != nil {
		tensor.Put(tr)
		t.tr = nil
	}
}

// transposedPays reports whether the product Y (m×n) runs better as
// Yᵀ = Bᵀ·Aᵀ: with few columns (under 4 micro-tiles) each packed weight
// panel serves only a couple of kernel calls and the last column tile is
// mostly padding; transposed, the weights become the wide side. The
// kernel's tiles are mr×nr (14×32 with AVX-512), so 512×49 pads 49 columns
// to 64 but its transpose 49 rows only to 56. Measured on ResNet-18's 7×7
// layers: 3×3 512→512 2.9 → 2.3 ms; on 14×14 (196 columns) no gain, and on
// a 1×1 layer with 784 columns a loss (BenchmarkResNetPlanVariants).
func transposedPays(m, n int) bool {
	mr, nr := gemmTile()
	pad := func(v, u int) int { return (v + u - 1) / u * u }
	return n >= mr && n < 4*nr && m >= 4*nr && pad(n, mr)*pad(m, nr) < pad(m, mr)*pad(n, nr)
}

// transposeFits reports whether a product with an m×n result pads the
// GEMM's micro-tiles at least 10% less computed as its n×m transpose:
// with 14×32 tiles, 32 rows take three 14-row panels (42 rows computed)
// while 32 columns fill one panel exactly. Callers accumulate the
// transposed result and transpose it once (weight gradients summed over a
// batch), where the extra pass costs little.
func transposeFits(m, n int) bool {
	mr, nr := gemmTile()
	pad := func(v, u int) int { return (v + u - 1) / u * u }
	return 10*pad(n, mr)*pad(m, nr) <= 9*pad(m, mr)*pad(n, nr)
}

// transposeTo sets dst (cols×rows) to the transpose of src (rows×cols),
// in 8×8 blocks so that both sides stay in cache lines.
func transposeTo(dst, src []float32, rows, cols int) {
	const b = 8
	if rows == 0 || cols == 0 {
		return
	}
	_, _ = dst[rows*cols-1], src[rows*cols-1]
	for r0 := 0; r0 < rows; r0 += b {
		r1 := min(rows, r0+b)
		for c0 := 0; c0 < cols; c0 += b {
			c1 := min(cols, c0+b)
			for r := r0; r < r1; r++ {
				row := src[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = row[c]
				}
			}
		}
	}
}

// gemmTile returns the active GEMM kernel's micro-tile mr×nr.
func gemmTile() (mr, nr int) {
	switch gemm.Kernel() {
	case "avx512":
		return 14, 32
	case "avx2":
		return 6, 16
	}
	return 4, 4 // the generic kernel
}

// im2colChannels fills the columns of input channels [lo,hi) of the
// current image and group into t.col.
func (t *convFwdTask) im2colChannels(lo, hi int) {
	s := &t.s
	hw, kk, P := s.win.h*s.win.w, s.win.kh*s.win.kw, s.p()
	pad := tensor.GetDirty(s.win.bandSize(s.win.oh))
	xs := t.x[(t.img*s.cin+t.grp*s.cing+lo)*hw:]
	im2colRows(xs, hi-lo, &s.win, 0, s.win.oh, pad, t.col[lo*kk*P:])
	tensor.Put(pad)
}

// epilogue adds bias and applies the activation to output channels
// [lo,hi) of the current image and group.
func (t *convFwdTask) epilogue(lo, hi int) {
	s := &t.s
	P := s.p()
	ys := t.y[(t.img*s.cout+t.grp*s.coutg)*P:]
	for co := lo; co < hi; co++ {
		var bv float32
		if t.bias != nil {
			bv = t.bias[t.grp*s.coutg+co]
		}
		row := ys[co*P : (co+1)*P]
		if t.tr != nil {
			for p := range row {
				row[p] = t.tr[p*s.coutg+co]
			}
		}
		if t.bias != nil || t.act != ActNone {
			biasAct(row, bv, t.bias != nil, t.act)
		}
	}
}

func (t *convFwdTask) run(lo, hi int) {
	s := &t.s
	P, K := s.p(), s.k()
	hw := s.win.h * s.win.w
	rows, tiles := t.tile, t.tiles
	pw := s.pointwise()
	var col, pad []float32
	if !pw {
		col = tensor.GetDirty(K * rows * s.win.ow)
		pad = tensor.GetDirty(s.win.bandSize(rows))
	}
	for ti := lo; ti < hi; ti++ {
		img, r := ti/(s.g*tiles), ti%(s.g*tiles)
		g, tn := r/tiles, r%tiles
		oy0 := tn * rows
		oy1 := min(s.win.oh, oy0+rows)
		p0, p1 := oy0*s.win.ow, oy1*s.win.ow
		np := p1 - p0
		xs := t.x[(img*s.cin+g*s.cing)*hw:]
		bm, ldb := col, np
		if pw {
			bm, ldb = xs[p0:], P // input positions are output positions
		} else {
			im2colRows(xs, s.cing, &s.win, oy0, oy1, pad, col)
		}
		ys := t.y[(img*s.cout+g*s.coutg)*P+p0:]
		if t.pa != nil {
			gemm.SgemmPackedSerial(t.pa[g], false, np, bm, ldb, 0, ys, P)
		} else {
			sgemmSerial(false, false, s.coutg, np, K, 1, t.w[g*s.coutg*K:], K, bm, ldb, 0, ys, P)
		}
		if t.bias != nil || t.act != ActNone {
			for co := 0; co < s.coutg; co++ {
				var bv float32
				if t.bias != nil {
					bv = t.bias[g*s.coutg+co]
				}
				biasAct(ys[co*P:co*P+np], bv, t.bias != nil, t.act)
			}
		}
	}
	if col != nil {
		tensor.Put(col)
		tensor.Put(pad)
	}
}

// Conv2dBackward returns the gradients of sum(conv(x,w)+b ⊙ dy) with respect
// to x (only when needDX; nil otherwise), w and b. p.Act must be ActNone:
// the caller applies the activation's backward to dy first.
func Conv2dBackward(x, w, dy *tensor.Tensor, p Conv2D, needDX bool) (dx, dw, db *tensor.Tensor) {
	p = p.norm()
	if p.Act != ActNone {
		panicf("ops.Conv2dBackward: p.Act must be ActNone, got %d", p.Act)
	}
	s := convCheck("ops.Conv2dBackward", x, w, nil, p)
	if n, c, h, wd := dy.Dims4("ops.Conv2dBackward dy"); n != s.n || c != s.cout || h != s.win.oh || wd != s.win.ow {
		panicf("ops.Conv2dBackward: dy %v, want [%d %d %d %d]", dy.Shape, s.n, s.cout, s.win.oh, s.win.ow)
	}
	db = tensor.New(s.cout)
	channelSums(db.Data, dy.Data, s.n, s.cout, s.p())
	dw = tensor.New(w.Shape...)
	if needDX {
		dx = tensor.New(x.Shape...)
	}
	var dxd []float32
	if dx != nil {
		dxd = dx.Data
	}
	if s.depthwise() {
		depthwiseBackward(dxd, dw.Data, x.Data, w.Data, dy.Data, &s)
		return dx, dw, db
	}
	if dx != nil && !s.pointwise() && backwardDataAsConv(dx, w, dy, &s) {
		dxd = nil // done as a forward convolution; only dW remains
	}
	if useWinograd(&s) && !disableWinograd && !disableWinoDW {
		winoWeightGrad(dw.Data, x.Data, dy.Data, &s)
		if dxd != nil {
			gemmConvBackward(dxd, nil, x.Data, w.Data, dy.Data, &s)
		}
		return dx, dw, db
	}
	// The per-tap GEMMs have Cin/G columns: they pay for stride 1 with
	// enough channels; strided or narrow layers share one im2col instead.
	if !s.pointwise() && s.win.sh == 1 && s.win.sw == 1 && s.cing >= 8 && !disableShiftedDW {
		shiftedWeightGrad(dw.Data, x.Data, dy.Data, &s)
		if dxd != nil {
			gemmConvBackward(dxd, nil, x.Data, w.Data, dy.Data, &s)
		}
		return dx, dw, db
	}
	gemmConvBackward(dxd, dw.Data, x.Data, w.Data, dy.Data, &s)
	return dx, dw, db
}

// backwardDataAsConv computes dX for a stride-1 ungrouped convolution as the
// forward convolution of dY with the flipped, transposed kernel
// (Wf[ci][co] = rot180(W[co][ci])) and complementary padding, which reuses
// the fast forward paths (Winograd, tiled im2col) and avoids col2im. It
// reports false when the case does not apply.
func backwardDataAsConv(dx, w, dy *tensor.Tensor, s *convShape) bool {
	g := &s.win
	if g.sh != 1 || g.sw != 1 || s.g != 1 {
		return false
	}
	ekh, ekw := g.dh*(g.kh-1), g.dw*(g.kw-1)
	q := Conv2D{StrideH: 1, StrideW: 1, DilH: g.dh, DilW: g.dw, Groups: 1,
		PadT: ekh - g.pt, PadL: ekw - g.pl, PadB: g.h + g.pt - g.oh, PadR: g.w + g.pl - g.ow}
	if q.PadT < 0 || q.PadL < 0 || q.PadB < 0 || q.PadR < 0 {
		return false
	}
	kk := g.kh * g.kw
	buf := tensor.GetDirty(s.cin * s.cout * kk)
	for co := 0; co < s.cout; co++ {
		for ci := 0; ci < s.cin; ci++ {
			src := w.Data[(co*s.cin+ci)*kk : (co*s.cin+ci)*kk+kk]
			dst := buf[(ci*s.cout+co)*kk : (ci*s.cout+co)*kk+kk]
			for k, v := range src {
				dst[kk-1-k] = v
			}
		}
	}
	wf := &tensor.Tensor{Shape: []int{s.cin, s.cout, g.kh, g.kw}, Data: buf}
	qs := convCheck("ops.Conv2dBackward data", dy, wf, nil, q)
	if qs.win.oh != g.h || qs.win.ow != g.w {
		panicf("ops.Conv2dBackward: internal size mismatch %dx%d vs %dx%d", qs.win.oh, qs.win.ow, g.h, g.w)
	}
	conv2dForward(dx, dy, wf, nil, q, &qs)
	tensor.Put(buf)
	return true
}

// channelSums sets out[c] = sum over images and positions of v[n][c][p].
func channelSums(out, v []float32, n, c, p int) {
	tensor.Parallel(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var acc float64
			for img := 0; img < n; img++ {
				acc += float64(sumFloats(v[(img*c+ch)*p : (img*c+ch)*p+p]))
			}
			out[ch] = float32(acc)
		}
	})
}

// gemmConvBackward: per image and group, dW_g += dY_g·colᵀ and
// dX_g = col2im(W_gᵀ·dY_g). With enough images it runs images in parallel,
// each worker accumulating its own dW that is summed at the end; otherwise
// images run in turn with a parallel GEMM.
func gemmConvBackward(dx, dw, x, w, dy []float32, s *convShape) {
	P, K := s.p(), s.k()
	hw := s.win.h * s.win.w
	pw := s.pointwise()
	colLen := K * P
	if !pw {
		colLen += s.win.bandSize(s.win.oh)
	}
	// Few output channels (32 rows: three 14-row panels) fit the GEMM
	// tiles better as dWᵀ, accumulated so and transposed once at the end.
	trW := dw != nil && transposeFits(s.coutg, K)
	acc := dw
	if trW {
		acc = tensor.Get(len(dw))
		defer func() {
			for g := 0; g < s.g; g++ {
				o := g * s.coutg * K
				transposeTo(dw[o:o+s.coutg*K], acc[o:o+s.coutg*K], K, s.coutg)
			}
			tensor.Put(acc)
		}()
	}
	one := func(img int, part, buf []float32, gemm gemmFunc) {
		col, pad := buf[:K*P], buf[K*P:]
		for g := 0; g < s.g; g++ {
			xs := x[(img*s.cin+g*s.cing)*hw:]
			dys := dy[(img*s.cout+g*s.coutg)*P:]
			wg := w[g*s.coutg*K:]
			if part != nil {
				cm := xs
				if !pw {
					im2colRows(xs, s.cing, &s.win, 0, s.win.oh, pad, col)
					cm = col
				}
				if trW { // dW_gᵀ += col·dY_gᵀ
					gemm(false, true, K, s.coutg, P, 1, cm, P, dys, P, 1, part[g*s.coutg*K:], s.coutg)
				} else {
					gemm(false, true, s.coutg, K, P, 1, dys, P, cm, P, 1, part[g*s.coutg*K:], K)
				}
			}
			if dx == nil {
				continue
			}
			dxs := dx[(img*s.cin+g*s.cing)*hw:]
			if pw {
				gemm(true, false, K, P, s.coutg, 1, wg, K, dys, P, 0, dxs, P)
				continue
			}
			gemm(true, false, K, P, s.coutg, 1, wg, K, dys, P, 0, col, P)
			col2im(col, s.cing, &s.win, pad, dxs)
		}
	}
	if s.n < tensor.Workers() {
		buf := tensor.GetDirty(colLen)
		for img := 0; img < s.n; img++ {
			one(img, acc, buf, sgemmPar)
		}
		tensor.Put(buf)
		return
	}
	if dw == nil { // dX only: images are independent
		tensor.Parallel(s.n, func(lo, hi int) {
			buf := tensor.GetDirty(colLen)
			for img := lo; img < hi; img++ {
				one(img, nil, buf, sgemmSerial)
			}
			tensor.Put(buf)
		})
		return
	}
	parallelReduce(s.n, len(acc), func(lo, hi int, part []float32) {
		buf := tensor.GetDirty(colLen)
		for img := lo; img < hi; img++ {
			one(img, part, buf, sgemmSerial)
		}
		tensor.Put(buf)
	}, addTo(acc))
}
