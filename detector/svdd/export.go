package svdd

import (
	"fmt"

	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

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
