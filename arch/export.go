package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

// ExportONNX builds the inference graph of m (evaluation mode: running
// batch-norm statistics folded into the convolutions) with torchvision-style
// names. Input "input" is [N,3,H,W] with dynamic N, H, W; outputs are
// "logits" [N,numClasses] and the taps "layer1".."layer4" (which an
// onnx.Executor can also request as intermediate tensors).
func (m *ResNet18) ExportONNX() *onnx.Model {
	stages := make([][]exportBlock, len(m.Layers))
	for li := range m.Layers {
		for _, blk := range m.Layers[li] {
			stages[li] = append(stages[li], exportBlock{
				convs: []*nn.Conv2dLayer{blk.Conv1, blk.Conv2}, bns: []*nn.BatchNorm2dLayer{blk.BN1, blk.BN2},
				down: blk.DownConv, downBN: blk.DownBN})
		}
	}
	return exportResNet("resnet18", m.Conv1, m.BN1, stages, m.FC, FeatureChannels)
}

// exportBlock is one residual block for export: its main-branch
// convolutions in order (each with its batch norm; a ReLU after each but
// the last) and the optional projection of the identity.
type exportBlock struct {
	convs  []*nn.Conv2dLayer
	bns    []*nn.BatchNorm2dLayer
	down   *nn.Conv2dLayer
	downBN *nn.BatchNorm2dLayer
}

// exportResNet emits a ResNet's inference graph with torchvision-style
// names: the stem, the residual stages (each block's sum followed by a
// ReLU; each stage's last output named "layerN" as a tap), and the
// classifier head. channels are the stages' output channel counts.
func exportResNet(name string, conv1 *nn.Conv2dLayer, bn1 *nn.BatchNorm2dLayer, stages [][]exportBlock, fc *nn.LinearLayer, channels []int) *onnx.Model {
	b := onnx.NewBuilder(name)
	b.Input("input", -1, 3, -1, -1)
	x := exportConvBN(b, "input", "conv1", conv1, bn1, true)
	b.Node("MaxPool", "/maxpool/MaxPool", []string{x}, []string{"maxpool"},
		onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 1, 1, 1, 1))
	x = exportStages(b, "maxpool", "", stages)
	b.Node("GlobalAveragePool", "/avgpool/GlobalAveragePool", []string{x}, []string{"avgpool"})
	b.Node("Flatten", "/Flatten", []string{"avgpool"}, []string{"flatten"}, onnx.IntAttr("axis", 1))
	fw, fb := fc.Weight.Value, fc.Bias.Value
	b.Initializer("fc.weight", fw.Shape, fw.Data)
	b.Initializer("fc.bias", fb.Shape, fb.Data)
	b.Node("Gemm", "/fc/Gemm", []string{"flatten", "fc.weight", "fc.bias"}, []string{"logits"},
		onnx.FloatAttr("alpha", 1), onnx.FloatAttr("beta", 1), onnx.IntAttr("transB", 1))
	b.Output("logits", -1, fw.Shape[0])
	for i := range channels {
		b.Output(fmt.Sprintf("layer%d", i+1), -1, channels[i], -1, -1)
	}
	return b.Model()
}

// exportStages emits residual stages reading x (each block's sum
// followed by a ReLU) with torchvision-style names after prefix: block
// "<prefix>layer<s>.<b>", each stage's last output "<prefix>layer<s>" (a
// tap). It returns the last stage's output.
func exportStages(b *onnx.Builder, x, prefix string, stages [][]exportBlock) string {
	for li, stage := range stages {
		for bi, blk := range stage {
			pre := fmt.Sprintf("%slayer%d.%d", prefix, li+1, bi)
			y := x
			for ci, c := range blk.convs {
				y = exportConvBN(b, y, fmt.Sprintf("%s.conv%d", pre, ci+1), c, blk.bns[ci], ci < len(blk.convs)-1)
			}
			id := x
			if blk.down != nil {
				id = exportConvBN(b, x, pre+".downsample.0", blk.down, blk.downBN, false)
			}
			sum := "/" + pre + "/Add"
			b.Node("Add", sum, []string{y, id}, []string{sum + "_output_0"})
			relu := fmt.Sprintf("/%s/Relu_%d", pre, len(blk.convs)-1)
			out := relu + "_output_0"
			if bi == len(stage)-1 {
				out = fmt.Sprintf("%slayer%d", prefix, li+1) // tap name
			}
			b.Node("Relu", relu, []string{sum + "_output_0"}, []string{out})
			x = out
		}
	}
	return x
}

// exportConvBN emits one Conv node with the batch norm folded in (and a
// Relu node when relu) and returns the output tensor name.
func exportConvBN(b *onnx.Builder, in, name string, c *nn.Conv2dLayer, bn *nn.BatchNorm2dLayer, relu bool) string {
	w, bias := foldBN(c, bn)
	return exportConv(b, in, name, w, bias, c.Opt, relu)
}

// exportConv emits one Conv node with weight w, bias and the geometry of
// p (and a Relu node when relu) and returns the output tensor name.
func exportConv(b *onnx.Builder, in, name string, w, bias *tensor.Tensor, p ops.Conv2D, relu bool) string {
	k := int64(w.Shape[2])
	node := "/" + name + "/Conv"
	out := node + "_output_0"
	b.Node("Conv", node, weightInputs(b, in, name, w, bias), []string{out},
		onnx.IntsAttr("kernel_shape", k, int64(w.Shape[3])),
		onnx.IntsAttr("strides", int64(max(p.StrideH, 1)), int64(max(p.StrideW, 1))),
		onnx.IntsAttr("pads", int64(p.PadT), int64(p.PadL), int64(p.PadB), int64(p.PadR)),
		onnx.IntsAttr("dilations", int64(max(p.DilH, 1)), int64(max(p.DilW, 1))),
		onnx.IntAttr("group", int64(max(p.Groups, 1))))
	return exportRelu(b, out, name, relu)
}

// weightInputs adds a layer's weight and optional bias as initializers
// and returns the node's inputs: in, the weight, the bias if any.
func weightInputs(b *onnx.Builder, in, name string, w, bias *tensor.Tensor) []string {
	inputs := []string{in, name + ".weight"}
	b.Initializer(name+".weight", w.Shape, w.Data)
	if bias != nil {
		b.Initializer(name+".bias", bias.Shape, bias.Data)
		inputs = append(inputs, name+".bias")
	}
	return inputs
}

// exportRelu emits a Relu node after layer name's output out when relu,
// and returns the name of the layer's final output.
func exportRelu(b *onnx.Builder, out, name string, relu bool) string {
	if !relu {
		return out
	}
	r := "/" + name + "/Relu_output_0"
	b.Node("Relu", "/"+name+"/Relu", []string{out}, []string{r})
	return r
}
