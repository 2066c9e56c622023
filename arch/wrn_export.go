package arch

import (
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

// ExportONNX writes m's forward pass in evaluation mode (running
// batch-norm statistics folded into the convolutions) into b, reading x
// [N,In,H,W], and returns the name of the logits [N,numClasses]: the stem
// Conv+Relu, the residual stages as ResNet18 exports them, global average
// pooling, Flatten and the classifier as Gemm. Names start with prefix.
func (m *WRN) ExportONNX(b *onnx.Builder, x, prefix string) string {
	stages := make([][]exportBlock, len(m.Stages))
	for s, st := range m.Stages {
		for _, blk := range st {
			stages[s] = append(stages[s], exportBlock{
				convs: []*nn.Conv2dLayer{blk.Conv1, blk.Conv2}, bns: []*nn.BatchNorm2dLayer{blk.BN1, blk.BN2},
				down: blk.DownConv, downBN: blk.DownBN})
		}
	}
	x = exportConvBN(b, x, prefix+"conv1", m.Conv1, m.BN1, true)
	x = exportStages(b, x, prefix, stages)
	pool, flat, logits := prefix+"avgpool", prefix+"flatten", prefix+"logits"
	b.Node("GlobalAveragePool", "/"+pool, []string{x}, []string{pool})
	b.Node("Flatten", "/"+flat, []string{pool}, []string{flat}, onnx.IntAttr("axis", 1))
	fw, fb := m.FC.Weight.Value, m.FC.Bias.Value
	b.Initializer(prefix+"fc.weight", fw.Shape, fw.Data)
	b.Initializer(prefix+"fc.bias", fb.Shape, fb.Data)
	b.Node("Gemm", "/"+prefix+"fc/Gemm", []string{flat, prefix + "fc.weight", prefix + "fc.bias"}, []string{logits}, onnx.IntAttr("transB", 1))
	return logits
}
