package onnx

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/tensor"
)

// resnetSpec describes a torchvision ResNet variant.
type resnetSpec struct {
	blocks     [4]int
	bottleneck bool
	width      int // base width (64 in torchvision)
	wideFactor int // bottleneck width multiplier (2 for Wide-ResNet-50-2)
	classes    int
}

var (
	resnet18     = resnetSpec{blocks: [4]int{2, 2, 2, 2}, width: 64, wideFactor: 1, classes: 1000}
	resnet34     = resnetSpec{blocks: [4]int{3, 4, 6, 3}, width: 64, wideFactor: 1, classes: 1000}
	resnet50     = resnetSpec{blocks: [4]int{3, 4, 6, 3}, bottleneck: true, width: 64, wideFactor: 1, classes: 1000}
	wideResnet50 = resnetSpec{blocks: [4]int{3, 4, 6, 3}, bottleneck: true, width: 64, wideFactor: 2, classes: 1000}
)

// buildResNet builds a torchvision-style ResNet export (node and tensor
// names as torch.onnx.export writes them, BatchNormalization kept as in a
// non-folded export) with seeded random weights, He-scaled so activations
// stay O(1).
func buildResNet(s resnetSpec, h, w int, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 1))
	b := NewBuilder("resnet")
	b.Input("input", 1, 3, h, w)
	conv := func(scope, in string, cin, cout, k, stride int) string {
		wn := scope + ".weight"
		std := math.Sqrt(2 / float64(cin*k*k))
		data := make([]float32, cout*cin*k*k)
		for i := range data {
			data[i] = float32(r.NormFloat64() * std)
		}
		b.Initializer(wn, []int{cout, cin, k, k}, data)
		p := int64(k / 2)
		out := "/" + scope + "/Conv_output_0"
		b.Node("Conv", "/"+scope+"/Conv", []string{in, wn}, []string{out},
			IntsAttr("dilations", 1, 1), IntAttr("group", 1), IntsAttr("kernel_shape", int64(k), int64(k)),
			IntsAttr("pads", p, p, p, p), IntsAttr("strides", int64(stride), int64(stride)))
		return out
	}
	bn := func(scope, in string, c int) string {
		names := []string{scope + ".weight", scope + ".bias", scope + ".running_mean", scope + ".running_var"}
		for i, n := range names {
			v := make([]float32, c)
			for j := range v {
				switch i {
				case 0:
					v[j] = 0.5 + 0.5*r.Float32()
				case 3:
					v[j] = 0.5 + r.Float32()
				default:
					v[j] = 0.2 * float32(r.NormFloat64())
				}
			}
			b.Initializer(n, []int{c}, v)
		}
		out := "/" + scope + "/BatchNormalization_output_0"
		b.Node("BatchNormalization", "/"+scope+"/BatchNormalization", append([]string{in}, names...), []string{out},
			FloatAttr("epsilon", 1e-5), FloatAttr("momentum", 0.9))
		return out
	}
	relu := func(scope, in string) string {
		out := "/" + scope + "/Relu_output_0"
		b.Node("Relu", "/"+scope+"/Relu", []string{in}, []string{out})
		return out
	}
	x := relu("relu", bn("bn1", conv("conv1", "input", 3, s.width, 7, 2), s.width))
	b.Node("MaxPool", "/maxpool/MaxPool", []string{x}, []string{"/maxpool/MaxPool_output_0"},
		IntAttr("ceil_mode", 0), IntsAttr("kernel_shape", 3, 3), IntsAttr("pads", 1, 1, 1, 1), IntsAttr("strides", 2, 2))
	x = "/maxpool/MaxPool_output_0"
	cin := s.width
	expansion := 1
	if s.bottleneck {
		expansion = 4
	}
	for li, nb := range s.blocks {
		planes := s.width << li
		for bi := 0; bi < nb; bi++ {
			sc := fmt.Sprintf("layer%d/layer%d.%d", li+1, li+1, bi)
			stride := 1
			if bi == 0 && li > 0 {
				stride = 2
			}
			cout := planes * expansion
			identity := x
			var y string
			if s.bottleneck {
				wd := planes * s.wideFactor
				y = relu(sc+"/relu", bn(sc+"/bn1", conv(sc+"/conv1", x, cin, wd, 1, 1), wd))
				y = relu(sc+"/relu_1", bn(sc+"/bn2", conv(sc+"/conv2", y, wd, wd, 3, stride), wd))
				y = bn(sc+"/bn3", conv(sc+"/conv3", y, wd, cout, 1, 1), cout)
			} else {
				y = relu(sc+"/relu", bn(sc+"/bn1", conv(sc+"/conv1", x, cin, cout, 3, stride), cout))
				y = bn(sc+"/bn2", conv(sc+"/conv2", y, cout, cout, 3, 1), cout)
			}
			if stride != 1 || cin != cout {
				identity = bn(sc+"/downsample/downsample.1", conv(sc+"/downsample/downsample.0", x, cin, cout, 1, stride), cout)
			}
			add := "/" + sc + "/Add_output_0"
			b.Node("Add", "/"+sc+"/Add", []string{y, identity}, []string{add})
			last := "relu_1"
			if s.bottleneck {
				last = "relu_2"
			}
			x = relu(sc+"/"+last, add)
			cin = cout
		}
	}
	b.Node("GlobalAveragePool", "/avgpool/GlobalAveragePool", []string{x}, []string{"/avgpool/GlobalAveragePool_output_0"})
	b.Node("Flatten", "/Flatten", []string{"/avgpool/GlobalAveragePool_output_0"}, []string{"/Flatten_output_0"}, IntAttr("axis", 1))
	fc := make([]float32, s.classes*cin)
	for i := range fc {
		fc[i] = float32(r.NormFloat64() / math.Sqrt(float64(cin)))
	}
	b.Initializer("fc.weight", []int{s.classes, cin}, fc)
	b.Initializer("fc.bias", []int{s.classes}, make([]float32, s.classes))
	b.Node("Gemm", "/fc/Gemm", []string{"/Flatten_output_0", "fc.weight", "fc.bias"}, []string{"output"},
		FloatAttr("alpha", 1), FloatAttr("beta", 1), IntAttr("transB", 1))
	b.Output("output", 1, s.classes)
	return b.Model()
}

// refRun interprets the graph node by node with the naive reference
// kernels (no fusion, no folding) and returns every tensor it computed.
func refRun(t *testing.T, m *Model, x *tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	vals := map[string]*tensor.Tensor{"input": x}
	for _, in := range m.Graph.Initializers {
		vals[in.Name] = tensor.From(in.Float, toInts(in.Dims)...)
	}
	ints2 := func(v []int64) [2]int { return [2]int{int(v[0]), int(v[1])} }
	for _, n := range m.Graph.Nodes {
		in := func(i int) *tensor.Tensor { return vals[n.Inputs[i]] }
		var y *tensor.Tensor
		switch n.OpType {
		case "Conv":
			p := n.AttrInts("pads")
			y = refConv(in(0), in(1), nil, ints2(n.AttrInts("strides")), [2]int{1, 1}, [4]int{int(p[0]), int(p[1]), int(p[2]), int(p[3])}, 1)
		case "BatchNormalization":
			y = refBN(in(0), in(1).Data, in(2).Data, in(3).Data, in(4).Data, float64(n.AttrFloat("epsilon", 1e-5)))
		case "Relu":
			y = refClip(in(0), 0, math.MaxFloat32)
		case "MaxPool":
			p := n.AttrInts("pads")
			y = refPool(in(0), true, ints2(n.AttrInts("kernel_shape")), ints2(n.AttrInts("strides")), [4]int{int(p[0]), int(p[1]), int(p[2]), int(p[3])}, false, false)
		case "Add":
			y = refAdd(in(0), in(1))
		case "GlobalAveragePool":
			y = refGAP(in(0))
		case "Flatten":
			y = in(0).Clone().Reshape(in(0).Shape[0], -1)
		case "Gemm":
			y = refGemm(in(0), in(1), in(2).Data, false, true, 1, 1)
		default:
			t.Fatalf("refRun: no reference for %s", n.OpType)
		}
		vals[n.Outputs[0]] = y
	}
	return vals
}

// TestResNetVariants runs width-reduced torchvision ResNet-18/34/50 and
// Wide-ResNet-50-2 topologies (same operators, attributes and names as
// the real exports) through Encode/Decode and the Executor, tapping
// layer1..layer3 as the feature detectors do, against the naive interpreter.
func TestResNetVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("slow naive reference")
	}
	cases := []struct {
		name string
		spec resnetSpec
		taps []string
	}{
		{"resnet18", resnet18, []string{"/layer1/layer1.1/relu_1/Relu_output_0", "/layer2/layer2.1/relu_1/Relu_output_0", "/layer3/layer3.1/relu_1/Relu_output_0"}},
		{"resnet34", resnet34, []string{"/layer2/layer2.3/relu_1/Relu_output_0"}},
		{"resnet50", resnet50, []string{"/layer1/layer1.2/relu_2/Relu_output_0", "/layer3/layer3.5/relu_2/Relu_output_0"}},
		{"wide_resnet50_2", wideResnet50, []string{"/layer2/layer2.3/relu_2/Relu_output_0"}},
	}
	for i, c := range cases {
		s := c.spec
		s.width, s.classes = 4, 10 // same topology, tiny channels
		m := roundTrip(t, buildResNet(s, 40, 36, uint64(i)))
		for _, n := range m.Graph.Nodes {
			if !slices.Contains(SupportedOps(), n.OpType) {
				t.Fatalf("%s uses %s, missing from SupportedOps", c.name, n.OpType)
			}
		}
		x := randTensor(rand.New(rand.NewPCG(uint64(i), 9)), 1, 3, 40, 36)
		ref := refRun(t, m, x)
		outs := append([]string{"output"}, c.taps...)
		got := run1(t, m, outs, map[string]*tensor.Tensor{"input": x})
		for _, o := range outs {
			checkClose(t, c.name+" "+o, got[o], ref[o])
		}
	}
}

// BenchmarkResNet18 times Executor.Run on a full-size ResNet-18
// (1x3x224x224, seeded random weights, BatchNormalization folded at load).
// With VIGIL_ONNX_DUMP=DIR (which also makes every Executor test dump its
// model, inputs and outputs as NAME.onnx/.json/.f32) it also writes the
// case "resnet18" (see WriteCase) for comparing with ONNX Runtime.
func BenchmarkResNet18(b *testing.B) { benchResNet(b, resnet18, "resnet18") }

// BenchmarkResNet50 is BenchmarkResNet18 for ResNet-50 (bottleneck blocks,
// mostly 1×1 convolutions).
func BenchmarkResNet50(b *testing.B) { benchResNet(b, resnet50, "resnet50") }

func benchResNet(b *testing.B, spec resnetSpec, name string) {
	m := buildResNet(spec, 224, 224, 42)
	x := tensor.New(1, 3, 224, 224)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range x.Data {
		x.Data[i] = r.Float32()*2 - 1
	}
	e, err := NewExecutor(m, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*tensor.Tensor{"input": x}
	out, err := e.Run(in)
	if err != nil {
		b.Fatal(err)
	}
	if dir := os.Getenv("VIGIL_ONNX_DUMP"); dir != "" {
		if err := WriteCase(dir, name, m, in, out); err != nil {
			b.Fatal(err)
		}
	}
	if testing.Verbose() {
		// Per-layer breakdown: go test -bench ResNet18 -v (or ResNet50)
		steps, err := e.Profile(in, 3)
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, s := range steps {
			total += s.Time
		}
		for _, s := range steps {
			b.Logf("%-45s %-18s %-16v %8.2f ms %5.1f%%", s.Node, s.Op, s.Shape, s.Time.Seconds()*1e3, 100*s.Time.Seconds()/total.Seconds())
		}
		b.Logf("total kernel time %.2f ms", total.Seconds()*1e3)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}
