package svdd

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph (detector.Exporter)
// for the Size×Size working image: the pixels as Pixels prepares them
// (ExportPixels), flattened to the feature row x; with features pca its
// coordinates (x − mean)Uᵀ as one Gemm; the squared distances to the
// support vectors as Score computes them, ‖x‖² − 2x·sᵢ + ‖sᵢ‖² clipped at
// 0 (one MatMul); the RBF kernel exp(−γ d²); and the score
// 1 − 2 Σ αᵢ k(x, sᵢ) + αᵀKα − R² (a MatMul with α). SVDD has no anomaly
// map, so the graph has only the "score" output.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.sv == nil {
		return nil, fmt.Errorf("svdd: model is not fitted")
	}
	cfg := d.cfg
	S, nsv, dim := cfg.Size, len(d.alpha), d.dim
	b := onnx.NewBuilder("vigil-svdd")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := ExportPixels(b, embedding.ExportInput, cfg.Channels, cfg.Norm, "svdd")
	if err != nil {
		return nil, fmt.Errorf("svdd export: %w", err)
	}
	b.Node("Flatten", "svdd/row", []string{x}, []string{"svdd/row"}, onnx.IntAttr("axis", 1))
	x = "svdd/row" // [1, channels·size²]
	if d.pca != nil {
		p := d.pca
		neg := make([]float32, p.K()) // −U·mean, as Transform's bias
		for j := range neg {
			var s float64
			for a, v := range p.Components[j*p.Dim() : (j+1)*p.Dim()] {
				s += float64(v) * float64(p.Mean[a])
			}
			neg[j] = float32(-s)
		}
		b.Initializer("svdd/pca/components", []int{p.K(), p.Dim()}, p.Components)
		b.Initializer("svdd/pca/bias", []int{p.K()}, neg)
		b.Node("Gemm", "svdd/pca", []string{x, "svdd/pca/components", "svdd/pca/bias"}, []string{"svdd/pca"}, onnx.IntAttr("transB", 1))
		x = "svdd/pca"
	}
	// ‖x − sᵢ‖² = ‖x‖² − 2x·sᵢ + ‖sᵢ‖², as sqDists, clipped at 0.
	k := "svdd/kernel"
	b.Initializer(k+"/sv_t_m2", []int{dim, nsv}, scaledTranspose(d.sv, nsv, dim, -2))
	b.Initializer(k+"/sv_norm2", []int{1, nsv}, rowNorms(d.sv, nsv, dim))
	b.InitializerInt64(k+"/axis1", []int{1}, []int64{1})
	b.Initializer(k+"/zero", nil, []float32{0})
	b.Initializer(k+"/minus_gamma", nil, []float32{float32(-d.gamma)})
	b.Node("MatMul", k+"/cross", []string{x, k + "/sv_t_m2"}, []string{k + "/cross"})
	b.Node("Mul", k+"/x2", []string{x, x}, []string{k + "/x2"})
	b.Node("ReduceSum", k+"/x_norm2", []string{k + "/x2", k + "/axis1"}, []string{k + "/x_norm2"}, onnx.IntAttr("keepdims", 1))
	b.Node("Add", k+"/d2a", []string{k + "/cross", k + "/x_norm2"}, []string{k + "/d2a"})
	b.Node("Add", k+"/d2b", []string{k + "/d2a", k + "/sv_norm2"}, []string{k + "/d2b"})
	b.Node("Clip", k+"/d2", []string{k + "/d2b", k + "/zero"}, []string{k + "/d2"})
	b.Node("Mul", k+"/arg", []string{k + "/d2", k + "/minus_gamma"}, []string{k + "/arg"})
	b.Node("Exp", k, []string{k + "/arg"}, []string{k}) // [1, nsv]
	// 1 − 2 Σ αᵢ k(x, sᵢ) + αᵀKα − R²: α scaled by −2, the constants as one.
	a2 := make([]float32, nsv)
	for i, a := range d.alpha {
		a2[i] = -2 * a
	}
	b.Initializer("svdd/alpha_m2", []int{nsv, 1}, a2)
	b.Initializer("svdd/const", []int{1}, []float32{float32(1 + d.aKa - d.r2)})
	b.InitializerInt64("svdd/one", []int{1}, []int64{1})
	b.Node("MatMul", "svdd/sum", []string{k, "svdd/alpha_m2"}, []string{"svdd/sum"}) // [1,1]
	b.Node("Reshape", "svdd/sum1", []string{"svdd/sum", "svdd/one"}, []string{"svdd/sum1"})
	b.Node("Add", detector.ExportScore, []string{"svdd/sum1", "svdd/const"}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportScoreMetadata("the squared kernel-space distance to the SVDD centre minus R² (positive outside the sphere)")
	return om, nil
}

// scaledTranspose returns s times the c×r transpose of the row-major r×c
// matrix m.
func scaledTranspose(m []float32, r, c int, s float32) []float32 {
	t := embedding.TransposeMatrix(m, r, c)
	for i := range t {
		t[i] *= s
	}
	return t
}

// ExportPixels writes Pixels for the exported input x, [1,3,size,size]
// RGB (already at the working size, so no resize), into b: the conversion
// to the model's channels (luminance for one channel, as imageio.ToGray
// makes it from RGB) and, with norm gcn, the global contrast
// normalisation. The graph divides by the mean absolute deviation clipped
// below at 1e-8, where Pixels leaves an image at zero: the two agree on a
// flat image (its deviations are all zero) and differ only for images
// flatter than float32 pixels resolve. It returns the name of the
// [1,channels,size,size] result; names start with prefix. deepsvdd shares
// it, as it shares Pixels.
func ExportPixels(b *onnx.Builder, x string, channels int, norm, prefix string) (string, error) {
	x, err := embedding.ExportChannels(b, x, channels == 1, channels, prefix)
	if err != nil {
		return "", err
	}
	switch norm {
	case "none":
		return x, nil
	case "gcn":
	default:
		return "", fmt.Errorf("norm %q is not exportable (none and gcn are)", norm)
	}
	all := onnx.IntsAttr("axes", 1, 2, 3)
	keep := onnx.IntAttr("keepdims", 1)
	p := prefix + "/gcn"
	b.Node("ReduceMean", p+"/mean", []string{x}, []string{p + "/mean"}, all, keep)
	b.Node("Sub", p+"/centred", []string{x, p + "/mean"}, []string{p + "/centred"})
	b.Node("Abs", p+"/abs", []string{p + "/centred"}, []string{p + "/abs"})
	b.Node("ReduceMean", p+"/mad", []string{p + "/abs"}, []string{p + "/mad"}, all, keep)
	b.Initializer(p+"/floor", nil, []float32{1e-8})
	b.Node("Clip", p+"/mad_floor", []string{p + "/mad", p + "/floor"}, []string{p + "/mad_floor"})
	b.Node("Div", p, []string{p + "/centred", p + "/mad_floor"}, []string{p})
	return p, nil
}
