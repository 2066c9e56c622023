package riad

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter) for the Size×Size working image. The scoring
// partitions are fixed by the seed, so the n masked inputs of every tile
// side k are the image times constant 0/1 masks: one Mul gives all
// len(Ks)·n inputs as a batch, the U-Net (arch.UNet.ExportONNX) inpaints
// them, a Mul by the hidden masks and a ReduceSum over each k's n items
// merge them, and nn.ExportMSGMSMap gives 1 − MSGMS averaged over the
// channels and the tile sides. The map is smoothed (one matrix product
// per axis) and the image score is its maximum, as Score.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.net == nil {
		return nil, fmt.Errorf("riad export: model is not fitted")
	}
	c := d.cfg
	S, C, n, K := c.Size, c.Channels, c.Masks, len(c.Ks)
	b := onnx.NewBuilder("vigil-riad")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := embedding.ExportChannels(b, embedding.ExportInput, c.Gray, C, "riad")
	if err != nil {
		return nil, fmt.Errorf("riad export: %w", err)
	}
	// Item ki·n + j: tile side Ks[ki], mask j; keep is 1 where it is visible.
	hw := S * S
	keep, hidden := make([]float32, K*n*hw), make([]float32, K*n*hw)
	for ki, k := range c.Ks {
		for p, o := range d.scoringPartition(S, S, k) {
			for j := 0; j < n; j++ {
				if int(o) == j {
					hidden[(ki*n+j)*hw+p] = 1
				} else {
					keep[(ki*n+j)*hw+p] = 1
				}
			}
		}
	}
	b.Initializer("riad/keep", []int{K * n, 1, S, S}, keep)
	b.Initializer("riad/hidden", []int{K * n, 1, S, S}, hidden)
	b.Node("Mul", "riad/inputs", []string{x, "riad/keep"}, []string{"riad/inputs"})
	out := d.net.ExportONNX(b, "riad/inputs", "unet/")
	b.InitializerInt64("riad/k_n_rest", []int{3}, []int64{int64(K), int64(n), int64(C * hw)})
	b.InitializerInt64("riad/k_c_s_s", []int{4}, []int64{int64(K), int64(C), int64(S), int64(S)})
	b.InitializerInt64("riad/axis1", []int{1}, []int64{1})
	b.Node("Mul", "riad/picked", []string{out, "riad/hidden"}, []string{"riad/picked"})
	b.Node("Reshape", "riad/picked_k", []string{"riad/picked", "riad/k_n_rest"}, []string{"riad/picked_k"})
	b.Node("ReduceSum", "riad/merged_flat", []string{"riad/picked_k", "riad/axis1"}, []string{"riad/merged_flat"}, onnx.IntAttr("keepdims", 0))
	b.Node("Reshape", "riad/merged", []string{"riad/merged_flat", "riad/k_c_s_s"}, []string{"riad/merged"})
	m := nn.ExportMSGMSMap(b, x, "riad/merged", 1, K, C, S, S, "riad/msgms")
	eye := make([]float32, hw) // the map is already at S×S: smoothing only
	for i := 0; i < S; i++ {
		eye[i*S+i] = 1
	}
	sm := embedding.ExportSmoothAxes(b, m, eye, eye, S, S, S, c.Smooth, 1, "riad/map")
	_, score := embedding.ExportMapOutput(b, sm, S)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportMetadata()
	return om, nil
}
