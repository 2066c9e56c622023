package pcarecon

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/stats"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter). The input is the Size×Size RGB image; the graph
// converts it to the model's channels (luminance with gray, the first
// plane for a model fitted on gray images), downscales it per scale (the
// resize as matrix products), gathers the centred patches at every offset
// (a convolution with one-hot weights and bias −μ), keeps the patch grid's
// offsets (one-hot matrix products), projects (x − μ) − Uᵀ(U(x − μ)) with
// two 1×1 convolutions, and scatters the squared residuals back to the
// pixels (matrix products with placement matrices), divided by each
// pixel's patch count. The scales' maps are resized, normalised, summed
// and smoothed as Score does; the image score is the map's maximum (score
// "topk" and native-size models are refused).
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if len(d.scales) == 0 {
		return nil, fmt.Errorf("pcarecon: model is not fitted")
	}
	cfg := d.cfg
	if cfg.Size == 0 {
		return nil, fmt.Errorf("pcarecon export: size 0 (native resolution) is not exportable: the graph needs a fixed input size")
	}
	if cfg.Score != "max" {
		return nil, fmt.Errorf("pcarecon export: score %q is not exportable (max is)", cfg.Score)
	}
	S, c, ps := cfg.Size, cfg.Channels, cfg.Patch
	geo := embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}
	b := onnx.NewBuilder("vigil-pcarecon")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := embedding.ExportChannels(b, embedding.ExportInput, cfg.Gray, c, "pcarecon")
	if err != nil {
		return nil, fmt.Errorf("pcarecon export: %w", err)
	}
	var maps []string
	for _, s := range d.scales {
		pre := fmt.Sprintf("pcarecon/s%d", s.factor)
		h, w := S/s.factor, S/s.factor
		xs := x
		if s.factor != 1 {
			xs = exportResize(b, x, S, S, h, w, pre)
		}
		m := exportResidualMap(b, xs, s.pca, c, h, w, ps, cfg.Stride, pre)
		maps = append(maps, embedding.ExportUpSmooth(b, m, h, w, S, cfg.Smooth, 1/(float64(s.norm)*float64(len(d.scales))), pre+"/map"))
	}
	acc := maps[0]
	for i, m := range maps[1:] {
		sum := fmt.Sprintf("pcarecon/sum%d", i+1)
		b.Node("Add", sum, []string{acc, m}, []string{sum})
		acc = sum
	}
	_, score := embedding.ExportMapOutput(b, acc, S)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = geo.ExportMetadata()
	return om, nil
}

// exportResize writes imageio.Resize of x ([1,c,H,W]) to h×w.
func exportResize(b *onnx.Builder, x string, H, W, h, w int, pre string) string {
	return embedding.ExportAxes(b, x, imageio.ResizeMatrix(H, h), imageio.ResizeMatrix(W, w), H, W, h, w, pre+"/rs")
}

// exportResidualMap writes residualMap for x ([1,c,h,w]) with PCA p and
// returns the name of the [h,w] map.
func exportResidualMap(b *onnx.Builder, x string, p *stats.PCA, c, h, w, ps, stride int, pre string) string {
	D, K, pp := p.Dim(), p.K(), ps*ps
	ys, xs := positions(h, ps, stride), positions(w, ps, stride)
	ny, nx := len(ys), len(xs)
	bias := make([]float32, D)
	for o := range bias {
		bias[o] = -p.Mean[o]
	}
	grid := embedding.ExportPatchGrid(b, x, c, h, w, ps, ys, xs, bias, pre) // [1,D,nx,ny]
	// Residual (x − μ) − Uᵀ U (x − μ), squared.
	b.Initializer(pre+"/U", []int{K, D, 1, 1}, p.Components)
	b.Initializer(pre+"/Ut", []int{D, K, 1, 1}, embedding.TransposeMatrix(p.Components, K, D))
	b.Node("Conv", pre+"/code", []string{grid, pre + "/U"}, []string{pre + "/code"}, onnx.IntsAttr("kernel_shape", 1, 1))
	b.Node("Conv", pre+"/recon", []string{pre + "/code", pre + "/Ut"}, []string{pre + "/recon"}, onnx.IntsAttr("kernel_shape", 1, 1))
	b.Node("Sub", pre+"/res", []string{grid, pre + "/recon"}, []string{pre + "/res"})
	b.Node("Mul", pre+"/res2", []string{pre + "/res", pre + "/res"}, []string{pre + "/res2"})
	// Summed over channels: [p(dy), p(dx), nx, ny], then as rows (dx, jx)
	// and columns (dy, iy) for the placement products.
	b.InitializerInt64(pre+"/c_rest", []int{2}, []int64{int64(c), int64(pp * nx * ny)})
	b.InitializerInt64(pre+"/axis0", []int{1}, []int64{0})
	b.InitializerInt64(pre+"/ppnn", []int{4}, []int64{int64(ps), int64(ps), int64(nx), int64(ny)})
	b.InitializerInt64(pre+"/xy", []int{2}, []int64{int64(ps * nx), int64(ps * ny)})
	b.Node("Reshape", pre+"/res2c", []string{pre + "/res2", pre + "/c_rest"}, []string{pre + "/res2c"})
	b.Node("ReduceSum", pre+"/r", []string{pre + "/res2c", pre + "/axis0"}, []string{pre + "/r"}, onnx.IntAttr("keepdims", 0))
	b.Node("Reshape", pre+"/r4", []string{pre + "/r", pre + "/ppnn"}, []string{pre + "/r4"})
	b.Node("Transpose", pre+"/r4t", []string{pre + "/r4"}, []string{pre + "/r4t"}, onnx.IntsAttr("perm", 1, 2, 0, 3))
	b.Node("Reshape", pre+"/rxy", []string{pre + "/r4t", pre + "/xy"}, []string{pre + "/rxy"})
	// Placement: entry (d·n + j, v) is 1 when patch j's pixel d lands on v.
	place := func(n int, at []int) ([]float32, []float32) {
		m := make([]float32, ps*len(at)*n)
		cnt := make([]float32, n)
		for d := 0; d < ps; d++ {
			for j, o := range at {
				m[(d*len(at)+j)*n+o+d] = 1
				cnt[o+d]++
			}
		}
		return m, cnt
	}
	qy, cy := place(h, ys)
	qx, cx := place(w, xs)
	cnt := make([]float32, h*w)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			cnt[y*w+xx] = cy[y] * cx[xx]
		}
	}
	b.Initializer(pre+"/place_y", []int{ps * ny, h}, qy)
	b.Initializer(pre+"/place_x", []int{ps * nx, w}, qx)
	b.Initializer(pre+"/count", []int{h, w}, cnt)
	b.Node("MatMul", pre+"/sum_y", []string{pre + "/rxy", pre + "/place_y"}, []string{pre + "/sum_y"})
	b.Node("Transpose", pre+"/sum_yt", []string{pre + "/sum_y"}, []string{pre + "/sum_yt"}, onnx.IntsAttr("perm", 1, 0))
	b.Node("MatMul", pre+"/sum", []string{pre + "/sum_yt", pre + "/place_x"}, []string{pre + "/sum"})
	b.Node("Div", pre+"/residual", []string{pre + "/sum", pre + "/count"}, []string{pre + "/residual"})
	return pre + "/residual"
}
