package onnx

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// elemGrain is the smallest chunk of elementwise work handed to a worker.
const elemGrain = 1 << 14

// parallel is tensor.ParallelChunks that carries a panic from any worker
// back to the calling goroutine, where Run turns it into an error naming
// the node, instead of crashing the process.
func parallel(n, grain int, fn func(lo, hi int)) {
	var (
		once sync.Once
		pv   any
	)
	tensor.ParallelChunks(n, grain, func(lo, hi int) {
		defer func() {
			if r := recover(); r != nil {
				once.Do(func() { pv = r })
			}
		}()
		fn(lo, hi)
	})
	if pv != nil {
		panic(pv)
	}
}

// window holds Conv/Pool spatial parameters before auto_pad resolution.
type window struct {
	k, stride, dil [2]int
	pads           [4]int // top, left, bottom, right
	autoPad        string
}

func (w *window) parse(n *Node, kernel []int, allowDil bool) error {
	w.k = [2]int{kernel[0], kernel[1]}
	if ks := n.AttrInts("kernel_shape"); ks != nil && (len(ks) != 2 || int(ks[0]) != kernel[0] || int(ks[1]) != kernel[1]) {
		return fmt.Errorf("onnx: %s: kernel_shape %v does not match the weight", n.label(), ks)
	}
	w.stride, w.dil = [2]int{1, 1}, [2]int{1, 1}
	if s := n.AttrInts("strides"); s != nil {
		if len(s) != 2 || s[0] <= 0 || s[1] <= 0 {
			return fmt.Errorf("onnx: %s: bad strides %v", n.label(), s)
		}
		w.stride = [2]int{int(s[0]), int(s[1])}
	}
	if d := n.AttrInts("dilations"); d != nil {
		if len(d) != 2 || d[0] <= 0 || d[1] <= 0 {
			return fmt.Errorf("onnx: %s: bad dilations %v", n.label(), d)
		}
		w.dil = [2]int{int(d[0]), int(d[1])}
	}
	if p := n.AttrInts("pads"); p != nil {
		if len(p) != 4 {
			return fmt.Errorf("onnx: %s: pads %v: want 4 values", n.label(), p)
		}
		for i, v := range p {
			if v < 0 {
				return fmt.Errorf("onnx: %s: negative pads %v", n.label(), p)
			}
			// ONNX order is [x1_begin, x2_begin, x1_end, x2_end].
			w.pads[i] = int(v)
		}
	}
	w.autoPad = n.AttrString("auto_pad", "NOTSET")
	switch w.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "":
	default:
		return fmt.Errorf("onnx: %s: unknown auto_pad %q", n.label(), w.autoPad)
	}
	return nil
}

// resolve returns the pads for an h×w input.
func (w *window) resolve(h, wd int) [4]int {
	switch w.autoPad {
	case "VALID":
		return [4]int{}
	case "SAME_UPPER", "SAME_LOWER":
		var p [4]int
		for i, in := range []int{h, wd} {
			out := (in + w.stride[i] - 1) / w.stride[i]
			total := max(0, (out-1)*w.stride[i]+(w.k[i]-1)*w.dil[i]+1-in)
			lo := total / 2
			if w.autoPad == "SAME_LOWER" {
				lo = total - total/2
			}
			p[i], p[i+2] = lo, total-lo
		}
		return p
	}
	return w.pads
}

func want4D(s []int) error {
	if len(s) != 4 {
		return fmt.Errorf("want a 4-D NCHW input, got shape %v", s)
	}
	return nil
}

type convK struct {
	w, b  *tensor.Tensor
	win   window
	group int
	act   ops.Act
	p     ops.Conv2D
	plan  *ops.Conv2dPlan // weights prepared once for the current p
}

func (k *convK) infer(in [][]int) ([]int, error) {
	x := in[0]
	if err := want4D(x); err != nil {
		return nil, err
	}
	if x[1] != k.w.Shape[1]*k.group {
		return nil, fmt.Errorf("input has %d channels, weight %v with group %d expects %d", x[1], k.w.Shape, k.group, k.w.Shape[1]*k.group)
	}
	pd := k.win.resolve(x[2], x[3])
	k.p = ops.Conv2D{StrideH: k.win.stride[0], StrideW: k.win.stride[1], PadT: pd[0], PadL: pd[1], PadB: pd[2], PadR: pd[3],
		DilH: k.win.dil[0], DilW: k.win.dil[1], Groups: k.group, Act: k.act}
	oh, ow := k.p.OutSize(x[2], x[3], k.w.Shape[2], k.w.Shape[3])
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("input %dx%d is too small for kernel %dx%d", x[2], x[3], k.w.Shape[2], k.w.Shape[3])
	}
	if k.plan == nil || k.plan.Params() != ops.PrepareConv2dParams(k.p) {
		k.plan = ops.PrepareConv2d(k.w, k.b, k.p)
	}
	return []int{x[0], k.w.Shape[0], oh, ow}, nil
}

func (k *convK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	k.plan.Forward(out, in[0])
}

// convTK is ConvTranspose: weight [Cin, Cout/group, kh, kw], explicit
// pads (auto_pad NOTSET or VALID), output_padding, strides, dilations.
type convTK struct {
	w, b   *tensor.Tensor
	win    window
	outPad [2]int
	group  int
	act    ops.Act
	p      ops.ConvT2D
}

func (k *convTK) infer(in [][]int) ([]int, error) {
	x := in[0]
	if err := want4D(x); err != nil {
		return nil, err
	}
	if x[1] != k.w.Shape[0] {
		return nil, fmt.Errorf("input has %d channels, weight %v expects %d", x[1], k.w.Shape, k.w.Shape[0])
	}
	pd := k.win.pads
	k.p = ops.ConvT2D{StrideH: k.win.stride[0], StrideW: k.win.stride[1], PadT: pd[0], PadL: pd[1], PadB: pd[2], PadR: pd[3],
		OutPadH: k.outPad[0], OutPadW: k.outPad[1], DilH: k.win.dil[0], DilW: k.win.dil[1], Groups: k.group}
	oh, ow := k.p.OutSize(x[2], x[3], k.w.Shape[2], k.w.Shape[3])
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("output size %dx%d is not positive for input %dx%d", oh, ow, x[2], x[3])
	}
	if oh > maxElems || ow > maxElems {
		return nil, fmt.Errorf("output size %dx%d is too large", oh, ow)
	}
	return []int{x[0], k.w.Shape[1] * k.group, oh, ow}, nil
}

func (k *convTK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	y := ops.ConvTranspose2dForwardAct(in[0], k.w, k.b, k.p, k.act)
	copy(out.Data, y.Data)
}

type poolK struct {
	max, ceil, countPad bool
	win                 window
	p                   ops.Pool2D
}

func (k *poolK) infer(in [][]int) ([]int, error) {
	x := in[0]
	if err := want4D(x); err != nil {
		return nil, err
	}
	pd := k.win.resolve(x[2], x[3])
	k.p = ops.Pool2D{KH: k.win.k[0], KW: k.win.k[1], StrideH: k.win.stride[0], StrideW: k.win.stride[1],
		PadT: pd[0], PadL: pd[1], PadB: pd[2], PadR: pd[3], CeilMode: k.ceil, CountIncludePad: k.countPad}
	if k.win.k[0] <= 0 || k.win.k[1] <= 0 {
		return nil, fmt.Errorf("bad kernel_shape %v", k.win.k)
	}
	if pd[0] >= k.win.k[0] || pd[2] >= k.win.k[0] || pd[1] >= k.win.k[1] || pd[3] >= k.win.k[1] {
		return nil, fmt.Errorf("pads %v must be smaller than the kernel %v", pd, k.win.k)
	}
	oh, ow := k.p.OutSize(x[2], x[3])
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("input %dx%d is too small for kernel %v", x[2], x[3], k.win.k)
	}
	return []int{x[0], x[1], oh, ow}, nil
}

func (k *poolK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	if k.max {
		ops.MaxPool2dInferenceInto(out, in[0], k.p)
		return
	}
	y := ops.AvgPool2dForward(in[0], k.p)
	copy(out.Data, y.Data)
	tensor.Put(y.Data)
}

type gapK struct{}

func (gapK) infer(in [][]int) ([]int, error) { return globalPoolShape(in[0]) }

func (gapK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	y := ops.GlobalAvgPoolForward(in[0])
	copy(out.Data, y.Data)
	tensor.Put(y.Data)
}

// bnK is a standalone inference BatchNormalization: y = x*scale[c] + shift[c].
type bnK struct{ scale, shift []float32 }

func (k *bnK) canInplace() bool { return true }

func (k *bnK) infer(in [][]int) ([]int, error) {
	x := in[0]
	if len(x) < 2 || x[1] != len(k.scale) {
		return nil, fmt.Errorf("input shape %v does not have %d channels", x, len(k.scale))
	}
	return x, nil
}

func (k *bnK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	c := len(k.scale)
	s := tensor.Numel(out.Shape[2:])
	planes := out.Shape[0] * c
	x := in[0].Data
	parallel(planes, max(1, elemGrain/max(s, 1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			sc, sh := k.scale[pl%c], k.shift[pl%c]
			dst, src := out.Data[pl*s:pl*s+s], x[pl*s:pl*s+s]
			for i, v := range src {
				dst[i] = v*sc + sh
			}
		}
	})
}

// unaryK clamps to [lo, hi]: Relu is [0, +Inf].
type unaryK struct{ lo, hi float32 }

func (k *unaryK) canInplace() bool { return true }

func (k *unaryK) infer(in [][]int) ([]int, error) { return in[0], nil }

func (k *unaryK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	lo, hi := k.lo, k.hi
	x := in[0].Data
	parallel(len(out.Data), elemGrain, func(a, b int) {
		dst := out.Data[a:b]
		for i, v := range x[a:b] {
			if v < lo {
				v = lo
			} else if v > hi {
				v = hi
			}
			dst[i] = v
		}
	})
}

// mapK applies a smooth or piecewise-linear activation elementwise.
type mapK struct {
	op          string
	alpha, beta float32
}

func (k *mapK) canInplace() bool { return true }

func (k *mapK) infer(in [][]int) ([]int, error) { return in[0], nil }

func (k *mapK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	x := in[0].Data
	parallel(len(out.Data), elemGrain/4, func(lo, hi int) {
		dst, src := out.Data[lo:hi], x[lo:hi]
		switch k.op {
		case "Sigmoid":
			for i, v := range src {
				dst[i] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		case "Tanh":
			for i, v := range src {
				dst[i] = float32(math.Tanh(float64(v)))
			}
		case "LeakyRelu":
			for i, v := range src {
				if v < 0 {
					v *= k.alpha
				}
				dst[i] = v
			}
		case "HardSigmoid":
			for i, v := range src {
				dst[i] = min(max(k.alpha*v+k.beta, 0), 1)
			}
		case "HardSwish":
			for i, v := range src {
				dst[i] = v * min(max(v/6+0.5, 0), 1)
			}
		case "Sqrt":
			for i, v := range src {
				dst[i] = float32(math.Sqrt(float64(v)))
			}
		case "Exp":
			for i, v := range src {
				dst[i] = float32(math.Exp(float64(v)))
			}
		case "Abs":
			for i, v := range src {
				dst[i] = float32(math.Abs(float64(v)))
			}
		case "Log":
			for i, v := range src {
				dst[i] = float32(math.Log(float64(v)))
			}
		}
	})
}

// binaryK is an elementwise arithmetic op with numpy broadcasting and an
// optional fused activation.
type binaryK struct {
	op  string
	f   arith
	act ops.Act
	// broadcast plan from infer
	same    bool
	rank    int
	shape   []int
	sa, sb  []int // strides of a and b in output index space (0 = broadcast)
	aIsSame bool
}

// canInplace is asked at plan time (before shapes are known) and again at
// run time: writing over a is only right when a already has the output shape.
func (k *binaryK) canInplace() bool { return k.shape == nil || k.aIsSame }

func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := 0; i < r; i++ {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// bstrides returns the strides of shape s aligned to the output rank, with
// 0 for broadcast dimensions.
func bstrides(s []int, out []int) []int {
	r := len(out)
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		j := i - (r - len(s))
		if j < 0 {
			continue
		}
		if s[j] != 1 || out[i] == 1 {
			st[i] = acc
		}
		acc *= s[j]
	}
	return st
}

func (k *binaryK) infer(in [][]int) ([]int, error) {
	out, err := broadcastShape(in[0], in[1])
	if err != nil {
		return nil, err
	}
	k.same = slices.Equal(in[0], in[1])
	k.aIsSame = slices.Equal(in[0], out)
	k.shape, k.rank = out, len(out)
	k.sa, k.sb = bstrides(in[0], out), bstrides(in[1], out)
	return out, nil
}

// arith is one elementwise arithmetic operator in the three operand forms
// the broadcast loops need, each a plain loop the compiler keeps tight.
type arith struct {
	vv func(dst, a, b []float32)                   // dst[i] = a[i] op b[i]
	vs func(dst, a []float32, b float32)           // dst[i] = a[i] op b
	sv func(dst []float32, a float32, b []float32) // dst[i] = a op b[i]
}

// arithOps is the one place the float Add, Sub, Mul and Div are spelled
// out (shapeops.go has the integer versions).
var arithOps = map[string]arith{
	"Add": {
		vv: func(dst, a, b []float32) {
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		},
		vs: func(dst, a []float32, b float32) {
			for i := range dst {
				dst[i] = a[i] + b
			}
		},
		sv: func(dst []float32, a float32, b []float32) {
			for i := range dst {
				dst[i] = a + b[i]
			}
		},
	},
	"Sub": {
		vv: func(dst, a, b []float32) {
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		},
		vs: func(dst, a []float32, b float32) {
			for i := range dst {
				dst[i] = a[i] - b
			}
		},
		sv: func(dst []float32, a float32, b []float32) {
			for i := range dst {
				dst[i] = a - b[i]
			}
		},
	},
	"Mul": {
		vv: func(dst, a, b []float32) {
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		},
		vs: func(dst, a []float32, b float32) {
			for i := range dst {
				dst[i] = a[i] * b
			}
		},
		sv: func(dst []float32, a float32, b []float32) {
			for i := range dst {
				dst[i] = a * b[i]
			}
		},
	},
	"Div": {
		vv: func(dst, a, b []float32) {
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		},
		vs: func(dst, a []float32, b float32) {
			for i := range dst {
				dst[i] = a[i] / b
			}
		},
		sv: func(dst []float32, a float32, b []float32) {
			for i := range dst {
				dst[i] = a / b[i]
			}
		},
	},
}

func (k *binaryK) apply(dst, a, b []float32) {
	if k.op == "Add" && k.act == ops.ActReLU {
		// The residual Add+Relu of every ResNet block: one pass.
		ops.AddReLUSlices(dst, a, b)
		return
	}
	k.f.vv(dst, a, b)
	applyAct(dst, k.act)
}

func (k *binaryK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	a, b := in[0].Data, in[1].Data
	n := len(out.Data)
	if k.same {
		parallel(n, elemGrain, func(lo, hi int) {
			k.apply(out.Data[lo:hi], a[lo:hi], b[lo:hi])
		})
		return
	}
	if k.rank == 0 {
		k.apply(out.Data, a, b)
		return
	}
	// Broadcast: iterate over rows of the innermost dimension.
	inner := k.shape[k.rank-1]
	rows := n / max(inner, 1)
	ia, ib := k.sa[k.rank-1], k.sb[k.rank-1]
	parallel(rows, max(1, elemGrain/max(inner, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			// Offsets of row r in a and b.
			oa, ob, rem := 0, 0, r
			for d := k.rank - 2; d >= 0; d-- {
				i := rem % k.shape[d]
				rem /= k.shape[d]
				oa += i * k.sa[d]
				ob += i * k.sb[d]
			}
			dst := out.Data[r*inner : r*inner+inner]
			if ia == 1 && ib == 1 {
				k.apply(dst, a[oa:oa+inner], b[ob:ob+inner])
				continue
			}
			switch {
			case ia == 1:
				k.f.vs(dst, a[oa:oa+inner], b[ob])
			case ib == 1:
				k.f.sv(dst, a[oa], b[ob:ob+inner])
			default:
				// Both operands repeat along the row: one value.
				k.f.vs(dst[:1], a[oa:oa+1], b[ob])
				for i := 1; i < len(dst); i++ {
					dst[i] = dst[0]
				}
			}
			applyAct(dst, k.act)
		}
	})
}

// reshapeK covers the shape-only ops; the output shares the input buffer.
type reshapeK struct {
	mode      string // flatten, identity, reshape, Squeeze, Unsqueeze
	axis      int
	shape     []int64 // Reshape target or Squeeze/Unsqueeze axes
	allowZero bool
	dynamic   bool // shape comes from the integer second input
}

func (k *reshapeK) useInts(vals [][]int64) error {
	if !k.dynamic {
		return nil
	}
	if len(vals) < 2 || vals[1] == nil {
		return fmt.Errorf("shape input is not an integer tensor")
	}
	k.shape = vals[1]
	return nil
}

func (k *reshapeK) isView() {}

func (k *reshapeK) run(out *tensor.Tensor, in []*tensor.Tensor) {}

func (k *reshapeK) infer(in [][]int) ([]int, error) {
	x := in[0]
	switch k.mode {
	case "identity":
		return x, nil
	case "flatten":
		a := k.axis
		if a < 0 {
			a += len(x)
		}
		if a < 0 || a > len(x) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", k.axis, len(x))
		}
		return []int{tensor.Numel(x[:a]), tensor.Numel(x[a:])}, nil
	case "reshape":
		out := make([]int, len(k.shape))
		neg := -1
		known := 1
		for i, d := range k.shape {
			switch {
			case d == 0 && !k.allowZero:
				if i >= len(x) {
					return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", k.shape, i, len(x))
				}
				out[i] = x[i]
			case d == -1:
				if neg >= 0 {
					return nil, fmt.Errorf("shape %v has more than one -1", k.shape)
				}
				neg = i
				continue
			case d < 0:
				return nil, fmt.Errorf("bad dimension %d in shape %v", d, k.shape)
			default:
				out[i] = int(d)
			}
			known *= out[i]
		}
		total := tensor.Numel(x)
		if neg >= 0 {
			if known == 0 || total%known != 0 {
				return nil, fmt.Errorf("cannot reshape %v (%d values) to %v", x, total, k.shape)
			}
			out[neg] = total / known
		}
		if tensor.Numel(out) != total {
			return nil, fmt.Errorf("cannot reshape %v (%d values) to %v", x, total, k.shape)
		}
		return out, nil
	case "Squeeze":
		drop := make([]bool, len(x))
		for _, a := range k.shape {
			i := int(a)
			if i < 0 {
				i += len(x)
			}
			if i < 0 || i >= len(x) || x[i] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of %v", a, x)
			}
			drop[i] = true
		}
		var out []int
		for i, d := range x {
			if (len(k.shape) == 0 && d == 1) || drop[i] {
				continue
			}
			out = append(out, d)
		}
		if out == nil {
			out = []int{}
		}
		return out, nil
	case "Unsqueeze":
		r := len(x) + len(k.shape)
		ins := make([]bool, r)
		for _, a := range k.shape {
			i := int(a)
			if i < 0 {
				i += r
			}
			if i < 0 || i >= r || ins[i] {
				return nil, fmt.Errorf("bad axes %v for rank %d", k.shape, len(x))
			}
			ins[i] = true
		}
		out := make([]int, 0, r)
		j := 0
		for i := 0; i < r; i++ {
			if ins[i] {
				out = append(out, 1)
			} else {
				out = append(out, x[j])
				j++
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown shape op %s", k.mode)
}

// gemmK implements Gemm (2-D, transA/transB/alpha/beta, broadcast C) and
// MatMul with a 2-D right operand (leading dims of A are flattened).
type gemmK struct {
	alpha, beta    float32
	transA, transB bool
	matmul         bool
	m, n, kk       int
	cm, cn         int // C's broadcast extents (1 or m / n); cm == 0: no C
}

func (k *gemmK) infer(in [][]int) ([]int, error) {
	a, b := in[0], in[1]
	if len(b) != 2 {
		return nil, fmt.Errorf("input B must be 2-D, got %v", b)
	}
	if k.matmul {
		if len(a) < 2 {
			return nil, fmt.Errorf("input A must have rank >= 2, got %v", a)
		}
		k.kk = a[len(a)-1]
		k.m = tensor.Numel(a) / max(k.kk, 1)
		if k.kk == 0 {
			k.m = tensor.Numel(a[:len(a)-1])
		}
		if b[0] != k.kk {
			return nil, fmt.Errorf("inner dimensions differ: %v x %v", a, b)
		}
		k.n = b[1]
		k.cm = 0
		return append(slices.Clone(a[:len(a)-1]), k.n), nil
	}
	if len(a) != 2 {
		return nil, fmt.Errorf("input A must be 2-D, got %v", a)
	}
	k.m, k.kk = a[0], a[1]
	if k.transA {
		k.m, k.kk = a[1], a[0]
	}
	kb, nb := b[0], b[1]
	if k.transB {
		kb, nb = b[1], b[0]
	}
	if kb != k.kk {
		return nil, fmt.Errorf("inner dimensions differ: A %v (transA=%v), B %v (transB=%v)", a, k.transA, b, k.transB)
	}
	k.n = nb
	k.cm, k.cn = 0, 0
	if len(in) > 2 && in[2] != nil {
		c := in[2]
		if len(c) > 2 {
			return nil, fmt.Errorf("C must have rank <= 2, got %v", c)
		}
		cc := append(make([]int, 2-len(c)), c...)
		if len(c) < 2 {
			cc[0] = 1
		}
		if len(c) < 1 {
			cc[1] = 1
		}
		if (cc[0] != 1 && cc[0] != k.m) || (cc[1] != 1 && cc[1] != k.n) {
			return nil, fmt.Errorf("C %v does not broadcast to [%d %d]", c, k.m, k.n)
		}
		k.cm, k.cn = cc[0], cc[1]
	}
	return []int{k.m, k.n}, nil
}

func (k *gemmK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	beta := float32(0)
	if k.cm > 0 && k.beta != 0 {
		c := in[2].Data
		for i := 0; i < k.m; i++ {
			row := out.Data[i*k.n : i*k.n+k.n]
			ci := 0
			if k.cm > 1 {
				ci = i * k.cn
			}
			if k.cn == 1 {
				for j := range row {
					row[j] = c[ci]
				}
			} else {
				copy(row, c[ci:ci+k.n])
			}
		}
		beta = k.beta
	}
	if k.m*k.n == 0 {
		return
	}
	if k.kk == 0 { // empty product: only beta*C remains
		if beta == 0 {
			clear(out.Data)
		}
		for i := range out.Data {
			out.Data[i] *= beta
		}
		return
	}
	lda, ldb := k.kk, k.n
	if k.transA {
		lda = k.m
	}
	if k.transB {
		ldb = k.kk
	}
	if k.m == 1 && k.transB {
		// A classifier head (1×K times Bᵀ): dot products straight from the
		// weight rows; the GEMM would pack all of B for a single row.
		matvecT(out.Data, in[0].Data, in[1].Data, k.kk, k.alpha, beta)
		return
	}
	gemm.Sgemm(k.transA, k.transB, k.m, k.n, k.kk, k.alpha, in[0].Data, lda, in[1].Data, ldb, beta, out.Data, k.n)
}

// matvecT sets y[j] = alpha·(a·B[j]) + beta·y[j] for the rows B[j] of the
// len(y)×kk matrix b, in parallel over rows with a fixed-order vector dot
// product, so results are repeatable.
func matvecT(y, a, b []float32, kk int, alpha, beta float32) {
	a = a[:kk]
	parallel(len(y), 64, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			v := alpha * ops.Dot(a, b[j*kk:j*kk+kk])
			if beta != 0 {
				v += beta * y[j]
			}
			y[j] = v
		}
	})
}

// axisIndex resolves an ONNX axis attribute (negative counts from the
// end) against a rank.
func axisIndex(axis, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

type concatK struct {
	axis int
	ax   int
}

func (k *concatK) infer(in [][]int) ([]int, error) {
	r := len(in[0])
	ax, err := axisIndex(k.axis, r)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(in[0])
	out[ax] = 0
	for _, s := range in {
		if len(s) != r {
			return nil, fmt.Errorf("inputs of different rank")
		}
		for i := range s {
			if i != ax && s[i] != out[i] {
				return nil, fmt.Errorf("input shapes differ outside axis %d", ax)
			}
		}
		out[ax] += s[ax]
	}
	k.ax = ax
	return out, nil
}

func (k *concatK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	outer := tensor.Numel(out.Shape[:k.ax])
	inner := tensor.Numel(out.Shape[k.ax+1:])
	row := out.Shape[k.ax] * inner
	off := 0
	for _, t := range in {
		chunk := t.Shape[k.ax] * inner
		for o := 0; o < outer; o++ {
			copy(out.Data[o*row+off:o*row+off+chunk], t.Data[o*chunk:o*chunk+chunk])
		}
		off += chunk
	}
}

type softmaxK struct {
	axis     int
	coerce2D bool
	ax       int
}

func (k *softmaxK) infer(in [][]int) ([]int, error) {
	r := len(in[0])
	ax, err := axisIndex(k.axis, r)
	if err != nil {
		return nil, err
	}
	k.ax = ax
	return in[0], nil
}

func (k *softmaxK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	x := in[0]
	ax := k.ax
	if k.coerce2D {
		x = &tensor.Tensor{Shape: []int{tensor.Numel(x.Shape[:ax]), tensor.Numel(x.Shape[ax:])}, Data: x.Data}
		ax = 1
	}
	y := ops.Softmax(x, ax)
	copy(out.Data, y.Data)
	tensor.Put(y.Data)
}

// transposeK permutes axes (default: reversed). Exporters mostly apply it
// to weights, where the Executor folds it away at load time.
type transposeK struct {
	perm    []int64
	p       []int
	inShape []int
}

func (k *transposeK) infer(in [][]int) ([]int, error) {
	x := in[0]
	r := len(x)
	k.p = make([]int, r)
	if k.perm == nil {
		for i := range k.p {
			k.p[i] = r - 1 - i
		}
	} else {
		if len(k.perm) != r {
			return nil, fmt.Errorf("perm %v for rank %d", k.perm, r)
		}
		seen := make([]bool, r)
		for i, v := range k.perm {
			if v < 0 || int(v) >= r || seen[v] {
				return nil, fmt.Errorf("bad perm %v", k.perm)
			}
			seen[v] = true
			k.p[i] = int(v)
		}
	}
	out := make([]int, r)
	for i, a := range k.p {
		out[i] = x[a]
	}
	k.inShape = x
	return out, nil
}

func (k *transposeK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	r := len(k.p)
	if r == 0 {
		copy(out.Data, in[0].Data)
		return
	}
	// Input strides, read in output order.
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		st[i] = acc
		acc *= k.inShape[i]
	}
	ost := make([]int, r)
	for i, a := range k.p {
		ost[i] = st[a]
	}
	inner, innerStride := out.Shape[r-1], ost[r-1]
	rows := len(out.Data) / max(inner, 1)
	x := in[0].Data
	parallel(rows, max(1, elemGrain/max(inner, 1)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			off, rem := 0, row
			for d := r - 2; d >= 0; d-- {
				off += (rem % out.Shape[d]) * ost[d]
				rem /= out.Shape[d]
			}
			dst := out.Data[row*inner : row*inner+inner]
			for i := range dst {
				dst[i] = x[off+i*innerStride]
			}
		}
	})
}

// reduceK reduces over a set of axes (all axes when none are given):
// ReduceMean, ReduceSum, ReduceMax or ReduceMin. Sums accumulate in
// float64.
type reduceK struct {
	op        string // "mean", "sum", "max" or "min"
	axes      []int64
	keep      bool
	noopEmpty bool
	red       []bool
	inShape   []int
}

func (k *reduceK) infer(in [][]int) ([]int, error) {
	x := in[0]
	k.inShape = x
	k.red = make([]bool, len(x))
	if len(k.axes) == 0 && k.noopEmpty {
		return x, nil
	}
	for _, a := range k.axes {
		i, err := axisIndex(int(a), len(x))
		if err != nil {
			return nil, err
		}
		k.red[i] = true
	}
	if len(k.axes) == 0 {
		for i := range k.red {
			k.red[i] = true
		}
	}
	out := []int{}
	for i, d := range x {
		switch {
		case !k.red[i]:
			out = append(out, d)
		case k.keep:
			out = append(out, 1)
		}
		if k.red[i] && d == 0 {
			return nil, fmt.Errorf("%s over an empty axis", k.op)
		}
	}
	return out, nil
}

// reduceAcc folds values into one accumulator of a reduction.
type reduceAcc struct {
	ext  bool // max or min
	less bool // min
	sum  float64
	v    float32
	n    int
}

func (a *reduceAcc) add(v float32) {
	a.n++
	if !a.ext {
		a.sum += float64(v)
		return
	}
	// A NaN, once met, stays the result, as in ONNX Runtime.
	if a.n == 1 || v != v || a.v == a.v && (a.less && v < a.v || !a.less && v > a.v) {
		a.v = v
	}
}

func (k *reduceK) result(a *reduceAcc) float32 {
	switch k.op {
	case "mean":
		return float32(a.sum / float64(a.n))
	case "sum":
		return float32(a.sum)
	}
	return a.v
}

func (k *reduceK) acc() reduceAcc {
	return reduceAcc{ext: k.op == "max" || k.op == "min", less: k.op == "min"}
}

func (k *reduceK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	x := in[0].Data
	if len(k.axes) == 0 && k.noopEmpty {
		copy(out.Data, x)
		return
	}
	r := len(k.inShape)
	// Trailing reduced axes (e.g. [2,3] of NCHW) are one contiguous run.
	t := r
	for t > 0 && k.red[t-1] {
		t--
	}
	trailing := true
	for i := 0; i < t; i++ {
		trailing = trailing && !k.red[i]
	}
	if trailing {
		inner := tensor.Numel(k.inShape[t:])
		parallel(len(out.Data), max(1, elemGrain/max(inner, 1)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				a := k.acc()
				for _, v := range x[o*inner : o*inner+inner] {
					a.add(v)
				}
				out.Data[o] = k.result(&a)
			}
		})
		return
	}
	// General case: accumulate every element into its output cell.
	ost := make([]int, r) // output stride per input axis, 0 when reduced
	stride := 1
	for i := r - 1; i >= 0; i-- {
		if !k.red[i] {
			ost[i] = stride
			stride *= k.inShape[i]
		}
	}
	accs := make([]reduceAcc, len(out.Data))
	for i := range accs {
		accs[i] = k.acc()
	}
	idx := make([]int, r)
	for _, v := range x {
		o := 0
		for d := range idx {
			o += idx[d] * ost[d]
		}
		accs[o].add(v)
		for d := r - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < k.inShape[d] {
				break
			}
			idx[d] = 0
		}
	}
	for i := range accs {
		out.Data[i] = k.result(&accs[i])
	}
}

// resizeK implements Resize/Upsample on the H and W axes of NCHW tensors
// for the modes PyTorch exports: nearest (asymmetric, floor) and bilinear
// (half_pixel / pytorch_half_pixel, or align_corners).
type resizeK struct {
	linear, alignCorners bool
	scales               []float32 // [N,C,H,W] factors, or nil when sizes are given
	sizes                []int64
	dynamic              bool // sizes come from the integer input
	oh, ow               int
}

func (k *resizeK) useInts(vals [][]int64) error {
	if k.dynamic {
		if len(vals) < 2 || vals[1] == nil {
			return fmt.Errorf("sizes input is not an integer tensor")
		}
		k.sizes = vals[1]
	}
	return nil
}

func (k *resizeK) infer(in [][]int) ([]int, error) {
	x := in[0]
	if err := want4D(x); err != nil {
		return nil, err
	}
	if k.sizes != nil {
		if len(k.sizes) != 4 || k.sizes[0] != int64(x[0]) || k.sizes[1] != int64(x[1]) {
			return nil, fmt.Errorf("sizes %v: only H and W can be resized (input %v)", k.sizes, x)
		}
		k.oh, k.ow = int(k.sizes[2]), int(k.sizes[3])
	} else {
		s := k.scales
		if len(s) != 4 || s[0] != 1 || s[1] != 1 || s[2] <= 0 || s[3] <= 0 {
			return nil, fmt.Errorf("scales %v: only H and W can be resized", s)
		}
		k.oh, k.ow = int(float32(x[2])*s[2]), int(float32(x[3])*s[3])
	}
	if k.oh <= 0 || k.ow <= 0 || k.oh > maxElems || k.ow > maxElems {
		return nil, fmt.Errorf("bad output size %dx%d", k.oh, k.ow)
	}
	return []int{x[0], x[1], k.oh, k.ow}, nil
}

func (k *resizeK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	var y *tensor.Tensor
	if k.linear {
		y = ops.UpsampleBilinear(in[0], k.oh, k.ow, k.alignCorners)
	} else {
		y = ops.UpsampleNearest(in[0], k.oh, k.ow)
	}
	copy(out.Data, y.Data)
	tensor.Put(y.Data)
}

type gmpK struct{}

func (gmpK) infer(in [][]int) ([]int, error) { return globalPoolShape(in[0]) }

func (gmpK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	hw := in[0].Shape[2] * in[0].Shape[3]
	x := in[0].Data
	parallel(len(out.Data), max(1, elemGrain/hw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			m := x[p*hw]
			for _, v := range x[p*hw+1 : p*hw+hw] {
				if v > m {
					m = v
				}
			}
			out.Data[p] = m
		}
	})
}

// padK is Pad with non-negative pads on any axes: constant, reflect
// (mirrored about the edge sample, which is not repeated; pads must be
// smaller than the axis, as ONNX Runtime requires) or edge (the edge
// sample repeated).
type padK struct {
	pads    []int64 // [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
	value   float32
	mode    string // "constant", "reflect" or "edge"
	dynamic bool
	inShape []int
}

// padSource maps output index o of an axis of n samples padded by b in
// front to the input index it copies (reflect or edge mode).
func padSource(mode string, o, b, n int) int {
	i := o - b
	switch {
	case i < 0 && mode == "edge":
		return 0
	case i < 0:
		return -i
	case i >= n && mode == "edge":
		return n - 1
	case i >= n:
		return 2*(n-1) - i
	}
	return i
}

func (k *padK) useInts(vals [][]int64) error {
	if k.dynamic {
		if len(vals) < 2 || vals[1] == nil {
			return fmt.Errorf("pads input is not an integer tensor")
		}
		k.pads = vals[1]
	}
	return nil
}

func (k *padK) infer(in [][]int) ([]int, error) {
	x := in[0]
	r := len(x)
	if len(k.pads) != 2*r {
		return nil, fmt.Errorf("pads %v for rank %d", k.pads, r)
	}
	out := make([]int, r)
	for i, d := range x {
		b, e := k.pads[i], k.pads[i+r]
		if b < 0 || e < 0 || b > maxElems || e > maxElems {
			return nil, fmt.Errorf("pads %v: only non-negative padding is supported", k.pads)
		}
		out[i] = d + int(b) + int(e)
		switch {
		case k.mode == "reflect" && (b > 0 || e > 0) && (int(b) >= d || int(e) >= d):
			return nil, fmt.Errorf("reflect pads %v: axis %d has %d samples, pads must be smaller", k.pads, i, d)
		case k.mode == "edge" && (b > 0 || e > 0) && d == 0:
			return nil, fmt.Errorf("edge pads %v on empty axis %d", k.pads, i)
		}
	}
	k.inShape = x
	return out, nil
}

func (k *padK) run(out *tensor.Tensor, in []*tensor.Tensor) {
	if k.mode != "constant" {
		k.runMirror(out, in[0])
		return
	}
	r := len(k.inShape)
	for i := range out.Data {
		out.Data[i] = k.value
	}
	if r == 0 || tensor.Numel(k.inShape) == 0 {
		copy(out.Data, in[0].Data)
		return
	}
	// Copy input rows (last axis) to their padded positions.
	inner := k.inShape[r-1]
	rows := len(in[0].Data) / inner
	ost := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		ost[i] = acc
		acc *= out.Shape[i]
	}
	x := in[0].Data
	parallel(rows, max(1, elemGrain/max(inner, 1)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			off, rem := int(k.pads[r-1]), row
			for d := r - 2; d >= 0; d-- {
				off += (rem%k.inShape[d] + int(k.pads[d])) * ost[d]
				rem /= k.inShape[d]
			}
			copy(out.Data[off:off+inner], x[row*inner:row*inner+inner])
		}
	})
}

// runMirror fills every output row (last axis) from the input row that
// padSource picks on each leading axis, through a column index table.
func (k *padK) runMirror(out *tensor.Tensor, x *tensor.Tensor) {
	r := len(k.inShape)
	if r == 0 {
		copy(out.Data, x.Data)
		return
	}
	inner, outer := k.inShape[r-1], out.Shape[r-1]
	cols := make([]int, outer)
	for o := range cols {
		cols[o] = padSource(k.mode, o, int(k.pads[r-1]), inner)
	}
	ist := make([]int, r) // input strides
	acc := 1
	for i := r - 1; i >= 0; i-- {
		ist[i] = acc
		acc *= k.inShape[i]
	}
	rows := len(out.Data) / max(outer, 1)
	parallel(rows, max(1, elemGrain/max(outer, 1)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			src, rem := 0, row
			for d := r - 2; d >= 0; d-- {
				src += padSource(k.mode, rem%out.Shape[d], int(k.pads[d]), k.inShape[d]) * ist[d]
				rem /= out.Shape[d]
			}
			dst := out.Data[row*outer : (row+1)*outer]
			for o, c := range cols {
				dst[o] = x.Data[src+c]
			}
		}
	})
}

// applyAct applies a fused activation to a row in place.
func applyAct(dst []float32, act ops.Act) {
	switch act {
	case ops.ActReLU:
		for i, v := range dst {
			dst[i] = max(v, 0)
		}
	case ops.ActReLU6:
		for i, v := range dst {
			dst[i] = min(max(v, 0), 6)
		}
	}
}

// globalPoolShape is the N×C×1×1 output shape of a global pooling.
func globalPoolShape(x []int) ([]int, error) {
	if err := want4D(x); err != nil {
		return nil, err
	}
	if x[2]*x[3] == 0 {
		return nil, fmt.Errorf("empty spatial size")
	}
	return []int{x[0], x[1], 1, 1}, nil
}
