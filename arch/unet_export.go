package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/ops"
)

// ExportONNX writes the inference graph of m (Forward in evaluation mode:
// batch norm's running statistics folded into the convolutions) into b,
// reading x [N,In,H,W] (H and W multiples of 2^Depth), and returns the
// name of the [N,Out,H,W] output. Tensor and node names start with prefix
// and follow Params' names ("enc.0.conv1", "up.0", ...).
func (m *UNet) ExportONNX(b *onnx.Builder, x, prefix string) string {
	block := func(blk *unetBlock, x, name string) string {
		for i, c := range blk.conv {
			cn := fmt.Sprintf("%s.conv%d", name, i+1)
			if blk.bn[i] != nil {
				x = exportConvBN(b, x, cn, c, blk.bn[i], true)
			} else {
				x = exportConv(b, x, cn, c.Weight.Value, paramValue(c.Bias), c.Opt, c.Opt.Act == ops.ActReLU)
			}
		}
		return x
	}
	skips := make([]string, len(m.enc))
	for i, blk := range m.enc {
		if i > 0 {
			pool := fmt.Sprintf("/%senc.%d/MaxPool", prefix, i)
			b.Node("MaxPool", pool, []string{x}, []string{pool + "_output_0"},
				onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2))
			x = pool + "_output_0"
		}
		x = block(blk, x, fmt.Sprintf("%senc.%d", prefix, i))
		skips[i] = x
	}
	for i := m.Spec.Depth - 1; i >= 0; i-- {
		up := m.up[i]
		name := fmt.Sprintf("%sup.%d", prefix, i)
		u := exportConvT(b, x, name, up.Weight.Value, paramValue(up.Bias), up.Opt, up.Act == ops.ActReLU)
		cat := "/" + name + "/Concat_output_0"
		b.Node("Concat", "/"+name+"/Concat", []string{u, skips[i]}, []string{cat}, onnx.IntAttr("axis", 1))
		x = block(m.dec[i], cat, fmt.Sprintf("%sdec.%d", prefix, i))
	}
	name := prefix + "out"
	y := exportConv(b, x, name, m.out.Weight.Value, paramValue(m.out.Bias), m.out.Opt, false)
	out := "/" + name + "/Sigmoid_output_0"
	b.Node("Sigmoid", "/"+name+"/Sigmoid", []string{y}, []string{out})
	return out
}
