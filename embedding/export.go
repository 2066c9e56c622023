package embedding

import (
	"errors"
	"fmt"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// ExportInput is the name of an exported detector's input: [1,3,S,S], RGB
// in [0,1], the image already prepared by Geometry.Input (resized, and
// centre-cropped when crop is set).
const ExportInput = "image"

// ExportBackbone starts an exported detector's graph: the input, and the
// backbone of s up to its taps (backbone.GraphExporter). It returns the
// builder, the taps' tensor names and their shapes [1,C,h,w], measured by
// running ex on a blank input. Pad mode is refused: its padding depends on
// each image, which the graph does not see.
func (g Geometry) ExportBackbone(ex backbone.Extractor, name string) (*onnx.Builder, []string, [][]int, error) {
	if g.pad() {
		return nil, nil, nil, errors.New("aspect pad is not exportable (the padding depends on each image's size); refit with aspect stretch")
	}
	gx, ok := ex.(backbone.GraphExporter)
	if !ok {
		return nil, nil, nil, fmt.Errorf("backbone %s cannot be written as an ONNX graph", ex.Name())
	}
	s := g.Side()
	f, err := ex.Features(tensor.New(1, 3, s, s))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backbone %s: %w", ex.Name(), err)
	}
	b := onnx.NewBuilder(name)
	b.Input(ExportInput, 1, 3, s, s)
	taps, err := gx.ExportONNX(b, ExportInput, "backbone/", s, s)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(taps) != len(f) {
		return nil, nil, nil, fmt.Errorf("backbone %s: exported %d taps, runs %d", ex.Name(), len(taps), len(f))
	}
	shapes := make([][]int, len(f))
	for i, t := range f {
		shapes[i] = t.Shape
	}
	return b, taps, shapes, nil
}

// ExportResize writes the bilinear upsampling of Concat (half-pixel
// centres, as ops.UpsampleBilinear) of x, shape [1,c,·,·], to h×w, and
// returns the output name (x itself when the size already matches).
func ExportResize(b *onnx.Builder, x string, shape []int, h, w int, prefix string) string {
	if shape[2] == h && shape[3] == w {
		return x
	}
	out := prefix + "_up"
	b.InitializerInt64(out+"_size", []int{4}, []int64{int64(shape[0]), int64(shape[1]), int64(h), int64(w)})
	b.Node("Resize", out, []string{x, "", "", out + "_size"}, []string{out},
		onnx.StringAttr("mode", "linear"), onnx.StringAttr("coordinate_transformation_mode", "half_pixel"))
	return out
}

// ExportAggregate writes Aggregate (k×k neighbourhood mean, padding
// excluded) of x and returns the output name.
func ExportAggregate(b *onnx.Builder, x string, k int, prefix string) string {
	if k <= 1 {
		return x
	}
	p := k / 2
	out := prefix + "_agg"
	b.Node("AveragePool", out, []string{x}, []string{out},
		onnx.IntsAttr("kernel_shape", int64(k), int64(k)),
		onnx.IntsAttr("pads", int64(p), int64(p), int64(k-1-p), int64(k-1-p)),
		onnx.IntAttr("count_include_pad", 0))
	return out
}

// ExportRows writes Rows for a single image: x [1,c,h,w] becomes [h·w, c]
// (row l = location (y, x) with l = y·w + x).
func ExportRows(b *onnx.Builder, x string, c, h, w int, prefix string) string {
	b.InitializerInt64(prefix+"_ck", []int{2}, []int64{int64(c), int64(h * w)})
	b.Node("Reshape", prefix+"_flat", []string{x, prefix + "_ck"}, []string{prefix + "_flat"})
	b.Node("Transpose", prefix+"_rows", []string{prefix + "_flat"}, []string{prefix + "_rows"}, onnx.IntsAttr("perm", 1, 0))
	return prefix + "_rows"
}

// ExportScoreMap writes ScoreMap's map for one image from grid, an h×w
// tensor of patch scores (any shape with h·w values): upsampled to the
// network input and Gaussian-smoothed with sigma (ExportUpSmooth). It
// writes the graph output "map" [1,1,S,S] (S = Side: the map of the
// prepared input; mapping it back to the original image is the caller's
// resize) and returns its name and the name of its maximum, shape [1]
// (ScoreMap's image score).
func (g Geometry) ExportScoreMap(b *onnx.Builder, grid string, h, w int, sigma float64) (string, string) {
	return ExportMapOutput(b, ExportUpSmooth(b, grid, h, w, g.Side(), sigma, 1, "map"), g.Side())
}

// ExportUpSmooth writes, for grid (h·w values), the s×s map that
// imageio.ResizeMap to s×s followed by imageio.GaussianSmooth with sigma
// gives, times scale: one matrix product per axis (the resize and
// smoothing matrices of package imageio, multiplied here in float64). It
// returns the name of the [s,s] result; tensor names start with prefix.
func ExportUpSmooth(b *onnx.Builder, grid string, h, w, s int, sigma, scale float64, prefix string) string {
	return ExportSmoothAxes(b, grid, imageio.ResizeMatrix(h, s), imageio.ResizeMatrix(w, s), h, w, s, sigma, scale, prefix)
}

// ExportSmoothAxes writes, for grid (h·w values), the s×s map
// imageio.GaussianSmooth(ry · grid · rxᵀ, sigma) times scale, where ry
// (s×h) and rx (s×w) are row-major per-axis matrices such as a resize
// (ExportUpSmooth) or a crop: one matrix product per axis, the smoothing
// folded into ry and rx in float64. It returns the name of the [s,s]
// result; tensor names start with prefix.
func ExportSmoothAxes(b *onnx.Builder, grid string, ry, rx []float32, h, w, s int, sigma, scale float64, prefix string) string {
	gm := imageio.GaussianMatrix(s, sigma)
	axis := func(r []float32, n int, scale float64) []float32 {
		a := make([]float32, s*n)
		for i := 0; i < s; i++ {
			for j := 0; j < n; j++ {
				var v float64
				for k := 0; k < s; k++ {
					if gk := gm[i*s+k]; gk != 0 {
						v += gk * float64(r[k*n+j])
					}
				}
				a[i*n+j] = float32(v * scale)
			}
		}
		return a
	}
	ay, ax := axis(ry, h, scale), axis(rx, w, 1)
	b.Initializer(prefix+"/rows", []int{s, h}, ay)
	b.Initializer(prefix+"/cols", []int{w, s}, TransposeMatrix(ax, s, w))
	b.InitializerInt64(prefix+"/hw", []int{2}, []int64{int64(h), int64(w)})
	b.Node("Reshape", prefix+"/grid", []string{grid, prefix + "/hw"}, []string{prefix + "/grid"})
	b.Node("MatMul", prefix+"/up_rows", []string{prefix + "/rows", prefix + "/grid"}, []string{prefix + "/sy"})
	b.Node("MatMul", prefix+"/up_cols", []string{prefix + "/sy", prefix + "/cols"}, []string{prefix + "/syx"})
	return prefix + "/syx"
}

// ExportAxes writes, for x [1,c,H,W], the [1,c,h,w] result of ry · X ·
// rxᵀ on every plane X, with ry (h×H) and rx (w×W) row-major per-axis
// matrices such as a resize or a blur: the columns by a matrix product,
// then the rows by one on the transposed planes. It returns the output
// name; tensor names start with pre.
func ExportAxes(b *onnx.Builder, x string, ry, rx []float32, H, W, h, w int, pre string) string {
	b.Initializer(pre+"/cols", []int{W, w}, TransposeMatrix(rx, w, W))
	b.Initializer(pre+"/rows", []int{H, h}, TransposeMatrix(ry, h, H))
	b.Node("MatMul", pre+"/x", []string{x, pre + "/cols"}, []string{pre + "/x"})
	b.Node("Transpose", pre+"/t", []string{pre + "/x"}, []string{pre + "/t"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	b.Node("MatMul", pre+"/y", []string{pre + "/t", pre + "/rows"}, []string{pre + "/y"})
	b.Node("Transpose", pre, []string{pre + "/y"}, []string{pre}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	return pre
}

// TransposeMatrix returns the c×r transpose of the row-major r×c matrix m.
func TransposeMatrix(m []float32, r, c int) []float32 {
	t := make([]float32, len(m))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = m[i*c+j]
		}
	}
	return t
}

// ExportPatchGrid writes the p×p patches of x ([1,c,h,w]) at the origins
// ys × xs, each as c·p² channels (channel ch·p² + dy·p + dx reads
// x[ch, y0+dy, x0+dx]) plus bias (c·p² values, or nil), and returns the
// name of the [1, c·p², len(xs), len(ys)] result (columns before rows):
// a convolution with one-hot weights at every offset, then the origins
// kept by one-hot matrix products, columns then rows on the transposed
// planes. Tensor names start with pre.
func ExportPatchGrid(b *onnx.Builder, x string, c, h, w, p int, ys, xs []int, bias []float32, pre string) string {
	pp := p * p
	D := c * pp
	id := make([]float32, D*c*pp)
	for ch := 0; ch < c; ch++ {
		for k := 0; k < pp; k++ {
			o := ch*pp + k
			id[(o*c+ch)*pp+k] = 1
		}
	}
	in := []string{x, pre + "/patch_w"}
	b.Initializer(pre+"/patch_w", []int{D, c, p, p}, id)
	if bias != nil {
		b.Initializer(pre+"/patch_b", []int{D}, bias)
		in = append(in, pre+"/patch_b")
	}
	b.Node("Conv", pre+"/patches", in, []string{pre + "/patches"}, onnx.IntsAttr("kernel_shape", int64(p), int64(p)))
	onehot := func(n int, at []int) []float32 {
		m := make([]float32, n*len(at))
		for j, o := range at {
			m[o*len(at)+j] = 1
		}
		return m
	}
	b.Initializer(pre+"/sel_x", []int{w - p + 1, len(xs)}, onehot(w-p+1, xs))
	b.Initializer(pre+"/sel_y", []int{h - p + 1, len(ys)}, onehot(h-p+1, ys))
	b.Node("MatMul", pre+"/px", []string{pre + "/patches", pre + "/sel_x"}, []string{pre + "/px"})
	b.Node("Transpose", pre+"/pxt", []string{pre + "/px"}, []string{pre + "/pxt"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	b.Node("MatMul", pre+"/grid", []string{pre + "/pxt", pre + "/sel_y"}, []string{pre + "/grid"})
	return pre + "/grid"
}

// ExportChannels writes the conversion of the exported input x ([1,3,·,·]
// RGB; a grey image replicated) to a model's channels: luminance
// (imageio.ToGray's weights) when gray, the first plane for a model
// fitted on grey images (channels 1), x itself for colour (channels 3).
// It returns the converted tensor's name; names start with prefix.
func ExportChannels(b *onnx.Builder, x string, gray bool, channels int, prefix string) (string, error) {
	var w []float32
	switch {
	case gray:
		w = []float32{0.299, 0.587, 0.114}
	case channels == 1:
		w = []float32{1, 0, 0}
	case channels == 3:
		return x, nil
	default:
		return "", fmt.Errorf("model has %d channels, want 1 or 3", channels)
	}
	out := prefix + "/channels"
	b.Initializer(out+"_w", []int{1, 3, 1, 1}, w)
	b.Node("Conv", out, []string{x, out + "_w"}, []string{out}, onnx.IntsAttr("kernel_shape", 1, 1))
	return out, nil
}

// ExportMapOutput declares m (s×s values) as the graph output "map"
// [1,1,s,s] and writes its maximum, shape [1]; it returns both names.
func ExportMapOutput(b *onnx.Builder, m string, s int) (string, string) {
	b.InitializerInt64("map/shape", []int{4}, []int64{1, 1, int64(s), int64(s)})
	b.InitializerInt64("map/one", []int{1}, []int64{1})
	b.Node("Reshape", "map", []string{m, "map/shape"}, []string{"map"})
	b.Node("ReduceMax", "map/max", []string{"map"}, []string{"map/max0"}, onnx.IntAttr("keepdims", 0))
	b.Node("Reshape", "map/max1", []string{"map/max0", "map/one"}, []string{"map/max"})
	b.Output("map", 1, 1, s, s)
	return "map", "map/max"
}

// ExportMetadata documents, as ONNX metadata_props, how to prepare an
// exported detector's input and read its outputs.
func (g Geometry) ExportMetadata() []onnx.MetadataProp {
	s := g.Side()
	crop := "no crop"
	back := fmt.Sprintf("resize map (%dx%d) to the original image size, bilinear", s, s)
	if g.Crop > 0 && g.Crop != g.Size {
		crop = fmt.Sprintf("then the centre %dx%d window (when the margin is odd the extra pixel is dropped at the bottom/right)", g.Crop, g.Crop)
		back = fmt.Sprintf("place map at the centre of a %dx%d map filled with map's minimum, then resize that to the original image size, bilinear", g.Size, g.Size)
	}
	return []onnx.MetadataProp{
		{Key: "vigil.input", Value: fmt.Sprintf("%s: float32 [1,3,%d,%d], NCHW, RGB values in [0,1] (8-bit samples / 255, 16-bit / 65535; a grey image is replicated to 3 channels); normalisation (a backbone's, or the conversion to the model's channels) is inside the graph", ExportInput, s, s)},
		{Key: "vigil.preprocess", Value: fmt.Sprintf("resize the whole image to %dx%d (aspect ratio not kept) with Vigil's resampler: a triangle filter per axis, widened by the reduction factor when shrinking (antialiased, like PIL's bilinear resize), plain bilinear with half-pixel centres when enlarging; %s", g.Size, g.Size, crop)},
		{Key: "vigil.outputs", Value: fmt.Sprintf("score: float32 [1], the image anomaly score (higher is more anomalous); map: float32 [1,1,%d,%d], the anomaly map of the prepared input; %s", s, s, back)},
		{Key: "vigil.geometry", Value: fmt.Sprintf(`{"size":%d,"crop":%d,"aspect":"stretch"}`, g.Size, g.Crop)},
	}
}

// ExportScoreMetadata is ExportMetadata for a graph whose only output is
// the image score (methods without maps), described by what.
func (g Geometry) ExportScoreMetadata(what string) []onnx.MetadataProp {
	meta := g.ExportMetadata()
	for i, m := range meta {
		if m.Key == "vigil.outputs" {
			meta[i].Value = "score: float32 [1], the image anomaly score (higher is more anomalous): " + what + "; no map (the method scores whole images)"
		}
	}
	return meta
}
