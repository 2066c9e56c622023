package ae

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph (detector.Exporter)
// for the Size×Size working image: the input converted to the model's
// channels, mirrored (Pad, mode reflect) by Margin on every side and
// further on the bottom and right to a multiple of the stride, as Padded
// does; the autoencoder (arch.FCAE.ExportONNX); the weighted sum of the
// loss's criteria, each averaged over channels: l2, the squared residual
// (blurred per plane first when blur is set), ssim (nn.ExportSSIMMap) and
// msgms (nn.ExportMSGMSMap); and the crop back to the image and the
// Gaussian smoothing as one matrix product per axis. The image score is
// the map's maximum. Refused by name: score topk, the criteria msssim and
// cwssim, native-size models (size 0), and sizes too small for the
// mirrored margin (ONNX reflect padding must be narrower than the image).
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	b, padded, err := d.ExportPadded("vigil-ae")
	if err != nil {
		return nil, err
	}
	cfg := d.cfg
	if cfg.Score != "max" {
		return nil, fmt.Errorf("ae export: score %q is not exportable (max is)", cfg.Score)
	}
	for _, t := range d.loss {
		switch {
		case t.name != "l2" && t.name != "msgms" && t.name != "ssim":
			return nil, fmt.Errorf("ae export: loss %q: criterion %s is not exportable (l2, ssim and msgms are)", cfg.Loss, t.name)
		}
	}
	_, recon, err := d.net.ExportONNX(b, padded, "ae/")
	if err != nil {
		return nil, err
	}
	P := d.PaddedSide()
	var sum string
	for i, t := range d.loss {
		pre := fmt.Sprintf("ae/term%d_%s", i, t.name)
		var m string // [1,1,P,P]: the criterion's channel mean
		if t.name == "l2" {
			res := pre + "/residual"
			b.Node("Sub", res, []string{recon, padded}, []string{res})
			if cfg.Blur > 0 {
				// blurredSquaredResidual: each plane's residual smoothed
				// (GaussianSmooth as a matrix per axis) before squaring.
				g := imageio.GaussianMatrix(P, cfg.Blur)
				g32 := make([]float32, len(g))
				for i, v := range g {
					g32[i] = float32(v)
				}
				res = embedding.ExportAxes(b, res, g32, g32, P, P, P, P, pre+"/blur")
			}
			b.Node("Mul", pre+"/residual2", []string{res, res}, []string{pre + "/residual2"})
			b.Node("ReduceMean", pre+"/map", []string{pre + "/residual2"}, []string{pre + "/map"}, onnx.IntsAttr("axes", 1), onnx.IntAttr("keepdims", 1))
			m = pre + "/map"
		} else if t.name == "ssim" {
			m = nn.ExportSSIMMap(b, recon, padded, cfg.Channels, P, P, pre)
		} else {
			m = nn.ExportMSGMSMap(b, padded, recon, 1, 1, cfg.Channels, P, P, pre)
		}
		if t.weight != 1 {
			b.Initializer(pre+"/weight", nil, []float32{float32(t.weight)})
			b.Node("Mul", pre+"/weighted", []string{m, pre + "/weight"}, []string{pre + "/weighted"})
			m = pre + "/weighted"
		}
		if sum == "" {
			sum = m
		} else {
			b.Node("Add", pre+"/sum", []string{sum, m}, []string{pre + "/sum"})
			sum = pre + "/sum"
		}
	}
	m := d.exportCropSmooth(b, sum, 1, "ae/map")
	_, score := embedding.ExportMapOutput(b, m, cfg.Size)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = d.ExportMetadata(fmt.Sprintf("the reconstruction error (%s)", cfg.Loss))
	return om, nil
}

// ExportPadded starts an exported graph called name for the Size×Size
// working image: the input, its conversion to the model's channels and
// the mirrored padding of Padded. It returns the builder and the name of
// the padded input, [1,C,P,P] with P = PaddedSide, for the network
// (Net().ExportONNX or ExportEncoder).
func (d *Detector) ExportPadded(name string) (b *onnx.Builder, padded string, err error) {
	if d.net == nil {
		return nil, "", fmt.Errorf("ae export: model is not fitted")
	}
	cfg := d.cfg
	S, m := cfg.Size, d.Margin()
	if S == 0 {
		return nil, "", fmt.Errorf("ae export: size 0 (native resolution) is not exportable: the graph needs a fixed input size")
	}
	end := d.PaddedSide() - S - m // bottom/right: the margin plus the round-up to the stride
	if end >= S {
		return nil, "", fmt.Errorf("ae export: size %d is too small for the mirrored margin of %d pixels (ONNX reflect padding must be narrower than the image)", S, end)
	}
	b = onnx.NewBuilder(name)
	b.Input(embedding.ExportInput, 1, 3, S, S)
	// Work converts any 3-channel input of a 1-channel model to luminance
	// (for a grey image replicated to 3 channels, that is the grey plane).
	x, err := embedding.ExportChannels(b, embedding.ExportInput, cfg.Gray || cfg.Channels == 1, cfg.Channels, "ae")
	if err != nil {
		return nil, "", fmt.Errorf("ae export: %w", err)
	}
	padded = "ae/padded"
	b.InitializerInt64(padded+"_pads", []int{8}, []int64{0, 0, int64(m), int64(m), 0, 0, int64(end), int64(end)})
	b.Node("Pad", padded, []string{x, padded + "_pads"}, []string{padded}, onnx.StringAttr("mode", "reflect"))
	return b, padded, nil
}

// PaddedSide is the side of Padded's tensor for the Size×Size working
// image: Size rounded up to the stride, plus the margin on both sides.
func (d *Detector) PaddedSide() int {
	s := d.cfg.Stride
	return (d.cfg.Size+s-1)/s*s + 2*d.Margin()
}

// exportCropSmooth writes Result's map for pix, a map (P·P values) of the
// padded input (P = PaddedSide): the Size×Size window at (Margin,
// Margin) as Crop takes it, Gaussian-smoothed with Smooth, times scale.
// It returns the name of the [Size,Size] result.
func (d *Detector) exportCropSmooth(b *onnx.Builder, pix string, scale float64, prefix string) string {
	S, P, m := d.cfg.Size, d.PaddedSide(), d.Margin()
	crop := make([]float32, S*P) // S×P: row i picks padded sample i+m
	for i := 0; i < S; i++ {
		crop[i*P+i+m] = 1
	}
	return embedding.ExportSmoothAxes(b, pix, crop, crop, P, P, S, d.cfg.Smooth, scale, prefix)
}

// ExportMetadata documents the exported graph's input and outputs as ONNX
// metadata_props; what names what the map measures.
func (d *Detector) ExportMetadata(what string) []onnx.MetadataProp {
	S := d.cfg.Size
	meta := embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportMetadata()
	for i, p := range meta {
		switch p.Key {
		case "vigil.preprocess":
			meta[i].Value = fmt.Sprintf("resize the image so that its longer side is %d with Vigil's resampler (a triangle filter per axis, widened by the reduction factor when shrinking, like PIL's bilinear resize; bilinear with half-pixel centres when enlarging); the graph takes the %dx%d working image, so it reproduces Vigil's scores exactly for square images; a non-square image, which Vigil scores at its own aspect ratio, must be resized to %dx%d (aspect not kept) and then scores differently", S, S, S, S, S)
		case "vigil.outputs":
			meta[i].Value = fmt.Sprintf("score: float32 [1], the image anomaly score (maximum of map; higher is more anomalous); map: float32 [1,1,%d,%d], %s per pixel of the working image, smoothed; resize map to the original image size, bilinear", S, S, what)
		}
	}
	return meta
}
