package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// The exported 1 − SSIM map, run by onnx.Executor, equals SSIMMap's
// channel mean on 2-channel images partly alike (flat, textured and
// differing regions).
func TestExportSSIMMap(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const c, h, w = 2, 17, 23
	x, y := tensor.New(1, c, h, w), tensor.New(1, c, h, w)
	for i := range x.Data {
		col := i % w
		x.Data[i] = 0.5
		if col > 5 {
			x.Data[i] = r.Float32()
		}
		y.Data[i] = x.Data[i]
		if col > 14 {
			y.Data[i] = r.Float32()
		}
	}
	b := onnx.NewBuilder("ssim")
	b.Input("x", 1, c, h, w)
	b.Input("y", 1, c, h, w)
	out := ExportSSIMMap(b, "x", "y", c, h, w, "ssim")
	b.Output(out, 1, 1, h, w)
	res, err := onnx.RunEncoded(b.Model(), map[string]*tensor.Tensor{"x": x, "y": y})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, h*w)
	for i, v := range SSIMMap(x, y).Data {
		want[i%(h*w)] += (1 - float64(v)) / c
	}
	got := res[out]
	d, hi, lo := 0.0, 0.0, math.Inf(1)
	for i, v := range want {
		d = max(d, math.Abs(float64(got.Data[i])-v))
		hi, lo = max(hi, v), min(lo, v)
	}
	if d > 1e-5 || len(got.Data) != h*w {
		t.Fatalf("max abs diff %g (map %g..%g), %d values", d, lo, hi, len(got.Data))
	}
	if hi < 0.3 || lo > 1e-3 {
		t.Fatalf("map spans %g..%g: the images do not exercise similar and dissimilar regions", lo, hi)
	}
	t.Logf("max abs diff %.3g, map %.3g..%.3g", d, lo, hi)
}
