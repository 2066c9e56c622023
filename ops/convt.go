package ops

import "github.com/vigil-ad/vigil/tensor"

// ConvT2D holds the hyper-parameters of a 2-D transposed convolution
// (PyTorch ConvTranspose2d / ONNX ConvTranspose). Zero strides, dilations
// and groups mean 1.
type ConvT2D struct {
	StrideH, StrideW, PadT, PadL, PadB, PadR, OutPadH, OutPadW, DilH, DilW, Groups int
}

func (p ConvT2D) conv() Conv2D {
	return Conv2D{StrideH: p.StrideH, StrideW: p.StrideW, PadT: p.PadT, PadL: p.PadL, PadB: p.PadB, PadR: p.PadR,
		DilH: p.DilH, DilW: p.DilW, Groups: p.Groups}.norm()
}

// OutSize returns the output height and width for an h×w input and a
// kh×kw kernel: (h-1)*stride - padT - padB + dil*(kh-1) + outPad + 1.
func (p ConvT2D) OutSize(h, w, kh, kw int) (oh, ow int) {
	q := p.conv()
	oh = (h-1)*q.StrideH - q.PadT - q.PadB + q.DilH*(kh-1) + p.OutPadH + 1
	ow = (w-1)*q.StrideW - q.PadL - q.PadR + q.DilW*(kw-1) + p.OutPadW + 1
	return oh, ow
}

// convTShape: in the adjoint view, y (the transposed conv's output) is the
// convolution's input plane and x its output plane.
func convTCheck(op string, x, w, b *tensor.Tensor, p ConvT2D) convShape {
	q := p.conv()
	n, cin, h, wd := x.Dims4(op)
	wcin, coutg, kh, kw := w.Dims4(op)
	g := q.Groups
	if wcin != cin || cin%g != 0 {
		panicf("%s: input %v, weight %v and groups %d do not agree", op, x.Shape, w.Shape, g)
	}
	cout := coutg * g
	if b != nil && b.Len() != cout {
		panicf("%s: bias has %d values, want %d", op, b.Len(), cout)
	}
	if p.OutPadH < 0 || p.OutPadW < 0 {
		panicf("%s: negative output padding %+v", op, p)
	}
	oh, ow := p.OutSize(h, wd, kh, kw)
	if oh <= 0 || ow <= 0 {
		panicf("%s: output size %dx%d not positive for input %v, %+v", op, oh, ow, x.Shape, p)
	}
	return convShape{n: n, cin: cin, cout: cout, g: g, cing: cin / g, coutg: coutg,
		win: window{h: oh, w: ow, oh: h, ow: wd, kh: kh, kw: kw, sh: q.StrideH, sw: q.StrideW,
			pt: q.PadT, pl: q.PadL, dh: q.DilH, dw: q.DilW}}
}

// ConvTranspose2dForward returns the transposed convolution of x [N,Cin,H,W]
// with w [Cin,Cout/G,KH,KW] plus b [Cout] (or nil): the adjoint of
// Conv2d's input gradient, computed as col2im(Wᵀ·x).
func ConvTranspose2dForward(x, w, b *tensor.Tensor, p ConvT2D) *tensor.Tensor {
	return ConvTranspose2dForwardAct(x, w, b, p, ActNone)
}

// ConvTranspose2dForwardAct is ConvTranspose2dForward followed by act,
// applied with the bias in one pass over the output.
func ConvTranspose2dForwardAct(x, w, b *tensor.Tensor, p ConvT2D, act Act) *tensor.Tensor {
	act.bounds() // panics on an unknown activation before any work
	s := convTCheck("ops.ConvTranspose2dForward", x, w, b, p)
	g := &s.win
	y := tensor.New(s.n, s.cout, g.h, g.w)
	hwIn, hwOut := g.oh*g.ow, g.h*g.w // x plane, y plane
	M := s.coutg * g.kh * g.kw
	one := func(img int, buf []float32, gemm gemmFunc) {
		col, pad := buf[:M*hwIn], buf[M*hwIn:]
		for gi := 0; gi < s.g; gi++ {
			xs := x.Data[(img*s.cin+gi*s.cing)*hwIn:]
			wg := w.Data[gi*s.cing*M:]
			gemm(true, false, M, hwIn, s.cing, 1, wg, M, xs, hwIn, 0, col, hwIn)
			col2im(col, s.coutg, g, pad, y.Data[(img*s.cout+gi*s.coutg)*hwOut:])
		}
	}
	forImages(s.n, M*hwIn+g.bandSize(g.oh), one)
	if b != nil || act != ActNone {
		tensor.Parallel(s.n*s.cout, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				var bv float32
				if b != nil {
					bv = b.Data[pl%s.cout]
				}
				biasAct(y.Data[pl*hwOut:pl*hwOut+hwOut], bv, b != nil, act)
			}
		})
	}
	return y
}

// ConvTranspose2dBackward returns the gradients of sum(convT(x,w)+b ⊙ dy)
// with respect to x (only when needDX), w and b.
func ConvTranspose2dBackward(x, w, dy *tensor.Tensor, p ConvT2D, needDX bool) (dx, dw, db *tensor.Tensor) {
	s := convTCheck("ops.ConvTranspose2dBackward", x, w, nil, p)
	g := &s.win
	if n, c, h, wd := dy.Dims4("ops.ConvTranspose2dBackward dy"); n != s.n || c != s.cout || h != g.h || wd != g.w {
		panicf("ops.ConvTranspose2dBackward: dy %v, want [%d %d %d %d]", dy.Shape, s.n, s.cout, g.h, g.w)
	}
	hwIn, hwOut := g.oh*g.ow, g.h*g.w
	M := s.coutg * g.kh * g.kw
	db = tensor.New(s.cout)
	channelSums(db.Data, dy.Data, s.n, s.cout, hwOut)
	dw = tensor.New(w.Shape...)
	if needDX {
		dx = tensor.New(x.Shape...)
	}
	// Each piece accumulates into a private dW merged in a fixed order;
	// when dWᵀ (M×Cin/G per group) fits the GEMM tiles better (few input
	// channels, e.g. 32 rows of 14-row panels), dWᵀ is accumulated and
	// transposed once at the end.
	acc := dw.Data
	trW := transposeFits(s.cing, M)
	if trW {
		acc = tensor.Get(len(dw.Data))
	}
	forImagesAcc(s.n, M*hwIn+g.bandSize(g.oh), len(acc), acc, func(img int, buf, part []float32, gemm gemmFunc) {
		col, pad := buf[:M*hwIn], buf[M*hwIn:]
		for gi := 0; gi < s.g; gi++ {
			im2colRows(dy.Data[(img*s.cout+gi*s.coutg)*hwOut:], s.coutg, g, 0, g.oh, pad, col)
			xs := x.Data[(img*s.cin+gi*s.cing)*hwIn:]
			if trW {
				gemm(false, true, M, s.cing, hwIn, 1, col, hwIn, xs, hwIn, 1, part[gi*s.cing*M:], s.cing)
			} else {
				gemm(false, true, s.cing, M, hwIn, 1, xs, hwIn, col, hwIn, 1, part[gi*s.cing*M:], M)
			}
			if dx != nil {
				gemm(false, false, s.cing, hwIn, M, 1, w.Data[gi*s.cing*M:], M, col, hwIn, 0,
					dx.Data[(img*s.cin+gi*s.cing)*hwIn:], hwIn)
			}
		}
	})
	if trW {
		for gi := 0; gi < s.g; gi++ {
			o := gi * s.cing * M
			transposeTo(dw.Data[o:o+s.cing*M], acc[o:o+s.cing*M], M, s.cing)
		}
		tensor.Put(acc)
	}
	return dx, dw, db
}

type gemmFunc = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// forImages runs one(img, scratch, gemm) for every image: in parallel with
// a serial GEMM when there are at least as many images as workers, else one
// image at a time with the parallel GEMM. scratch has colLen floats.
func forImages(n, colLen int, one func(img int, col []float32, gemm gemmFunc)) {
	if n < tensor.Workers() {
		col := tensor.GetDirty(colLen)
		for img := 0; img < n; img++ {
			one(img, col, sgemmPar)
		}
		tensor.Put(col)
		return
	}
	tensor.Parallel(n, func(lo, hi int) {
		col := tensor.GetDirty(colLen)
		for img := lo; img < hi; img++ {
			one(img, col, sgemmSerial)
		}
		tensor.Put(col)
	})
}

// forImagesAcc is forImages for passes that accumulate into acc: each
// parallel piece gets a zeroed private buffer of accLen floats, added into
// acc in range order (parallelReduce).
func forImagesAcc(n, colLen, accLen int, acc []float32, one func(img int, col, part []float32, gemm gemmFunc)) {
	if n < tensor.Workers() {
		col := tensor.GetDirty(colLen)
		for img := 0; img < n; img++ {
			one(img, col, acc, sgemmPar)
		}
		tensor.Put(col)
		return
	}
	parallelReduce(n, accLen, func(lo, hi int, part []float32) {
		col := tensor.GetDirty(colLen)
		for img := lo; img < hi; img++ {
			one(img, col, part, sgemmSerial)
		}
		tensor.Put(col)
	}, addTo(acc))
}
