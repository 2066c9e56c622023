package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// The exported MSGMS map, run by onnx.Executor, equals MSGMSMap averaged
// over the batch, with x broadcast over y's items and sides that are not
// powers of two (odd sizes at the coarse scales, dropped edges).
func TestExportMSGMSMap(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n, c, h, w = 3, 2, 20, 27
	x := tensor.New(1, c, h, w)
	y := tensor.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = r.Float32()
	}
	for i := range y.Data {
		// Items close to x in places, far in others: GMS spans its range.
		y.Data[i] = x.Data[i%len(x.Data)] + float32(i/len(x.Data))*0.2*(r.Float32()-0.5)
	}
	b := onnx.NewBuilder("msgms")
	b.Input("x", 1, c, h, w)
	b.Input("y", n, c, h, w)
	out := ExportMSGMSMap(b, "x", "y", 1, n, c, h, w, "gms")
	b.Output(out, 1, 1, h, w)
	res, err := onnx.RunEncoded(b.Model(), map[string]*tensor.Tensor{"x": x, "y": y})
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.New(1, 1, h, w)
	xs := tensor.New(n, c, h, w)
	for i := range xs.Data {
		xs.Data[i] = x.Data[i%len(x.Data)]
	}
	hi := 0.0
	for i, v := range MSGMSMap(xs, y).Data {
		want.Data[i%(h*w)] += v / n
		hi = max(hi, float64(v))
	}
	got := res[out]
	d := 0.0
	for i, v := range want.Data {
		d = max(d, math.Abs(float64(got.Data[i]-v)))
	}
	if d > 1e-5 || len(got.Data) != h*w {
		t.Fatalf("max abs diff %g (map up to %g), %d values", d, hi, len(got.Data))
	}
	if hi < 0.05 {
		t.Fatalf("map peaks at %g: the test images are too alike to test anything", hi)
	}
	t.Logf("max abs diff %.3g, map up to %.3g", d, hi)
}
