package dagmm

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter) for the Size×Size working image: the conversion to
// the model's channels; with normalize image, each channel standardised
// (centred, divided by its deviation floored at 1e-3, as standardise);
// the patches at the scoring origins (embedding.ExportPatchGrid) as rows;
// the compression network (Gemm and Tanh nodes) and the features z =
// [code, relative distance, cosine similarity]; the sample energy under
// the fitted mixture (stats.GMM.ExportScore); and each pixel's mean over
// the patches covering it, smoothed, as one matrix product per axis. The
// image score is the map's maximum.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.net == nil || d.gmm == nil {
		return nil, fmt.Errorf("dagmm export: model is not fitted")
	}
	c := d.cfg
	S, p := c.Size, c.Patch
	b := onnx.NewBuilder("vigil-dagmm")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := embedding.ExportChannels(b, embedding.ExportInput, c.Gray, c.Channels, "dagmm")
	if err != nil {
		return nil, fmt.Errorf("dagmm export: %w", err)
	}
	if c.Normalize == "image" {
		x = exportStandardise(b, x, "dagmm/std")
	}
	ys := origins(S, p, c.Stride)
	n, D := len(ys)*len(ys), c.dim()
	grid := embedding.ExportPatchGrid(b, x, c.Channels, S, S, p, ys, ys, nil, "dagmm/patch") // [1,D,nx,ny]
	b.Node("Transpose", "dagmm/patch/yx", []string{grid}, []string{"dagmm/patch/yx"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	rows := embedding.ExportRows(b, "dagmm/patch/yx", D, len(ys), len(ys), "dagmm/patch") // [n,D], y-major as patches
	z := d.exportFeatures(b, rows, "dagmm/net")
	energy := d.gmm.ExportScore(b, z, n, "dagmm/gmm")
	// Pixel y's value averages the patches whose rows cover it: entry
	// (y, j) is 1/count(y) when origin ys[j] ≤ y < ys[j]+p. Columns alike.
	place := make([]float32, S*len(ys))
	for y := 0; y < S; y++ {
		cnt := 0
		for _, y0 := range ys {
			if y0 <= y && y < y0+p {
				cnt++
			}
		}
		for j, y0 := range ys {
			if y0 <= y && y < y0+p {
				place[y*len(ys)+j] = 1 / float32(cnt)
			}
		}
	}
	m := embedding.ExportSmoothAxes(b, energy, place, place, len(ys), len(ys), S, c.Smooth, 1, "dagmm/map")
	_, score := embedding.ExportMapOutput(b, m, S)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportMetadata()
	return om, nil
}

// exportStandardise writes standardise for x [1,C,S,S]: per channel,
// (x − mean) / max(deviation, 1e-3), the deviation taken from the centred
// values (two passes, which float32 keeps accurate).
func exportStandardise(b *onnx.Builder, x, pre string) string {
	b.Initializer(pre+"/floor", nil, []float32{1e-3})
	b.Node("ReduceMean", pre+"/mean", []string{x}, []string{pre + "/mean"}, onnx.IntsAttr("axes", 2, 3), onnx.IntAttr("keepdims", 1))
	b.Node("Sub", pre+"/centred", []string{x, pre + "/mean"}, []string{pre + "/centred"})
	b.Node("Mul", pre+"/sq", []string{pre + "/centred", pre + "/centred"}, []string{pre + "/sq"})
	b.Node("ReduceMean", pre+"/var", []string{pre + "/sq"}, []string{pre + "/var"}, onnx.IntsAttr("axes", 2, 3), onnx.IntAttr("keepdims", 1))
	b.Node("Sqrt", pre+"/sd", []string{pre + "/var"}, []string{pre + "/sd"})
	b.Node("Clip", pre+"/sd_floor", []string{pre + "/sd", pre + "/floor"}, []string{pre + "/sd_floor"})
	b.Node("Div", pre+"/out", []string{pre + "/centred", pre + "/sd_floor"}, []string{pre + "/out"})
	return pre + "/out"
}

// exportFeatures writes compress for patch rows x [n,D] and returns the
// name of z [n, Latent+2]: the code, ‖x − x'‖/‖x‖ and x·x'/(‖x‖‖x'‖) with
// the same floors (1e-6 on ‖x‖, 1e-12 under the other square roots).
func (d *Detector) exportFeatures(b *onnx.Builder, x, pre string) string {
	code := exportMLP(b, x, d.net.enc, pre+"/enc")
	recon := exportMLP(b, code, d.net.dec, pre+"/dec")
	p := func(s string) string { return pre + "/" + s }
	b.Initializer(p("eps6"), nil, []float32{1e-6})
	b.Initializer(p("eps12"), nil, []float32{1e-12})
	b.InitializerInt64(p("axis1"), []int{1}, []int64{1})
	rowSum := func(name, in string) string {
		b.Node("ReduceSum", p(name), []string{in, p("axis1")}, []string{p(name)}, onnx.IntAttr("keepdims", 1))
		return p(name)
	}
	b.Node("Mul", p("xx"), []string{x, x}, []string{p("xx")})
	b.Node("Sqrt", p("xnorm0"), []string{rowSum("xx_sum", p("xx"))}, []string{p("xnorm0")})
	b.Node("Add", p("xnorm"), []string{p("xnorm0"), p("eps6")}, []string{p("xnorm")})
	b.Node("Sub", p("diff"), []string{x, recon}, []string{p("diff")})
	b.Node("Mul", p("diff2"), []string{p("diff"), p("diff")}, []string{p("diff2")})
	b.Node("Add", p("dist2"), []string{rowSum("diff2_sum", p("diff2")), p("eps12")}, []string{p("dist2")})
	b.Node("Sqrt", p("dist"), []string{p("dist2")}, []string{p("dist")})
	b.Node("Mul", p("rr"), []string{recon, recon}, []string{p("rr")})
	b.Node("Add", p("rnorm2"), []string{rowSum("rr_sum", p("rr")), p("eps12")}, []string{p("rnorm2")})
	b.Node("Sqrt", p("rnorm"), []string{p("rnorm2")}, []string{p("rnorm")})
	b.Node("Div", p("rel"), []string{p("dist"), p("xnorm")}, []string{p("rel")})
	b.Node("Mul", p("xr"), []string{x, recon}, []string{p("xr")})
	b.Node("Mul", p("norms"), []string{p("xnorm"), p("rnorm")}, []string{p("norms")})
	b.Node("Div", p("cos"), []string{rowSum("xr_sum", p("xr")), p("norms")}, []string{p("cos")})
	b.Node("Concat", p("z"), []string{code, p("rel"), p("cos")}, []string{p("z")}, onnx.IntAttr("axis", 1))
	return p("z")
}

// exportMLP writes mlp: a Gemm per layer (weight [out,in], transB), Tanh
// between layers, and returns the last output's name.
func exportMLP(b *onnx.Builder, x string, layers []*nn.LinearLayer, pre string) string {
	for i, l := range layers {
		name := fmt.Sprintf("%s.%d", pre, i)
		w := l.Weight.Value
		in := []string{x, name + ".weight"}
		b.Initializer(name+".weight", w.Shape, w.Data)
		if l.Bias != nil {
			b.Initializer(name+".bias", l.Bias.Value.Shape, l.Bias.Value.Data)
			in = append(in, name+".bias")
		}
		b.Node("Gemm", name, in, []string{name}, onnx.IntAttr("transB", 1))
		x = name
		if i+1 < len(layers) {
			b.Node("Tanh", name+"/tanh", []string{x}, []string{name + "/tanh"})
			x = name + "/tanh"
		}
	}
	return x
}
