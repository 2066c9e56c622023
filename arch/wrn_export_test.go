package arch

import (
	"testing"

	"github.com/vigil-ad/vigil/onnx"
)

// The exported WRN, run by onnx.Executor, gives Forward in evaluation
// mode, with the batch norms' running statistics and affine parameters
// set away from their defaults so the folding is exercised; a 3-channel
// WRN-10-1 and a 1-channel WRN-16-1 (two blocks per stage).
func TestWRNExportMatchesForward(t *testing.T) {
	for _, s := range []struct{ in, depth, widen int }{{3, 10, 1}, {1, 16, 1}} {
		m, err := NewWRN(s.in, s.depth, s.widen, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		offDefaults(m.Params(), m.Buffers())
		m.Train(false)
		d, scale := exportMatchesForward(t, m.Forward, randInput(4, 2, s.in, 8, 8), func(b *onnx.Builder, x string) string {
			return m.ExportONNX(b, x, "wrn/")
		}, 2, 5)
		if d > 1e-5 {
			t.Errorf("%+v: max abs diff %g", s, d)
		}
		t.Logf("%+v: max abs diff %.3g (logits up to %.3g)", s, d, scale)
	}
}
