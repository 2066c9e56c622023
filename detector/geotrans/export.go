package geotrans

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/stats"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph (detector.Exporter)
// for the side×side working image: the input converted to the model's
// channels and mapped to [−1,1]; the 72 transformed copies, each a row
// and a column permutation (one-hot matrix products, exact) of the image
// or of its transpose (the odd quarter turns), concatenated into a batch
// of 72; the wide ResNet (arch.WRN.ExportONNX, batch norm folded); the
// log-softmax (max-shifted, as ops.LogSoftmax); and the configured score:
// dirichlet, −Σₜ Σₖ (αₜₖ − 1)(log pₜₖ − mₜₖ) plus one constant (the
// log-Gamma terms and −Σ (αₜₖ − 1) mₜₖ, in float64), where mₜₖ = ψ(αₜₖ) −
// ψ(Σₖ αₜₖ) is E[log pₜₖ] under the Dirichlet: centred terms keep the
// float32 sum from cancelling against the constant (scores are in the
// tens of thousands for confident Dirichlets); or mean_prob, 1 − the mean
// of exp(log pₜₜ). Geometric
// transformations have no anomaly map, so the graph has only the "score"
// output.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.net == nil {
		return nil, fmt.Errorf("geotrans: model is not fitted")
	}
	S, c := d.side, d.cfg.Channels
	b := onnx.NewBuilder("vigil-geotrans")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	x, err := embedding.ExportChannels(b, embedding.ExportInput, c == 1, c, "geotrans")
	if err != nil {
		return nil, fmt.Errorf("geotrans export: %w", err)
	}
	// normalise: 2v − 1, before the permutations (which only move pixels).
	b.Initializer("geotrans/two", nil, []float32{2})
	b.Initializer("geotrans/one", nil, []float32{1})
	b.Node("Mul", "geotrans/x2", []string{x, "geotrans/two"}, []string{"geotrans/x2"})
	b.Node("Sub", "geotrans/in", []string{"geotrans/x2", "geotrans/one"}, []string{"geotrans/in"})
	b.Node("Transpose", "geotrans/in_t", []string{"geotrans/in"}, []string{"geotrans/in_t"}, onnx.IntsAttr("perm", 0, 1, 3, 2))
	copies := make([]string, NumTransforms)
	for t, g := range d.gathers {
		rows, cols, transposed, err := axisMaps(g, S)
		if err != nil {
			return nil, fmt.Errorf("geotrans export: transformation %d (%v): %w", t, Transforms()[t], err)
		}
		z := "geotrans/in"
		if transposed {
			z = "geotrans/in_t"
		}
		copies[t] = embedding.ExportAxes(b, z, oneHot(rows), oneHot(cols), S, S, S, S, fmt.Sprintf("geotrans/t%d", t))
	}
	b.Node("Concat", "geotrans/batch", copies, []string{"geotrans/batch"}, onnx.IntAttr("axis", 0))
	logits := d.net.ExportONNX(b, "geotrans/batch", "geotrans/wrn/") // [72,72]: row t, copy under transformation t
	lp := exportLogSoftmax(b, logits, "geotrans/logp")
	// score = Σₜₖ wₜₖ · fₜₖ + const, f = log p (dirichlet) or p (mean_prob).
	n := NumTransforms
	w := make([]float32, n*n)
	var cst float64
	what := ""
	f := lp
	if d.cfg.Score == "dirichlet" {
		what = "minus the summed log-likelihoods of the 72 softmax outputs under their transformations' Dirichlets"
		m := make([]float32, n*n)
		for t, dd := range d.dir {
			var a0 float64
			for _, a := range dd.Alpha {
				a0 += a
			}
			lg0, _ := math.Lgamma(a0)
			cst -= lg0
			for k, a := range dd.Alpha {
				w[t*n+k] = float32(-(a - 1))
				m[t*n+k] = float32(stats.Digamma(a) - stats.Digamma(a0))
				lg, _ := math.Lgamma(a)
				cst += lg - (a-1)*float64(m[t*n+k]) // with m as the graph holds it
			}
		}
		b.Initializer("geotrans/score/mean_logp", []int{n, n}, m)
		b.Node("Sub", "geotrans/score/centred", []string{lp, "geotrans/score/mean_logp"}, []string{"geotrans/score/centred"})
		f = "geotrans/score/centred"
	} else {
		what = "1 - the mean over the 72 transformations of the softmax probability of the transformation applied"
		for t := 0; t < n; t++ {
			w[t*n+t] = -1 / float32(n)
		}
		cst = 1
		b.Node("Exp", "geotrans/p", []string{lp}, []string{"geotrans/p"})
		f = "geotrans/p"
	}
	p := "geotrans/score"
	b.Initializer(p+"/weights", []int{n, n}, w)
	b.Initializer(p+"/const", []int{1}, []float32{float32(cst)})
	b.InitializerInt64(p+"/axis0", []int{1}, []int64{0})
	b.InitializerInt64(p+"/axis1", []int{1}, []int64{1})
	b.Node("Mul", p+"/terms", []string{f, p + "/weights"}, []string{p + "/terms"})
	// Per transformation first, then over transformations: shorter float32 sums.
	b.Node("ReduceSum", p+"/rows", []string{p + "/terms", p + "/axis1"}, []string{p + "/rows"}, onnx.IntAttr("keepdims", 0))
	b.Node("ReduceSum", p+"/sum", []string{p + "/rows", p + "/axis0"}, []string{p + "/sum"}, onnx.IntAttr("keepdims", 1))
	b.Node("Add", detector.ExportScore, []string{p + "/sum", p + "/const"}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = embedding.Geometry{Size: S, Aspect: embedding.AspectStretch}.ExportScoreMetadata(what)
	return om, nil
}

// axisMaps writes the gather table g of an s×s plane as per-axis
// permutations: out[y,x] = Z[rows[y], cols[x]] with Z the plane, or its
// transpose when transposed (flips and cyclic shifts act on each axis
// alone; a quarter turn swaps the axes).
func axisMaps(g []int32, s int) (rows, cols []int, transposed bool, err error) {
	rows, cols = make([]int, s), make([]int, s)
	for _, tr := range []bool{false, true} {
		ok := true
		for i := 0; i < s; i++ {
			r, c := int(g[i*s])/s, int(g[i])%s // plane row of out row i, plane column of out column i
			if tr {
				r, c = int(g[i*s])%s, int(g[i])/s
			}
			rows[i], cols[i] = r, c
		}
		for y := 0; y < s && ok; y++ {
			for x := 0; x < s; x++ {
				want := rows[y]*s + cols[x]
				if tr {
					want = cols[x]*s + rows[y]
				}
				if int(g[y*s+x]) != want {
					ok = false
					break
				}
			}
		}
		if ok {
			return rows, cols, tr, nil
		}
	}
	return nil, nil, false, fmt.Errorf("the gather is not a product of per-axis permutations")
}

// oneHot is the row-major len(m)×len(m) matrix with a 1 at (i, m[i]).
func oneHot(m []int) []float32 {
	n := len(m)
	a := make([]float32, n*n)
	for i, j := range m {
		a[i*n+j] = 1
	}
	return a
}

// exportLogSoftmax writes ops.LogSoftmax over axis 1 of the [n,k] tensor x:
// x − max − log Σ exp(x − max), and returns the output name.
func exportLogSoftmax(b *onnx.Builder, x, p string) string {
	b.InitializerInt64(p+"/axis1", []int{1}, []int64{1})
	b.Node("ReduceMax", p+"/max", []string{x}, []string{p + "/max"}, onnx.IntsAttr("axes", 1), onnx.IntAttr("keepdims", 1))
	b.Node("Sub", p+"/shift", []string{x, p + "/max"}, []string{p + "/shift"})
	b.Node("Exp", p+"/exp", []string{p + "/shift"}, []string{p + "/exp"})
	b.Node("ReduceSum", p+"/sum", []string{p + "/exp", p + "/axis1"}, []string{p + "/sum"}, onnx.IntAttr("keepdims", 1))
	b.Node("Log", p+"/log", []string{p + "/sum"}, []string{p + "/log"})
	b.Node("Sub", p, []string{p + "/shift", p + "/log"}, []string{p})
	return p
}
