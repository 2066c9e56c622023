package padim

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter): the backbone, each tap's selected channels (a 1×1
// convolution with one-hot weights, exact), bilinear upsampling to the
// feature grid, and the Mahalanobis distance per location without MatMul
// or Einsum: z = ReduceSum(x · W, last axis) − Wμ with W the per-location
// inverse Cholesky factor ([L,d,d], lower triangle), distance = √Σz². The
// grid then goes through embedding's map head (upsampling and smoothing as
// matrix products); the image score is the map's maximum, as Score.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.gauss == nil {
		return nil, fmt.Errorf("padim: not fitted")
	}
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return nil, err
	}
	b, tapNames, shapes, err := d.cfg.Geometry.ExportBackbone(ex, "vigil-padim")
	if err != nil {
		return nil, fmt.Errorf("padim export: %w", err)
	}
	taps := d.cfg.Taps
	if len(taps) == 0 {
		for i := range tapNames {
			taps = append(taps, i)
		}
	}
	// The channel selection, tap by tap, as in features.
	var parts []string
	off, j := 0, 0
	for _, t := range taps {
		if t < 0 || t >= len(tapNames) {
			return nil, fmt.Errorf("padim export: tap %d out of range: backbone has %d taps", t, len(tapNames))
		}
		cs := shapes[t][1]
		j0 := j
		for j < len(d.channels) && d.channels[j] < off+cs {
			j++
		}
		if j > j0 {
			k := j - j0
			w := make([]float32, k*cs)
			for q, ch := range d.channels[j0:j] {
				w[q*cs+ch-off] = 1
			}
			name := fmt.Sprintf("padim/tap%d", t)
			b.Initializer(name+"_select", []int{k, cs, 1, 1}, w)
			b.Node("Conv", name+"_select", []string{tapNames[t], name + "_select"}, []string{name},
				onnx.IntsAttr("kernel_shape", 1, 1))
			parts = append(parts, embedding.ExportResize(b, name, []int{1, k, shapes[t][2], shapes[t][3]}, d.h, d.w, name))
		}
		off += cs
	}
	if j != len(d.channels) {
		return nil, fmt.Errorf("padim export: model uses channel %d but the backbone's taps give %d", d.channels[j], off)
	}
	x := parts[0]
	if len(parts) > 1 {
		x = "padim/features"
		b.Node("Concat", x, parts, []string{x}, onnx.IntAttr("axis", 1))
	}
	k, L := len(d.channels), d.h*d.w
	rows := embedding.ExportRows(b, x, k, d.h, d.w, "padim/x") // [L,k]

	// W as [L,k,k] (row a of location l: W_l[a,:]) and Wμ as [L,k].
	tri := k * (k + 1) / 2
	w := make([]float32, L*k*k)
	wmu := make([]float32, L*k)
	for l := 0; l < L; l++ {
		c := d.chol[l*tri : (l+1)*tri]
		mu := d.mean[l*k : (l+1)*k]
		o := 0
		for a := 0; a < k; a++ {
			var s float64
			for q := 0; q <= a; q++ {
				w[(l*k+a)*k+q] = c[o]
				s += float64(c[o]) * float64(mu[q])
				o++
			}
			wmu[l*k+a] = float32(s)
		}
	}
	b.Initializer("padim/W", []int{L, k, k}, w)
	b.Initializer("padim/Wmu", []int{L, k}, wmu)
	b.InitializerInt64("padim/l1k", []int{3}, []int64{int64(L), 1, int64(k)})
	b.InitializerInt64("padim/axis1", []int{1}, []int64{1})
	b.InitializerInt64("padim/axis2", []int{1}, []int64{2})
	b.Node("Reshape", "padim/x3", []string{rows, "padim/l1k"}, []string{"padim/x3"})
	b.Node("Mul", "padim/Wx_terms", []string{"padim/x3", "padim/W"}, []string{"padim/Wx_terms"})
	b.Node("ReduceSum", "padim/Wx", []string{"padim/Wx_terms", "padim/axis2"}, []string{"padim/Wx"}, onnx.IntAttr("keepdims", 0))
	b.Node("Sub", "padim/z", []string{"padim/Wx", "padim/Wmu"}, []string{"padim/z"})
	b.Node("Mul", "padim/z2", []string{"padim/z", "padim/z"}, []string{"padim/z2"})
	b.Node("ReduceSum", "padim/d2", []string{"padim/z2", "padim/axis1"}, []string{"padim/d2"}, onnx.IntAttr("keepdims", 0))
	b.Node("Sqrt", "padim/grid", []string{"padim/d2"}, []string{"padim/grid"})
	_, score := d.cfg.Geometry.ExportScoreMap(b, "padim/grid", d.h, d.w, d.cfg.Sigma)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	m := b.Model()
	m.Metadata = d.cfg.Geometry.ExportMetadata()
	return m, nil
}
