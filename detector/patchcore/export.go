package patchcore

import (
	"fmt"
	"slices"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph
// (detector.Exporter). Patch features as in patches: each tap's
// neighbourhood mean (AveragePool), bilinear upsampling, concatenation and
// the equal-weight tap pooling as a 1×1 convolution. The memory bank B is
// an initializer; squared distances are |x|² − 2xBᵀ + |b|² by one MatMul,
// and ReduceMin gives each patch's nearest-bank distance (the map, through
// embedding's map head). The paper's reweighting with float operators
// only: the patch with the largest score s* and its nearest bank row m*
// are one-hot masks (1 where a value equals the extreme, by a ReLU of a
// scaled difference: distinct float32 values differ by more than 2⁻²⁵ of
// the extreme), m*'s b nearest bank rows (a table computed here by the
// search Score uses) are picked by a one-hot matrix product, and the
// test patch's distances to them are read off its row of the distance
// matrix. On exact ties the masks average the tied candidates where Score
// takes the first. Search "ivf" is exported as the exact search.
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if d.bank == nil {
		return nil, fmt.Errorf("patchcore: not fitted")
	}
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return nil, err
	}
	b, tapNames, shapes, err := d.cfg.Geometry.ExportBackbone(ex, "vigil-patchcore")
	if err != nil {
		return nil, fmt.Errorf("patchcore export: %w", err)
	}
	taps := d.cfg.Taps
	if len(taps) == 0 {
		taps = []int{max(0, len(tapNames)-2), len(tapNames) - 1}
		if len(tapNames) == 1 {
			taps = []int{0}
		}
	}
	var parts []string
	var chans []int
	for _, t := range taps {
		if t < 0 || t >= len(tapNames) {
			return nil, fmt.Errorf("patchcore export: tap %d out of range: backbone has %d taps", t, len(tapNames))
		}
		name := fmt.Sprintf("patchcore/tap%d", t)
		x := embedding.ExportAggregate(b, tapNames[t], d.cfg.Neighbour, name)
		parts = append(parts, embedding.ExportResize(b, x, shapes[t], d.h, d.w, name))
		chans = append(chans, shapes[t][1])
	}
	x := parts[0]
	if len(parts) > 1 {
		x = "patchcore/features"
		b.Node("Concat", x, parts, []string{x}, onnx.IntAttr("axis", 1))
	}
	in := 0
	for _, c := range chans {
		in += c
	}
	dim := in
	if d.cfg.TapWeight != "channels" {
		dim = len(chans) * slices.Max(chans)
		p := layerPooling(chans, dim) // in×dim
		w := make([]float32, dim*in)
		for a := 0; a < in; a++ {
			for o := 0; o < dim; o++ {
				w[o*in+a] = p[a*dim+o]
			}
		}
		b.Initializer("patchcore/pool_w", []int{dim, in, 1, 1}, w)
		b.Node("Conv", "patchcore/pool", []string{x, "patchcore/pool_w"}, []string{"patchcore/pooled"}, onnx.IntsAttr("kernel_shape", 1, 1))
		x = "patchcore/pooled"
	}
	if dim != d.dim {
		return nil, fmt.Errorf("patchcore export: backbone features are %d-d, the bank's %d-d", dim, d.dim)
	}
	M := d.bank.N
	rows := embedding.ExportRows(b, x, dim, d.h, d.w, "patchcore/x") // [L,dim]

	// Bank as −2Bᵀ [dim,M] and |b|² [1,M].
	bt := make([]float32, dim*M)
	bn := make([]float32, M)
	buf := make([]float32, dim)
	for j := 0; j < M; j++ {
		var s float64
		for a, v := range d.bank.Row(j, buf) {
			bt[a*M+j] = -2 * v
			s += float64(v) * float64(v)
		}
		bn[j] = float32(s)
	}
	// m's nb nearest bank rows, as floats (exact below 2²⁴ rows), and the
	// row numbers 0..M−1 to compare them with.
	nb := min(d.cfg.Neighbors, M)
	all := make([]float32, 0, M*dim)
	for j := 0; j < M; j++ {
		all = d.bank.AppendRow(all, j)
	}
	_, nbs := d.bank.Search(all, M, nb)
	nbf, ids := make([]float32, M*nb), make([]float32, M)
	for i, v := range nbs {
		nbf[i] = float32(v)
	}
	for j := range ids {
		ids[j] = float32(j)
	}
	const sharp = 1 << 26 // scale of the one-hot masks' difference (see above)
	b.Initializer("patchcore/bank_m2t", []int{dim, M}, bt)
	b.Initializer("patchcore/bank_norm", []int{1, M}, bn)
	b.Initializer("patchcore/nbrs", []int{M, nb}, nbf)
	b.Initializer("patchcore/ids", []int{1, M}, ids)
	b.Initializer("patchcore/one", nil, []float32{1})
	b.Initializer("patchcore/sharp", nil, []float32{sharp})
	b.Initializer("patchcore/tiny", nil, []float32{1e-30})
	b.InitializerInt64("patchcore/axis0", []int{1}, []int64{0})
	b.InitializerInt64("patchcore/axis1", []int{1}, []int64{1})
	b.InitializerInt64("patchcore/row", []int{2}, []int64{1, -1})
	b.InitializerInt64("patchcore/col", []int{2}, []int64{-1, 1})
	b.InitializerInt64("patchcore/one_shape", []int{1}, []int64{1})
	node := func(op, out string, ins ...string) {
		b.Node(op, "patchcore/"+out, prefixed(ins), []string{"patchcore/" + out})
	}
	reduce := func(op, out, in, axis string) {
		b.Node(op, "patchcore/"+out, []string{"patchcore/" + in}, []string{"patchcore/" + out},
			onnx.IntsAttr("axes", map[string]int64{"axis0": 0, "axis1": 1}[axis]), onnx.IntAttr("keepdims", 1))
	}
	// onehot writes 1 where v equals the extreme ext (a [1,1] tensor), else 0.
	onehot := func(out, v, ext string) {
		node("Sub", out+"_gap", v, ext)
		node("Abs", out+"_absgap", out+"_gap")
		node("Add", out+"_den", ext, "tiny")
		node("Div", out+"_scale", "sharp", out+"_den")
		node("Mul", out+"_steps", out+"_absgap", out+"_scale")
		node("Sub", out+"_lin", "one", out+"_steps")
		node("Relu", out, out+"_lin")
	}
	b.Node("Identity", "patchcore/X", []string{rows}, []string{"patchcore/X"})
	node("Mul", "xx_terms", "X", "X")
	b.Node("ReduceSum", "patchcore/xx", []string{"patchcore/xx_terms", "patchcore/axis1"}, []string{"patchcore/xx"}, onnx.IntAttr("keepdims", 1))
	node("MatMul", "xb", "X", "bank_m2t")
	node("Add", "d2_part", "xb", "xx")
	node("Add", "d2_raw", "d2_part", "bank_norm")
	node("Relu", "D2", "d2_raw") // [L,M] squared distances, rounding below 0 clamped
	reduce("ReduceMin", "dmin", "D2", "axis1")
	node("Sqrt", "grid", "dmin") // [L,1]
	_, _ = d.cfg.Geometry.ExportScoreMap(b, "patchcore/grid", d.h, d.w, d.cfg.Sigma)

	// s* and its patch (one-hot over L), that patch's squared distances dq.
	reduce("ReduceMax", "s_star", "grid", "axis0") // [1,1]
	onehot("best", "grid", "s_star")               // [L,1]
	b.Node("ReduceSum", "patchcore/best_n", []string{"patchcore/best", "patchcore/axis0"}, []string{"patchcore/best_n"}, onnx.IntAttr("keepdims", 1))
	b.Node("Reshape", "patchcore/best_row", []string{"patchcore/best", "patchcore/row"}, []string{"patchcore/best_row"})
	node("MatMul", "dq_sum", "best_row", "D2") // [1,M]
	node("Div", "dq", "dq_sum", "best_n")
	// m* (one-hot over M) and its neighbours' row numbers.
	reduce("ReduceMin", "dq_min", "dq", "axis1")
	onehot("mstar", "dq", "dq_min")
	b.Node("ReduceSum", "patchcore/mstar_n", []string{"patchcore/mstar", "patchcore/axis1"}, []string{"patchcore/mstar_n"}, onnx.IntAttr("keepdims", 1))
	node("MatMul", "nb_sum", "mstar", "nbrs") // [1,nb]
	node("Div", "nb_ids", "nb_sum", "mstar_n")
	b.Node("Reshape", "patchcore/nb_col", []string{"patchcore/nb_ids", "patchcore/col"}, []string{"patchcore/nb_col"})
	// One-hot rows of the neighbours (|id − j| is 0 or at least 1).
	node("Sub", "nb_gap", "ids", "nb_col") // [nb,M]
	node("Abs", "nb_absgap", "nb_gap")
	node("Sub", "nb_lin", "one", "nb_absgap")
	node("Relu", "nb_onehot", "nb_lin")
	b.Node("Reshape", "patchcore/dq_col", []string{"patchcore/dq", "patchcore/col"}, []string{"patchcore/dq_col"})
	node("MatMul", "ds2", "nb_onehot", "dq_col") // [nb,1]
	node("Sqrt", "ds", "ds2")
	// Weight 1 − exp(s* − hi) / Σ exp(ds − hi), hi = max(s*, ds).
	b.Node("Concat", "patchcore/cand", []string{"patchcore/s_star", "patchcore/ds"}, []string{"patchcore/cand"}, onnx.IntAttr("axis", 0))
	reduce("ReduceMax", "hi", "cand", "axis0")
	node("Sub", "ds_shift", "ds", "hi")
	node("Exp", "ds_exp", "ds_shift")
	b.Node("ReduceSum", "patchcore/den", []string{"patchcore/ds_exp", "patchcore/axis0"}, []string{"patchcore/den"}, onnx.IntAttr("keepdims", 1))
	node("Sub", "s_shift", "s_star", "hi")
	node("Exp", "num", "s_shift")
	node("Div", "frac", "num", "den")
	node("Sub", "weight", "one", "frac")
	node("Mul", "score2", "weight", "s_star")
	b.Node("Reshape", detector.ExportScore, []string{"patchcore/score2", "patchcore/one_shape"}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	m := b.Model()
	m.Metadata = d.cfg.Geometry.ExportMetadata()
	if d.ivf != nil {
		m.Metadata = append(m.Metadata, onnx.MetadataProp{Key: "vigil.search",
			Value: "exact nearest neighbours (the model searches approximately with ivf; scores may differ slightly)"})
	}
	return m, nil
}

// prefixed names patchcore's graph tensors.
func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "patchcore/" + n
	}
	return out
}
