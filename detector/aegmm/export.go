package aegmm

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter) for the Size×Size working image: the autoencoder's
// input and mirrored padding (ae.ExportPadded) and encoder; the code
// locations inside the image (one-hot matrix products), averaged over the
// pool window (AveragePool, padding excluded, as boxMean); the mixture's
// negative log-likelihood of every code (stats.GMM.ExportScore); and the
// upsampling by the stride, the crop to the image and the smoothing as one
// matrix product per axis. The image score is the map's maximum (score
// topk, size 0 and sizes too small for the margin are refused).
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.gmm == nil || d.ae.Net() == nil {
		return nil, fmt.Errorf("aegmm export: model is not fitted")
	}
	a := d.ae.Settings()
	if a.Score != "max" {
		return nil, fmt.Errorf("aegmm export: score %q is not exportable (max is)", a.Score)
	}
	b, padded, err := d.ae.ExportPadded("vigil-aegmm")
	if err != nil {
		return nil, err
	}
	code, err := d.ae.Net().ExportEncoder(b, padded, "ae/")
	if err != nil {
		return nil, err
	}
	S, s, l := a.Size, a.Stride, a.Latent
	g := d.ae.PaddedSide() / s   // code grid side
	off := d.ae.Margin() / s     // the margin is whole code cells
	hc := (S + s - 1) / s        // code cells over the image
	sel := make([]float32, g*hc) // [g,hc]: column j picks cell off+j
	for j := 0; j < hc; j++ {
		sel[(off+j)*hc+j] = 1
	}
	b.Initializer("aegmm/sel", []int{g, hc}, sel)
	b.Node("MatMul", "aegmm/code_x", []string{code, "aegmm/sel"}, []string{"aegmm/code_x"})
	b.Node("Transpose", "aegmm/code_xt", []string{"aegmm/code_x"}, []string{"aegmm/code_xt"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	b.Node("MatMul", "aegmm/code_yt", []string{"aegmm/code_xt", "aegmm/sel"}, []string{"aegmm/code_yt"})
	b.Node("Transpose", "aegmm/codes", []string{"aegmm/code_yt"}, []string{"aegmm/codes"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	x := embedding.ExportAggregate(b, "aegmm/codes", d.cfg.Pool, "aegmm/codes")
	rows := embedding.ExportRows(b, x, l, hc, hc, "aegmm/rows")
	nll := d.gmm.ExportScore(b, rows, hc*hc, "aegmm/gmm")
	// Upsampled by the stride (cell centres at half-pixel positions), the
	// first S rows and columns kept, as Score's ResizeMap and Crop.
	up := imageio.ResizeMatrix(hc, hc*s)[:S*hc]
	m := embedding.ExportSmoothAxes(b, nll, up, up, hc, hc, S, a.Smooth, 1, "aegmm/map")
	_, score := embedding.ExportMapOutput(b, m, S)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = d.ae.ExportMetadata("the negative log-likelihood of the autoencoder's code under the Gaussian mixture, upsampled from the code grid")
	return om, nil
}
