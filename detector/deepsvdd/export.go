package deepsvdd

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/svdd"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph (detector.Exporter)
// for the Size×Size working image: the pixels as Pixels prepares them
// (svdd.ExportPixels: the model's channels, gcn), the bias-free encoder
// (per block a 5×5 Conv, BatchNormalization with gamma 1 and beta 0 and
// the running statistics, LeakyRelu, 2×2 MaxPool; then Flatten and the
// linear map as Gemm) and the score ‖φ(x) − c‖² − R² (R = 0 for
// one-class). Deep SVDD has no anomaly map, so the graph has only the
// "score" output.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.enc == nil {
		return nil, fmt.Errorf("deepsvdd: model is not fitted")
	}
	cfg := d.cfg
	S := cfg.Size
	b := onnx.NewBuilder("vigil-deepsvdd")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := svdd.ExportPixels(b, embedding.ExportInput, cfg.Channels, cfg.Norm, "deepsvdd")
	if err != nil {
		return nil, fmt.Errorf("deepsvdd export: %w", err)
	}
	z := d.enc.exportONNX(b, x, "deepsvdd/enc")
	// Score: Σ (z − c)² − R², shape [1].
	p := "deepsvdd/score"
	b.Initializer(p+"/center", []int{1, len(d.c)}, d.c)
	b.InitializerInt64(p+"/axis1", []int{1}, []int64{1})
	r2 := float32(float64(d.r) * float64(d.r))
	b.Initializer(p+"/r2", []int{1}, []float32{r2})
	b.Node("Sub", p+"/diff", []string{z, p + "/center"}, []string{p + "/diff"})
	b.Node("Mul", p+"/diff2", []string{p + "/diff", p + "/diff"}, []string{p + "/diff2"})
	b.Node("ReduceSum", p+"/dist2", []string{p + "/diff2", p + "/axis1"}, []string{p + "/dist2"}, onnx.IntAttr("keepdims", 0))
	b.Node("Sub", detector.ExportScore, []string{p + "/dist2", p + "/r2"}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportScoreMetadata("‖φ(x) − c‖² − R², the squared distance of the network's output to the centre, minus R² (soft-boundary; R = 0 for one-class)")
	return om, nil
}

// exportONNX writes Forward in evaluation mode into b for x [1,In,S,S]
// and returns the name of the [1,Rep] output; names start with prefix.
func (e *Encoder) exportONNX(b *onnx.Builder, x, prefix string) string {
	for i, blk := range e.blocks {
		p := fmt.Sprintf("%s/block%d", prefix, i)
		w := blk.conv.Weight.Value
		o := blk.conv.Opt
		b.Initializer(p+"/conv.weight", w.Shape, w.Data)
		b.Node("Conv", p+"/conv", []string{x, p + "/conv.weight"}, []string{p + "/conv"},
			onnx.IntsAttr("kernel_shape", int64(w.Shape[2]), int64(w.Shape[3])),
			onnx.IntsAttr("pads", int64(o.PadT), int64(o.PadL), int64(o.PadB), int64(o.PadR)))
		c := w.Shape[0]
		b.Initializer(p+"/bn.gamma", []int{c}, blk.bn.gamma.Value.Data)
		b.Initializer(p+"/bn.beta", []int{c}, blk.bn.beta.Value.Data)
		b.Initializer(p+"/bn.running_mean", []int{c}, blk.bn.runMean.Data)
		b.Initializer(p+"/bn.running_var", []int{c}, blk.bn.runVar.Data)
		b.Node("BatchNormalization", p+"/bn",
			[]string{p + "/conv", p + "/bn.gamma", p + "/bn.beta", p + "/bn.running_mean", p + "/bn.running_var"},
			[]string{p + "/bn"}, onnx.FloatAttr("epsilon", bnEps))
		b.Node("LeakyRelu", p+"/act", []string{p + "/bn"}, []string{p + "/act"}, onnx.FloatAttr("alpha", slope))
		b.Node("MaxPool", p+"/pool", []string{p + "/act"}, []string{p + "/pool"},
			onnx.IntsAttr("kernel_shape", int64(pool2.KH), int64(pool2.KW)),
			onnx.IntsAttr("strides", int64(pool2.StrideH), int64(pool2.StrideW)))
		x = p + "/pool"
	}
	fw := e.fc.Weight.Value // [Rep, in]
	b.Node("Flatten", prefix+"/flat", []string{x}, []string{prefix + "/flat"}, onnx.IntAttr("axis", 1))
	b.Initializer(prefix+"/fc.weight", fw.Shape, fw.Data)
	b.Node("Gemm", prefix+"/fc", []string{prefix + "/flat", prefix + "/fc.weight"}, []string{prefix + "/fc"}, onnx.IntAttr("transB", 1))
	return prefix + "/fc"
}
