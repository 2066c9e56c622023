package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// The exported −log p(x), run by onnx.Executor, equals GMM.Score for full
// and diagonal mixtures, on rows near the components and far from all of
// them (where the log-sum-exp's shift matters).
func TestGMMExportScore(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const d, n = 3, 300
	x := make([]float32, n*d)
	for i := 0; i < n; i++ {
		c := float64(i % 3 * 4)
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(c + r.NormFloat64()*(1+0.5*float64(j)))
		}
	}
	q := make([]float32, 0, 40*d) // queries: training rows and far outliers
	q = append(q, x[:30*d]...)
	for i := 0; i < 10; i++ {
		for j := 0; j < d; j++ {
			q = append(q, float32(r.NormFloat64()*30))
		}
	}
	nq := len(q) / d
	for _, diag := range []bool{false, true} {
		g, err := FitGMM(x, n, d, GMMConfig{Components: 3, Diag: diag, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		b := onnx.NewBuilder("gmm")
		b.Input("x", nq, d)
		out := g.ExportScore(b, "x", nq, "gmm")
		b.Output(out, nq, 1)
		res, err := onnx.RunEncoded(b.Model(), map[string]*tensor.Tensor{"x": tensor.From(q, nq, d)})
		if err != nil {
			t.Fatal(err)
		}
		want := g.Score(nil, q, nq)
		got := res[out]
		if len(got.Data) != nq {
			t.Fatalf("diag %v: %d scores for %d rows", diag, len(got.Data), nq)
		}
		worst := 0.0
		for i, w := range want {
			rel := math.Abs(float64(got.Data[i])-w) / math.Max(math.Abs(w), 1)
			worst = max(worst, rel)
		}
		if worst > 1e-5 {
			t.Errorf("diag %v: max relative difference %.3g", diag, worst)
		}
		if !(want[nq-1] > want[0]+10) {
			t.Errorf("diag %v: an outlier scores %g, a training row %g: the test rows do not span the range", diag, want[nq-1], want[0])
		}
		t.Logf("diag %v: max relative difference %.3g over %d rows (scores %.3g .. %.3g)", diag, worst, nq, want[0], want[nq-1])
	}
}
