package tflite

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// tiny is a small handcrafted quantised network and everything needed to
// recompute it independently in NHWC.
type tiny struct {
	file   []byte
	w0     []float32 // [3,3,3,2] OHWI
	b0     []float32
	wd     []float32 // [1,3,3,6]
	bd     []float32
	w2     []float32 // [6,1,1,3]
	b2     []float32
	inC, h int
}

func makeTiny(seed uint64) *tiny {
	r := rand.New(rand.NewPCG(seed, 1))
	tm := &tiny{inC: 2, h: 6}
	// conv0: uint8 per-tensor.
	w0q := make([]byte, 3*3*3*2)
	for i := range w0q {
		w0q[i] = byte(r.IntN(256))
	}
	const s0, z0 = 0.02, 120
	for _, q := range w0q {
		tm.w0 = append(tm.w0, s0*float32(int(q)-z0))
	}
	b0q := []int32{int32(r.IntN(4000) - 2000), int32(r.IntN(4000) - 2000), int32(r.IntN(4000) - 2000)}
	const sb0 = 0.0005
	for _, q := range b0q {
		tm.b0 = append(tm.b0, sb0*float32(q))
	}
	// depthwise: int8 per-channel along dim 3, multiplier 2.
	wdq := make([]byte, 3*3*6)
	sd := []float32{0.01, 0.02, 0.03, 0.015, 0.05, 0.007}
	for i := range wdq {
		wdq[i] = byte(int8(r.IntN(255) - 127))
	}
	for i, q := range wdq {
		tm.wd = append(tm.wd, sd[i%6]*float32(int8(q)))
	}
	bdq := make([]int32, 6)
	sbd := make([]float32, 6)
	for c := range bdq {
		bdq[c] = int32(r.IntN(200) - 100)
		sbd[c] = sd[c] * 0.05
		tm.bd = append(tm.bd, sbd[c]*float32(bdq[c]))
	}
	// 1x1 conv: plain float32.
	for range 6 * 3 {
		tm.w2 = append(tm.w2, float32(r.NormFloat64()))
	}
	for range 6 {
		tm.b2 = append(tm.b2, float32(r.NormFloat64()*0.1))
	}
	act := func(name string, shape ...int32) testTensor {
		return testTensor{name: name, shape: shape, typ: Uint8, scale: []float32{0.05}, zp: []int64{128}}
	}
	tensors := []testTensor{
		{name: "input", shape: []int32{1, 6, 6, 2}, typ: Uint8, scale: []float32{1.0 / 128}, zp: []int64{128}},
		{name: "w0", shape: []int32{3, 3, 3, 2}, typ: Uint8, data: w0q, scale: []float32{s0}, zp: []int64{z0}},
		{name: "b0", shape: []int32{3}, typ: Int32, data: int32Bytes(b0q), scale: []float32{sb0}, zp: []int64{0}},
		act("a0;fused/name", 1, 3, 3, 3),
		{name: "wd", shape: []int32{1, 3, 3, 6}, typ: Int8, data: wdq, scale: sd, zp: make([]int64, 6), qdim: 3},
		{name: "bd", shape: []int32{6}, typ: Int32, data: int32Bytes(bdq), scale: sbd, zp: make([]int64, 6)},
		act("a1", 1, 3, 3, 6),
		{name: "w2", shape: []int32{6, 1, 1, 3}, typ: Float32, data: float32Bytes(tm.w2)},
		{name: "b2", shape: []int32{6}, typ: Float32, data: float32Bytes(tm.b2)},
		act("a2", 1, 3, 3, 6),
		act("a3", 1, 3, 3, 6),
		act("a4", 1, 1, 1, 6),
		act("a5", 1, 6),
		act("a6", 1, 6),
	}
	ops := []testOp{
		{OpConv2D, []int32{0, 1, 2}, []int32{3}, optConv2D, convOpts(PaddingSame, 2, 2, ActReLU6)},
		{OpDepthwiseConv2D, []int32{3, 4, 5}, []int32{6}, optDepthwiseConv2D, dwOpts(PaddingSame, 1, 1, 2, ActNone)},
		{OpConv2D, []int32{3, 7, 8}, []int32{9}, optConv2D, convOpts(PaddingValid, 1, 1, ActReLU)},
		{OpAdd, []int32{6, 9}, []int32{10}, optAdd, addOpts(ActNone)},
		{OpAveragePool2D, []int32{10}, []int32{11}, optPool2D, poolOpts(PaddingValid, 1, 1, 3, 3)},
		{OpReshape, []int32{11}, []int32{12}, optReshape, reshapeOpts([]int32{1, 6})},
		{OpSoftmax, []int32{12}, []int32{13}, optSoftmax, softmaxOpts(1)},
	}
	tm.file = buildModel(tensors, ops, []int32{0}, []int32{13})
	return tm
}

// refConv is a direct NHWC convolution with TFLite SAME/VALID padding;
// w is [O,KH,KW,I] (groups=1) or [1,KH,KW,C*M] (depthwise, mult>0).
func refConv(x []float32, h, w, c int, wt []float32, o, kh, kw int, b []float32, stride int, same bool, mult int) ([]float32, int, int) {
	oh, ow := (h-kh)/stride+1, (w-kw)/stride+1
	pt, pl := 0, 0
	if same {
		oh, ow = (h+stride-1)/stride, (w+stride-1)/stride
		pt = max((oh-1)*stride+kh-h, 0) / 2
		pl = max((ow-1)*stride+kw-w, 0) / 2
	}
	y := make([]float32, oh*ow*o)
	for oy := range oh {
		for ox := range ow {
			for oc := range o {
				s := float64(b[oc])
				for ky := range kh {
					for kx := range kw {
						iy, ix := oy*stride+ky-pt, ox*stride+kx-pl
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						if mult > 0 {
							s += float64(x[(iy*w+ix)*c+oc/mult]) * float64(wt[(ky*kw+kx)*o+oc])
							continue
						}
						for ic := range c {
							s += float64(x[(iy*w+ix)*c+ic]) * float64(wt[((oc*kh+ky)*kw+kx)*c+ic])
						}
					}
				}
				y[(oy*ow+ox)*o+oc] = float32(s)
			}
		}
	}
	return y, oh, ow
}

// reference computes every activation of the tiny net in NHWC.
func (tm *tiny) reference(xNHWC []float32) map[string][]float32 {
	a0, h0, w0 := refConv(xNHWC, 6, 6, 2, tm.w0, 3, 3, 3, tm.b0, 2, true, 0)
	for i, v := range a0 {
		a0[i] = float32(math.Min(math.Max(float64(v), 0), 6))
	}
	a1, _, _ := refConv(a0, h0, w0, 3, tm.wd, 6, 3, 3, tm.bd, 1, true, 2)
	a2, _, _ := refConv(a0, h0, w0, 3, tm.w2, 6, 1, 1, tm.b2, 1, false, 0)
	for i, v := range a2 {
		a2[i] = max(v, 0)
	}
	a3 := make([]float32, len(a1))
	for i := range a3 {
		a3[i] = a1[i] + a2[i]
	}
	a4 := make([]float32, 6)
	for i, v := range a3 {
		a4[i%6] += v / 9
	}
	var sum float64
	a6 := make([]float32, 6)
	mx := a4[0]
	for _, v := range a4 {
		mx = max(mx, v)
	}
	for i, v := range a4 {
		e := math.Exp(float64(v - mx))
		a6[i] = float32(e)
		sum += e
	}
	for i := range a6 {
		a6[i] = float32(float64(a6[i]) / sum)
	}
	return map[string][]float32{"a0": a0, "a1": a1, "a2": a2, "a3": a3, "a4": a4, "a6": a6}
}

func toNHWC(t *tensor.Tensor) []float32 {
	if len(t.Shape) != 4 {
		return t.Data
	}
	return nchwToNHWC(t).Data
}

func TestParseTinyModel(t *testing.T) {
	tm := makeTiny(1)
	m, err := Parse(tm.file)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || m.Description != "vigil test model" || len(m.Subgraphs) != 1 {
		t.Fatalf("header: version %d desc %q subgraphs %d", m.Version, m.Description, len(m.Subgraphs))
	}
	want := []BuiltinOp{OpConv2D, OpDepthwiseConv2D, OpAdd, OpAveragePool2D, OpReshape, OpSoftmax}
	if len(m.OperatorCodes) != len(want) {
		t.Fatalf("%d operator codes", len(m.OperatorCodes))
	}
	for i, w := range want {
		if m.OperatorCodes[i].Builtin != w {
			t.Errorf("code %d = %v, want %v", i, m.OperatorCodes[i].Builtin, w)
		}
	}
	sg := m.Subgraphs[0]
	if sg.Name != "main" || len(sg.Tensors) != 14 || len(sg.Operators) != 7 {
		t.Fatalf("subgraph %q: %d tensors, %d operators", sg.Name, len(sg.Tensors), len(sg.Operators))
	}
	wd := sg.Tensors[4]
	if wd.Name != "wd" || wd.Type != Int8 || wd.Quant == nil || wd.Quant.Dim != 3 || len(wd.Quant.Scale) != 6 || wd.Quant.Scale[4] != 0.05 {
		t.Fatalf("tensor wd decoded as %+v quant %+v", wd, wd.Quant)
	}
	if got := sg.Tensors[0].Shape; len(got) != 4 || got[1] != 6 || got[3] != 2 {
		t.Fatalf("input shape %v", got)
	}
	c, ok := sg.Operators[0].Options.(*Conv2DOptions)
	if !ok || c.Padding != PaddingSame || c.StrideW != 2 || c.StrideH != 2 || c.Activation != ActReLU6 || c.DilationW != 1 || c.DilationH != 1 {
		t.Fatalf("conv options %+v", sg.Operators[0].Options)
	}
	d, ok := sg.Operators[1].Options.(*DepthwiseConv2DOptions)
	if !ok || d.DepthMultiplier != 2 || d.Padding != PaddingSame {
		t.Fatalf("depthwise options %+v", sg.Operators[1].Options)
	}
	p, ok := sg.Operators[4].Options.(*Pool2DOptions)
	if !ok || p.FilterWidth != 3 || p.FilterHeight != 3 || p.Padding != PaddingValid {
		t.Fatalf("pool options %+v", sg.Operators[4].Options)
	}
	rs, ok := sg.Operators[5].Options.(*ReshapeOptions)
	if !ok || len(rs.NewShape) != 2 || rs.NewShape[1] != 6 {
		t.Fatalf("reshape options %+v", sg.Operators[5].Options)
	}
	if sm, ok := sg.Operators[6].Options.(*SoftmaxOptions); !ok || sm.Beta != 1 {
		t.Fatalf("softmax options %+v", sg.Operators[6].Options)
	}
	if got := m.Buffers[sg.Tensors[1].Buffer]; len(got) != 54 {
		t.Fatalf("w0 buffer has %d bytes", len(got))
	}
}

// TestTinyNetMatchesReference runs the handcrafted quantised model through
// dequantisation, layout conversion and the ops kernels, and compares every
// intermediate activation with a direct NHWC computation.
func TestTinyNetMatchesReference(t *testing.T) {
	tm := makeTiny(2)
	m, err := Parse(tm.file)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := tensor.New(1, 2, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(r.Float64()*2 - 1)
	}
	xh := nchwToNHWC(x).Data
	ref := tm.reference(xh)
	names := []string{"a0", "a1", "a2", "a3", "a4", "a6"}
	var idx []int
	for _, nm := range names {
		i, err := net.TensorIndex(nm)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, i)
	}
	outs, err := net.Run(x, idx)
	if err != nil {
		t.Fatal(err)
	}
	for k, nm := range names {
		got, want := toNHWC(outs[k]), ref[nm]
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d (shape %v)", nm, len(got), len(want), outs[k].Shape)
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%s[%d] = %g, want %g", nm, i, got[i], want[i])
			}
		}
	}
	if s := outs[5].Shape; len(s) != 2 || s[0] != 1 || s[1] != 6 {
		t.Fatalf("softmax shape %v", s)
	}
	// A batch of two runs each image independently (the classifier's
	// RESHAPE to [1,6] follows the batch).
	xb := tensor.New(2, 2, 6, 6)
	copy(xb.Data[72:], x.Data)
	for i := range 72 {
		xb.Data[i] = float32(r.Float64()*2 - 1)
	}
	ob, err := net.Run(xb, idx)
	if err != nil {
		t.Fatal(err)
	}
	first := tm.reference(nchwToNHWC(tensor.From(xb.Data[:72], 1, 2, 6, 6)).Data)
	for k, nm := range names {
		got := toNHWC(ob[k])
		half := len(got) / 2
		for i := range half {
			if d := math.Abs(float64(got[i] - first[nm][i])); d > 1e-4*(1+math.Abs(float64(first[nm][i]))) {
				t.Fatalf("batch image 0 %s[%d] = %g, want %g", nm, i, got[i], first[nm][i])
			}
			if d := math.Abs(float64(got[half+i] - ref[nm][i])); d > 1e-4*(1+math.Abs(float64(ref[nm][i]))) {
				t.Fatalf("batch image 1 %s[%d] = %g, want %g", nm, i, got[half+i], ref[nm][i])
			}
		}
	}
	// Only the requested prefix of the graph runs: asking for a0 alone
	// must not need the later operators (checked by a batch of 2 at a
	// size where the classifier reshape would fail).
	x2 := tensor.New(2, 2, 10, 10)
	out, err := net.Run(x2, idx[:1])
	if err != nil {
		t.Fatal(err)
	}
	if s := out[0].Shape; s[0] != 2 || s[1] != 3 || s[2] != 5 || s[3] != 5 {
		t.Fatalf("a0 at 10x10 has shape %v", s)
	}
	if _, err := net.Run(x2, net.OutputIndices()); err == nil || !strings.Contains(err.Error(), "RESHAPE") {
		t.Fatalf("reshape of a 2x2 pooled map to [1,6] should fail naming RESHAPE, got %v", err)
	}
	if _, err := net.Run(tensor.New(1, 3, 6, 6), idx[:1]); err == nil {
		t.Fatal("3-channel input to a 2-channel model accepted")
	}
}

func TestSamePad(t *testing.T) {
	cases := []struct {
		in, k, s, d   int
		p             Padding
		out, bef, aft int
	}{
		{224, 3, 2, 1, PaddingSame, 112, 0, 1}, // TFLite pads bottom/right more
		{112, 3, 1, 1, PaddingSame, 112, 1, 1},
		{7, 7, 1, 1, PaddingValid, 1, 0, 0},
		{5, 3, 1, 2, PaddingSame, 5, 2, 2}, // dilated: keff 5
		{6, 1, 2, 1, PaddingSame, 3, 0, 0},
		{3, 5, 1, 1, PaddingValid, 0, 0, 0},
	}
	for _, c := range cases {
		o, b, a := samePad(c.in, c.k, c.s, c.d, c.p)
		if o != c.out || b != c.bef || a != c.aft {
			t.Errorf("samePad(%d,k%d,s%d,d%d,%v) = %d,%d,%d want %d,%d,%d", c.in, c.k, c.s, c.d, c.p, o, b, a, c.out, c.bef, c.aft)
		}
	}
}

func TestParseRejectsCorruptFiles(t *testing.T) {
	tm := makeTiny(5)
	// Every truncation is an error (the offsets point past the end).
	for n := range len(tm.file) {
		if _, err := Parse(tm.file[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(tm.file))
		}
	}
	// Random corruption must never panic (errors or odd-but-valid models
	// are both fine); compiled results must also run without panicking.
	r := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		b := bytes.Clone(tm.file)
		for range 1 + r.IntN(4) {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
		checkNoPanic(t, b)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "broken.tflite")
	if err := os.WriteFile(p, tm.file[:len(tm.file)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("error should name the file, got %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.tflite")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	notTFL := append([]byte{8, 0, 0, 0, 'O', 'N', 'N', 'X'}, make([]byte, 16)...)
	if _, err := Parse(notTFL); err == nil || !strings.Contains(err.Error(), "TFL3") {
		t.Fatalf("wrong identifier: %v", err)
	}
}

func checkNoPanic(t testing.TB, b []byte) {
	t.Helper()
	m, err := Parse(b)
	if err != nil {
		return
	}
	net, err := Compile(m)
	if err != nil || net.InputChannels() > 64 {
		return
	}
	x := tensor.New(1, net.InputChannels(), 6, 6)
	_, _ = net.Run(x, net.OutputIndices())
}

// fuzzSeeds is FuzzParse's seed corpus, which plain `go test` runs too:
// valid models (the tiny net with different weights, and one of float
// max-pool, ReLU/ReLU6 and Quantize/Dequantize), seeded truncations and
// byte corruptions of them, and a few non-models.
func fuzzSeeds() [][]byte {
	valid := [][]byte{makeTiny(9).file, makeTiny(1).file, makeTiny(2).file, reluPoolModel()}
	seeds := append([][]byte{nil, {}, []byte("TFL3"), append([]byte{8, 0, 0, 0, 'T', 'F', 'L', '3'}, make([]byte, 16)...)}, valid...)
	r := rand.New(rand.NewPCG(41, 42))
	for _, v := range valid {
		for range 8 {
			seeds = append(seeds, v[:r.IntN(len(v))])
		}
		for range 24 {
			b := bytes.Clone(v)
			for range 1 + r.IntN(4) {
				b[r.IntN(len(b))] = byte(r.IntN(256))
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// reluPoolModel is a float model using the operators the tiny net lacks:
// Quantize, MaxPool2D, ReLU, ReLU6 and Dequantize.
func reluPoolModel() []byte {
	q := func(name string, shape ...int32) testTensor {
		return testTensor{name: name, shape: shape, typ: Uint8, scale: []float32{0.05}, zp: []int64{128}}
	}
	tensors := []testTensor{
		{name: "input", shape: []int32{1, 6, 6, 2}, typ: Float32},
		q("q", 1, 6, 6, 2),
		q("pool", 1, 3, 3, 2),
		q("relu", 1, 3, 3, 2),
		q("relu6", 1, 3, 3, 2),
		{name: "out", shape: []int32{1, 3, 3, 2}, typ: Float32},
	}
	ops := []testOp{
		{OpQuantize, []int32{0}, []int32{1}, 0, nil},
		{OpMaxPool2D, []int32{1}, []int32{2}, optPool2D, poolOpts(PaddingSame, 2, 2, 3, 3)},
		{OpReLU, []int32{2}, []int32{3}, 0, nil},
		{OpReLU6, []int32{3}, []int32{4}, 0, nil},
		{OpDequantize, []int32{4}, []int32{5}, 0, nil},
	}
	return buildModel(tensors, ops, []int32{0}, []int32{5})
}

// The seed corpus's valid models parse, compile and run, so the corpus
// exercises the whole path and not only the parser's error returns.
func TestFuzzSeedsAreValidModels(t *testing.T) {
	for i, b := range [][]byte{makeTiny(1).file, reluPoolModel()} {
		m, err := Parse(b)
		if err != nil {
			t.Fatalf("seed model %d: %v", i, err)
		}
		net, err := Compile(m)
		if err != nil {
			t.Fatalf("seed model %d: %v", i, err)
		}
		if _, err := net.Run(tensor.New(1, net.InputChannels(), 6, 6), net.OutputIndices()); err != nil {
			t.Fatalf("seed model %d: %v", i, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if net := len(b); net > 1<<16 {
			return
		}
		checkNoPanic(t, b)
	})
}

// TestRunConcurrent: a compiled Net is shared by goroutines (activation
// buffers are per run, recycled through the tensor pool).
func TestRunConcurrent(t *testing.T) {
	tm := makeTiny(3)
	m, err := Parse(tm.file)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	const workers = 4
	inputs := make([]*tensor.Tensor, workers)
	want := make([][]float32, workers)
	a3, _ := net.TensorIndex("a3")
	for i := range inputs {
		inputs[i] = tensor.New(1, 2, 6, 6)
		for j := range inputs[i].Data {
			inputs[i].Data[j] = float32(r.NormFloat64())
		}
		out, err := net.Run(inputs[i], []int{a3})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = slices.Clone(out[0].Data)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			for range 50 {
				out, err := net.Run(inputs[i], []int{a3})
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(out[0].Data, want[i]) {
					errs <- fmt.Errorf("worker %d: result differs from the sequential run", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
