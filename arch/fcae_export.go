package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// ExportEncoder writes the encoder of m into b, reading x [N,In,H,W] (H
// and W multiples of Stride), and returns the name of the code tensor
// [N,Latent,H/Stride,W/Stride]. Tensor and node names start with prefix.
func (m *FCAE) ExportEncoder(b *onnx.Builder, x, prefix string) (string, error) {
	return exportLayers(b, m.Encoder.Layers, x, prefix+"enc")
}

// ExportONNX writes the whole forward pass of m (Forward) into b, reading
// x, and returns the names of the code and of the reconstruction
// [N,In,H,W]: Conv and ConvTranspose nodes with a Relu where the layer
// has one, and the final Sigmoid.
func (m *FCAE) ExportONNX(b *onnx.Builder, x, prefix string) (code, recon string, err error) {
	if code, err = m.ExportEncoder(b, x, prefix); err != nil {
		return "", "", err
	}
	dec := m.Decoder.Layers
	// NewFCAE ends the decoder with nn.Func(nn.Sigmoid), the one
	// parameter-free layer of the network.
	if _, ok := dec[len(dec)-1].(nn.Func); !ok {
		return "", "", fmt.Errorf("arch.FCAE export: the decoder does not end with its sigmoid")
	}
	y, err := exportLayers(b, dec[:len(dec)-1], code, prefix+"dec")
	if err != nil {
		return "", "", err
	}
	recon = prefix + "recon"
	b.Node("Sigmoid", "/"+prefix+"dec/Sigmoid", []string{y}, []string{recon})
	return code, recon, nil
}

// exportLayers emits the (transposed) convolutions of layers in order,
// named <prefix>.<i> as Tensors names them, and returns the last output.
func exportLayers(b *onnx.Builder, layers []nn.Module, x, prefix string) (string, error) {
	for i, l := range layers {
		name := fmt.Sprintf("%s.%d", prefix, i)
		switch c := l.(type) {
		case *nn.Conv2dLayer:
			relu, err := reluAct(c.Opt.Act, name)
			if err != nil {
				return "", err
			}
			x = exportConv(b, x, name, c.Weight.Value, paramValue(c.Bias), c.Opt, relu)
		case *nn.ConvTranspose2dLayer:
			relu, err := reluAct(c.Act, name)
			if err != nil {
				return "", err
			}
			x = exportConvT(b, x, name, c.Weight.Value, paramValue(c.Bias), c.Opt, relu)
		default:
			return "", fmt.Errorf("arch export: layer %s (%T) has no ONNX form", name, l)
		}
	}
	return x, nil
}

func paramValue(p *nn.Param) *tensor.Tensor {
	if p == nil {
		return nil
	}
	return p.Value
}

// reluAct reports whether act is ReLU; activations other than none and
// ReLU are refused (FCAE uses no others).
func reluAct(act ops.Act, name string) (bool, error) {
	switch act {
	case ops.ActNone:
		return false, nil
	case ops.ActReLU:
		return true, nil
	}
	return false, fmt.Errorf("arch export: layer %s: activation %v has no ONNX form here", name, act)
}

// exportConvT emits one ConvTranspose node (weight [Cin,Cout/G,kh,kw])
// with the geometry of p (and a Relu node when relu) and returns the
// output tensor name.
func exportConvT(b *onnx.Builder, in, name string, w, bias *tensor.Tensor, p ops.ConvT2D, relu bool) string {
	node := "/" + name + "/ConvTranspose"
	out := node + "_output_0"
	b.Node("ConvTranspose", node, weightInputs(b, in, name, w, bias), []string{out},
		onnx.IntsAttr("kernel_shape", int64(w.Shape[2]), int64(w.Shape[3])),
		onnx.IntsAttr("strides", int64(max(p.StrideH, 1)), int64(max(p.StrideW, 1))),
		onnx.IntsAttr("pads", int64(p.PadT), int64(p.PadL), int64(p.PadB), int64(p.PadR)),
		onnx.IntsAttr("output_padding", int64(p.OutPadH), int64(p.OutPadW)),
		onnx.IntsAttr("dilations", int64(max(p.DilH, 1)), int64(max(p.DilW, 1))),
		onnx.IntAttr("group", int64(max(p.Groups, 1))))
	return exportRelu(b, out, name, relu)
}
