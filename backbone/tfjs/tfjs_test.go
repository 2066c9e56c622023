package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// ---- a small TF.js model written by the test ----

type tlayer struct {
	name, class string
	cfg         map[string]any
	in          []string
}

type tweight struct {
	name  string
	shape []int
	data  []float32
	quant bool // store as uint8 with min/scale (data is then the dequantised values)
	min   float32
	scale float32
	q     []uint8
	dtype string // manifest dtype (default float32)
}

// tiny is the test network: padding folded into a strided conv, BN
// folded, a standalone BN without gamma, a uint8-quantised 1×1 conv,
// residual add, same max pooling, depthwise conv with relu6, concat,
// leaky ReLU, valid average pooling, flatten and two dense heads.
func tinyLayers() []tlayer {
	return []tlayer{
		{"in", "InputLayer", map[string]any{"batch_input_shape": []any{nil, nil, nil, 3}}, nil},
		{"pad", "ZeroPadding2D", map[string]any{"padding": [][]int{{1, 2}, {0, 1}}}, []string{"in"}},
		{"c1", "Conv2D", map[string]any{"filters": 4, "kernel_size": []int{3, 3}, "strides": []int{2, 1}, "padding": "valid", "activation": "linear", "use_bias": true}, []string{"pad"}},
		{"bn1", "BatchNormalization", map[string]any{"axis": []int{3}, "epsilon": 1e-3}, []string{"c1"}},
		{"r1", "Activation", map[string]any{"activation": "relu"}, []string{"bn1"}},
		{"c2", "Conv2D", map[string]any{"filters": 4, "kernel_size": 1, "strides": 1, "padding": "same", "activation": "relu", "use_bias": true}, []string{"r1"}},
		{"bn2", "BatchNormalization", map[string]any{"axis": -1, "epsilon": 1e-2, "scale": false}, []string{"c2"}},
		{"add", "Add", map[string]any{}, []string{"r1", "bn2"}},
		{"mp", "MaxPooling2D", map[string]any{"pool_size": []int{2, 2}, "strides": []int{2, 2}, "padding": "same"}, []string{"add"}},
		{"dw", "DepthwiseConv2D", map[string]any{"kernel_size": []int{3, 3}, "strides": []int{1, 1}, "padding": "same", "depth_multiplier": 2, "use_bias": false, "activation": "relu6"}, []string{"mp"}},
		{"cat", "Concatenate", map[string]any{"axis": -1}, []string{"dw", "mp"}},
		{"lrelu", "ReLU", map[string]any{"negative_slope": 0.1, "max_value": nil, "threshold": 0}, []string{"cat"}},
		{"ap", "AveragePooling2D", map[string]any{"pool_size": []int{2, 2}, "strides": []int{1, 1}, "padding": "valid"}, []string{"lrelu"}},
		{"gap", "GlobalAveragePooling2D", map[string]any{}, []string{"lrelu"}},
		{"fc", "Dense", map[string]any{"units": 3, "activation": "softmax", "use_bias": true}, []string{"gap"}},
		{"flat", "Flatten", map[string]any{}, []string{"ap"}},
		{"fc2", "Dense", map[string]any{"units": 2, "activation": "linear", "use_bias": true}, []string{"flat"}},
	}
}

// Test input size: pad -> 12×9, c1 -> 5×7, mp -> 3×4, ap -> 2×3 (×12 ch).
const tinyH, tinyW = 9, 8

func randW(r *rand.Rand, name string, shape []int, lo, hi float32) tweight {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
	return tweight{name: name, shape: shape, data: v}
}

func tinyWeights(seed uint64) []tweight {
	r := rand.New(rand.NewPCG(seed, 1))
	q := tweight{name: "c2/kernel", shape: []int{1, 1, 4, 4}, quant: true, min: -0.8, scale: 0.0063}
	for range 16 {
		b := uint8(r.IntN(256))
		q.q = append(q.q, b)
		q.data = append(q.data, float32(b)*q.scale+q.min)
	}
	// Listed out of layer order, as in real manifests.
	return []tweight{
		randW(r, "bn1/gamma", []int{4}, 0.5, 1.5),
		randW(r, "c1/kernel", []int{3, 3, 3, 4}, -0.5, 0.5),
		randW(r, "c1/bias", []int{4}, -0.2, 0.2),
		randW(r, "bn1/beta", []int{4}, -0.3, 0.3),
		randW(r, "bn1/moving_mean", []int{4}, -0.2, 0.2),
		randW(r, "bn1/moving_variance", []int{4}, 0.3, 2),
		q,
		randW(r, "c2/bias", []int{4}, -0.1, 0.1),
		randW(r, "bn2/beta", []int{4}, -0.3, 0.3),
		randW(r, "bn2/moving_mean", []int{4}, -0.1, 0.3),
		randW(r, "bn2/moving_variance", []int{4}, 0.2, 1),
		randW(r, "dw/depthwise_kernel", []int{3, 3, 4, 2}, -0.6, 0.6),
		randW(r, "fc/kernel", []int{12, 3}, -1, 1),
		randW(r, "fc/bias", []int{3}, -0.1, 0.1),
		randW(r, "fc2/kernel", []int{72, 2}, -0.3, 0.3),
		randW(r, "fc2/bias", []int{2}, -0.1, 0.1),
	}
}

// writeModel returns model.json and its shards (the weight bytes split
// across two files at an unaligned offset).
func writeModel(t testing.TB, layers []tlayer, ws []tweight, outputs []string) ([]byte, map[string][]byte) {
	t.Helper()
	var jl []map[string]any
	for _, l := range layers {
		cfg := map[string]any{"name": l.name}
		for k, v := range l.cfg {
			cfg[k] = v
		}
		var inbound []any
		if len(l.in) > 0 {
			var call []any
			for _, n := range l.in {
				call = append(call, []any{n, 0, 0, map[string]any{}})
			}
			inbound = []any{call}
		} else {
			inbound = []any{}
		}
		jl = append(jl, map[string]any{"name": l.name, "class_name": l.class, "config": cfg, "inbound_nodes": inbound})
	}
	var outs []any
	for _, o := range outputs {
		outs = append(outs, []any{o, 0, 0})
	}
	var specs []map[string]any
	var data []byte
	for _, w := range ws {
		dt := w.dtype
		if dt == "" {
			dt = "float32"
		}
		s := map[string]any{"name": w.name, "shape": w.shape, "dtype": dt}
		if w.quant {
			s["quantization"] = map[string]any{"dtype": "uint8", "min": w.min, "scale": w.scale}
			data = append(data, w.q...)
		} else {
			for _, v := range w.data {
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
			}
		}
		specs = append(specs, s)
	}
	cut := len(data)/2 + 3
	shards := map[string][]byte{"group1-shard1of2.bin": data[:cut], "group1-shard2of2.bin": data[cut:]}
	mj := map[string]any{
		"format":      "layers-model",
		"generatedBy": "test",
		"modelTopology": map[string]any{"keras_version": "2.2.4", "backend": "tensorflow", "model_config": map[string]any{
			"class_name": "Model",
			"config": map[string]any{"name": "tiny", "layers": jl,
				"input_layers": []any{[]any{"in", 0, 0}}, "output_layers": outs},
		}},
		"weightsManifest": []any{map[string]any{"paths": []string{"group1-shard1of2.bin", "group1-shard2of2.bin"}, "weights": specs}},
	}
	b, err := json.Marshal(mj)
	if err != nil {
		t.Fatal(err)
	}
	return b, shards
}

func writeDir(t *testing.T, mj []byte, shards map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.json"), mj, 0o644); err != nil {
		t.Fatal(err)
	}
	for n, b := range shards {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ---- independent NHWC reference ----

type fm struct {
	h, w, c int
	d       []float32 // h×w×c
}

func (x fm) at(y, xx, c int) float32 { return x.d[(y*x.w+xx)*x.c+c] }

func newFM(h, w, c int) fm { return fm{h, w, c, make([]float32, h*w*c)} }

func zeroPad(x fm, t, l, b, r int) fm {
	o := newFM(x.h+t+b, x.w+l+r, x.c)
	for y := range x.h {
		for xx := range x.w {
			for c := range x.c {
				o.d[((y+t)*o.w+xx+l)*o.c+c] = x.at(y, xx, c)
			}
		}
	}
	return o
}

// samePads is TensorFlow's SAME padding: the odd pixel goes after.
func samePads(in, k, s int) (int, int) {
	out := (in + s - 1) / s
	total := max(0, (out-1)*s+k-in)
	return total / 2, total - total/2
}

// refConv: kernel kh×kw×cin×cout (Keras HWIO), direct loops.
func refConv(x fm, k []float32, kh, kw, cout int, bias []float32, sh, sw int, same bool) fm {
	if same {
		t, b := samePads(x.h, kh, sh)
		l, r := samePads(x.w, kw, sw)
		x = zeroPad(x, t, l, b, r)
	}
	oh, ow := (x.h-kh)/sh+1, (x.w-kw)/sw+1
	o := newFM(oh, ow, cout)
	for y := range oh {
		for xx := range ow {
			for co := range cout {
				var s float64
				if bias != nil {
					s = float64(bias[co])
				}
				for i := range kh {
					for j := range kw {
						for ci := range x.c {
							s += float64(x.at(y*sh+i, xx*sw+j, ci)) * float64(k[((i*kw+j)*x.c+ci)*cout+co])
						}
					}
				}
				o.d[(y*ow+xx)*cout+co] = float32(s)
			}
		}
	}
	return o
}

func refDepthwise(x fm, k []float32, kh, kw, mult int, same bool) fm {
	if same {
		t, b := samePads(x.h, kh, 1)
		l, r := samePads(x.w, kw, 1)
		x = zeroPad(x, t, l, b, r)
	}
	oh, ow := x.h-kh+1, x.w-kw+1
	o := newFM(oh, ow, x.c*mult)
	for y := range oh {
		for xx := range ow {
			for c := range x.c {
				for m := range mult {
					var s float64
					for i := range kh {
						for j := range kw {
							s += float64(x.at(y+i, xx+j, c)) * float64(k[((i*kw+j)*x.c+c)*mult+m])
						}
					}
					o.d[(y*ow+xx)*o.c+c*mult+m] = float32(s)
				}
			}
		}
	}
	return o
}

// refBN applies batch norm unfolded: gamma*(x-mean)/sqrt(var+eps)+beta.
func refBN(x fm, gamma, beta, mean, vr []float32, eps float64) fm {
	o := newFM(x.h, x.w, x.c)
	for i, v := range x.d {
		c := i % x.c
		g := 1.0
		if gamma != nil {
			g = float64(gamma[c])
		}
		o.d[i] = float32(g*(float64(v)-float64(mean[c]))/math.Sqrt(float64(vr[c])+eps) + float64(beta[c]))
	}
	return o
}

func mapFM(x fm, f func(float32) float32) fm {
	o := newFM(x.h, x.w, x.c)
	for i, v := range x.d {
		o.d[i] = f(v)
	}
	return o
}

func refMaxSame(x fm, k, s int) fm {
	t, _ := samePads(x.h, k, s)
	l, _ := samePads(x.w, k, s)
	oh, ow := (x.h+s-1)/s, (x.w+s-1)/s
	o := newFM(oh, ow, x.c)
	for y := range oh {
		for xx := range ow {
			for c := range x.c {
				m := float32(math.Inf(-1))
				for i := range k {
					for j := range k {
						yy, xj := y*s-t+i, xx*s-l+j
						if yy >= 0 && yy < x.h && xj >= 0 && xj < x.w {
							m = max(m, x.at(yy, xj, c))
						}
					}
				}
				o.d[(y*ow+xx)*x.c+c] = m
			}
		}
	}
	return o
}

func refAvgValid(x fm, k, s int) fm {
	oh, ow := (x.h-k)/s+1, (x.w-k)/s+1
	o := newFM(oh, ow, x.c)
	for y := range oh {
		for xx := range ow {
			for c := range x.c {
				var sum float32
				for i := range k {
					for j := range k {
						sum += x.at(y*s+i, xx*s+j, c)
					}
				}
				o.d[(y*ow+xx)*x.c+c] = sum / float32(k*k)
			}
		}
	}
	return o
}

func refDense(v, w, b []float32, units int) []float32 {
	o := make([]float32, units)
	for u := range units {
		s := float64(b[u])
		for i := range v {
			s += float64(v[i]) * float64(w[i*units+u])
		}
		o[u] = float32(s)
	}
	return o
}

// refTiny computes the taps bn1, add, cat, fc, fc2 for one image.
func refTiny(x fm, ws []tweight) map[string][]float32 {
	w := map[string][]float32{}
	for _, v := range ws {
		w[v.name] = v.data
	}
	out := map[string][]float32{}
	relu := func(v float32) float32 { return max(v, 0) }
	p := zeroPad(x, 1, 0, 2, 1)
	c1 := refConv(p, w["c1/kernel"], 3, 3, 4, w["c1/bias"], 2, 1, false)
	bn1 := refBN(c1, w["bn1/gamma"], w["bn1/beta"], w["bn1/moving_mean"], w["bn1/moving_variance"], 1e-3)
	out["bn1"] = bn1.d
	r1 := mapFM(bn1, relu)
	c2 := mapFM(refConv(r1, w["c2/kernel"], 1, 1, 4, w["c2/bias"], 1, 1, true), relu)
	bn2 := refBN(c2, nil, w["bn2/beta"], w["bn2/moving_mean"], w["bn2/moving_variance"], 1e-2)
	add := newFM(r1.h, r1.w, r1.c)
	for i := range add.d {
		add.d[i] = r1.d[i] + bn2.d[i]
	}
	out["add"] = add.d
	mp := refMaxSame(add, 2, 2)
	dw := mapFM(refDepthwise(mp, w["dw/depthwise_kernel"], 3, 3, 2, true), func(v float32) float32 { return min(max(v, 0), 6) })
	cat := newFM(mp.h, mp.w, dw.c+mp.c)
	for y := range mp.h {
		for xx := range mp.w {
			for c := range cat.c {
				v := float32(0)
				if c < dw.c {
					v = dw.at(y, xx, c)
				} else {
					v = mp.at(y, xx, c-dw.c)
				}
				cat.d[(y*cat.w+xx)*cat.c+c] = v
			}
		}
	}
	out["cat"] = cat.d
	lr := mapFM(cat, func(v float32) float32 {
		if v < 0 {
			return 0.1 * v
		}
		return v
	})
	gap := make([]float32, lr.c)
	for i, v := range lr.d {
		gap[i%lr.c] += v / float32(lr.h*lr.w)
	}
	logits := refDense(gap, w["fc/kernel"], w["fc/bias"], 3)
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v))
	}
	sm := make([]float32, 3)
	for i, v := range logits {
		sm[i] = float32(math.Exp(float64(v)) / z)
	}
	out["fc"] = sm
	ap := refAvgValid(lr, 2, 1)
	out["fc2"] = refDense(ap.d, w["fc2/kernel"], w["fc2/bias"], 2) // NHWC flatten order
	return out
}

// toNHWC converts one image of an NCHW (or N×C) tensor.
func toNHWC(t *tensor.Tensor, n int) []float32 {
	if len(t.Shape) == 2 {
		c := t.Shape[1]
		return t.Data[n*c : (n+1)*c]
	}
	c, h, w := t.Shape[1], t.Shape[2], t.Shape[3]
	o := make([]float32, c*h*w)
	for ci := range c {
		for y := range h {
			for x := range w {
				o[(y*w+x)*c+ci] = t.Data[((n*c+ci)*h+y)*w+x]
			}
		}
	}
	return o
}

func TestConvertMatchesReference(t *testing.T) {
	ws := tinyWeights(7)
	mj, shards := writeModel(t, tinyLayers(), ws, []string{"fc", "fc2"})
	m, weights, err := ReadDir(writeDir(t, mj, shards))
	if err != nil {
		t.Fatal(err)
	}
	// The uint8 weight is dequantised with its min and scale.
	for i, v := range weights["c2/kernel"].Data {
		if want := ws[6].data[i]; math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("c2/kernel[%d] = %g, want %g", i, v, want)
		}
	}
	taps := []string{"bn1", "add", "cat", "fc", "fc2"}
	om, err := m.ToONNX(weights, taps)
	if err != nil {
		t.Fatal(err)
	}
	// Folding: no BatchNormalization or Pad node survives for bn1/pad,
	// and bn1 is computed by the c1 convolution.
	for _, n := range om.Graph.Nodes {
		if n.OpType == "Pad" || n.OpType == "BatchNormalization" {
			t.Errorf("node %s (%s) should have been folded", n.Name, n.OpType)
		}
		if n.Name == "c1" && (n.OpType != "Conv" || n.Outputs[0] != "bn1") {
			t.Errorf("c1 is %s -> %v, want Conv -> bn1", n.OpType, n.Outputs)
		}
	}
	ex, err := onnx.NewExecutor(om, taps)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	const n = 2
	x := tensor.New(n, 3, tinyH, tinyW)
	for i := range x.Data {
		x.Data[i] = r.Float32()*2 - 1
	}
	outs, err := ex.Run(map[string]*tensor.Tensor{"in": x})
	if err != nil {
		t.Fatal(err)
	}
	for b := range n {
		img := fm{tinyH, tinyW, 3, toNHWC(x, b)}
		want := refTiny(img, ws)
		for _, tap := range taps {
			got := toNHWC(outs[tap], b)
			if len(got) != len(want[tap]) {
				t.Fatalf("%s: %d values (shape %v), want %d", tap, len(got), outs[tap].Shape, len(want[tap]))
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[tap][i])); d > 1e-4*(1+math.Abs(float64(want[tap][i]))) {
					t.Fatalf("image %d tap %s [%d] = %g, want %g", b, tap, i, got[i], want[tap][i])
				}
			}
		}
	}
}

// TestErrors: each malformed model is refused with an error naming the
// weight or layer at fault.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(ls []tlayer, ws []tweight, shards map[string][]byte) ([]tlayer, []tweight)
		// shardEdit runs after writing.
		cut  bool
		want string
	}{
		{"short shard", nil, true, `"fc2/bias"`},
		{"dtype", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			ws[2].dtype = "int32"
			return ls, ws
		}, false, `weight "c1/bias": dtype "int32"`},
		{"shape", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			ws[1].shape = []int{3, 3, 4, 3}
			return ls, ws
		}, false, `weight "c1/kernel" has shape [3 3 4 3]`},
		{"missing", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			return ls, append(ws[:8:8], ws[9:]...)
		}, false, `"bn2/beta" is missing`},
		{"quantisation", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			ws[6].dtype = "int32"
			return ls, ws
		}, false, `weight "c2/kernel": dtype "int32"`},
		{"layer class", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			ls[11].class = "PReLU"
			return ls, ws
		}, false, `layer "lrelu" (PReLU): unsupported layer class`},
		{"dense size", func(ls []tlayer, ws []tweight, _ map[string][]byte) ([]tlayer, []tweight) {
			ls[14].cfg["units"] = 4
			return ls, ws
		}, false, `weight "fc/kernel" has shape [12 3]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ls, ws := tinyLayers(), tinyWeights(1)
			if tc.edit != nil {
				ls, ws = tc.edit(ls, ws, nil)
			}
			mj, shards := writeModel(t, ls, ws, []string{"fc", "fc2"})
			if tc.cut {
				s := shards["group1-shard2of2.bin"]
				shards["group1-shard2of2.bin"] = s[:len(s)-5]
			}
			m, weights, err := ReadDir(writeDir(t, mj, shards))
			if err == nil {
				_, err = m.ToONNX(weights, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %s", err, tc.want)
			}
		})
	}
}

// TestShardPathEscape: a manifest path leaving the model folder is not read.
func TestShardPathEscape(t *testing.T) {
	mj, shards := writeModel(t, tinyLayers(), tinyWeights(1), []string{"fc"})
	mj = []byte(strings.Replace(string(mj), `"group1-shard1of2.bin"`, `"../group1-shard1of2.bin"`, 1))
	if _, _, err := ReadDir(writeDir(t, mj, shards)); err == nil || !strings.Contains(err.Error(), "leaves the model folder") {
		t.Fatalf("error %v", err)
	}
}

// FuzzParse: arbitrary model.json and shard bytes never panic the parser,
// the weight reader or the converter.
func FuzzParse(f *testing.F) {
	mj, shards := writeModel(f, tinyLayers(), tinyWeights(1), []string{"fc", "fc2"})
	all := append(append([]byte(nil), shards["group1-shard1of2.bin"]...), shards["group1-shard2of2.bin"]...)
	f.Add(mj, all)
	f.Add([]byte(`{"modelTopology":{"class_name":"Model","config":{"layers":[]}}}`), []byte{})
	f.Fuzz(func(t *testing.T, mj, shard []byte) {
		if len(mj) > 1<<16 || len(shard) > 1<<16 {
			return
		}
		m, err := Parse(mj)
		if err != nil {
			return
		}
		// The shard bytes are split over the manifest paths in order.
		served := 0
		ws, err := m.ReadWeights(func(string) ([]byte, error) {
			lo := min(served, len(shard))
			hi := min(lo+len(shard)/2+1, len(shard))
			served = hi
			return shard[lo:hi], nil
		})
		if err != nil {
			return
		}
		_, _ = m.ToONNX(ws, nil)
	})
}
