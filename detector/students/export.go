package students

import (
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/onnx"
)

var _ detector.Exporter = (*Detector)(nil)

// ExportONNX writes the fitted model as one ONNX graph (detector.Exporter)
// for the prepared S×S input (S = Geometry.Side): the input mapped as
// inputs maps it ((v − 0.5)·4); per receptive field the reflection padding
// of padFor (Pad, mode reflect), the teacher and every student run densely
// (arch.PatchNet.ExportDense), the teacher's descriptors standardised,
// the regression error e and predictive variance v of errVar, their
// standardised combination (score ev, e or v), cropped to S×S (one-hot
// matrix products); the receptive fields' average; and the map and image
// score of Geometry.ScoreMap (smoothing, maximum). Refused by name:
// aspect pad (the padding depends on each image) and sides too small for
// ONNX's single reflection (padFor reflects as often as needed).
func (d *Detector) ExportONNX() (*onnx.Model, error) {
	if len(d.scales) == 0 {
		return nil, fmt.Errorf("students: model is not fitted")
	}
	g := d.cfg.Geometry
	if g.Aspect == embedding.AspectPad {
		return nil, fmt.Errorf("students export: aspect pad is not exportable (the padding depends on each image's size); refit with aspect stretch")
	}
	S := g.Side()
	b := onnx.NewBuilder("vigil-students")
	b.Input(embedding.ExportInput, 1, 3, S, S)
	b.Initializer("students/half", nil, []float32{0.5})
	b.Initializer("students/four", nil, []float32{4})
	b.Node("Sub", "students/centred", []string{embedding.ExportInput, "students/half"}, []string{"students/centred"})
	b.Node("Mul", "students/x", []string{"students/centred", "students/four"}, []string{"students/x"})
	L := float32(len(d.scales))
	var sum string
	for _, sc := range d.scales {
		m, err := d.exportScale(b, sc, "students/x", S, fmt.Sprintf("students/p%d", sc.p))
		if err != nil {
			return nil, fmt.Errorf("students export: %w", err)
		}
		pre := fmt.Sprintf("students/p%d/avg", sc.p)
		b.Initializer(pre+"/n", nil, []float32{L})
		b.Node("Div", pre, []string{m, pre + "/n"}, []string{pre})
		if sum == "" {
			sum = pre
		} else {
			b.Node("Add", pre+"/sum", []string{sum, pre}, []string{pre + "/sum"})
			sum = pre + "/sum"
		}
	}
	_, score := g.ExportScoreMap(b, sum, S, S, d.cfg.Sigma)
	b.Node("Identity", detector.ExportScore, []string{score}, []string{detector.ExportScore})
	b.Output(detector.ExportScore, 1)
	om := b.Model()
	om.Metadata = g.ExportMetadata()
	return om, nil
}

// exportScale writes combine's map of one receptive field for the
// normalised input x [1,3,S,S] and returns the name of the [1,1,S,S]
// result; names start with pre.
func (d *Detector) exportScale(b *onnx.Builder, sc *scale, x string, S int, pre string) (string, error) {
	top := (sc.p - 1) / 2
	s := sc.teacher.DenseSize(S)
	end := s - S - top
	if top > S-1 || end > S-1 {
		return "", fmt.Errorf("p=%d: side %d is too small for the reflection padding of %d and %d pixels (ONNX reflect padding must be narrower than the image)", sc.p, S, top, end)
	}
	padded := pre + "/padded"
	b.InitializerInt64(padded+"_pads", []int{8}, []int64{0, 0, int64(top), int64(top), 0, 0, int64(end), int64(end)})
	b.Node("Pad", padded, []string{x, padded + "_pads"}, []string{padded}, onnx.StringAttr("mode", "reflect"))
	t, o, err := sc.teacher.ExportDense(b, padded, 1, s, pre+"/teacher/")
	if err != nil {
		return "", err
	}
	k := sc.teacher.Dim
	inv := make([]float32, k)
	for i, v := range sc.tStd {
		inv[i] = 1 / v // as standardise scales
	}
	b.Initializer(pre+"/t_mean", []int{1, k, 1, 1}, sc.tMean)
	b.Initializer(pre+"/t_inv_std", []int{1, k, 1, 1}, inv)
	b.Node("Sub", pre+"/t_centred", []string{t, pre + "/t_mean"}, []string{pre + "/t_centred"})
	b.Node("Mul", pre+"/t", []string{pre + "/t_centred", pre + "/t_inv_std"}, []string{pre + "/t"})
	var sum, sq string
	for m, st := range sc.students {
		sp := fmt.Sprintf("%s/student%d", pre, m)
		y, _, err := st.ExportDense(b, padded, 1, s, sp+"/")
		if err != nil {
			return "", err
		}
		b.Node("Mul", sp+"/sq", []string{y, y}, []string{sp + "/sq"})
		if m == 0 {
			sum, sq = y, sp+"/sq"
			continue
		}
		b.Node("Add", sp+"/sum", []string{sum, y}, []string{sp + "/sum"})
		b.Node("Add", sp+"/sqsum", []string{sq, sp + "/sq"}, []string{sp + "/sqsum"})
		sum, sq = sp+"/sum", sp+"/sqsum"
	}
	// e = Σ_ch (mean − t)², v = Σ_ch max(E[y²] − mean², 0).
	b.Initializer(pre+"/M", nil, []float32{float32(len(sc.students))})
	b.InitializerInt64(pre+"/axis1", []int{1}, []int64{1})
	b.Node("Div", pre+"/mu", []string{sum, pre + "/M"}, []string{pre + "/mu"})
	b.Node("Sub", pre+"/diff", []string{pre + "/mu", pre + "/t"}, []string{pre + "/diff"})
	b.Node("Mul", pre+"/diff2", []string{pre + "/diff", pre + "/diff"}, []string{pre + "/diff2"})
	b.Node("ReduceSum", pre+"/e", []string{pre + "/diff2", pre + "/axis1"}, []string{pre + "/e"}, onnx.IntAttr("keepdims", 1))
	b.Node("Div", pre+"/ey2", []string{sq, pre + "/M"}, []string{pre + "/ey2"})
	b.Node("Mul", pre+"/mu2", []string{pre + "/mu", pre + "/mu"}, []string{pre + "/mu2"})
	b.Node("Sub", pre+"/var", []string{pre + "/ey2", pre + "/mu2"}, []string{pre + "/var"})
	b.Node("Relu", pre+"/var0", []string{pre + "/var"}, []string{pre + "/var0"})
	b.Node("ReduceSum", pre+"/v", []string{pre + "/var0", pre + "/axis1"}, []string{pre + "/v"}, onnx.IntAttr("keepdims", 1))
	// combine: (e − μₑ)/σₑ, (v − μᵥ)/σᵥ, or their sum.
	z := func(name string, mean, sd float32) string {
		p := pre + "/" + name + "z"
		b.Initializer(p+"/mean", nil, []float32{mean})
		b.Initializer(p+"/sd", nil, []float32{sd})
		b.Node("Sub", p+"/c", []string{pre + "/" + name, p + "/mean"}, []string{p + "/c"})
		b.Node("Div", p, []string{p + "/c", p + "/sd"}, []string{p})
		return p
	}
	var m string
	switch d.cfg.Score {
	case "e":
		m = z("e", sc.stats[0], sc.stats[1])
	case "v":
		m = z("v", sc.stats[2], sc.stats[3])
	default:
		m = pre + "/ev"
		b.Node("Add", m, []string{z("e", sc.stats[0], sc.stats[1]), z("v", sc.stats[2], sc.stats[3])}, []string{m})
	}
	// The top-left S×S window of the o×o dense map, as dense crops it.
	crop := make([]float32, S*o)
	for i := 0; i < S; i++ {
		crop[i*o+i] = 1
	}
	return embedding.ExportAxes(b, m, crop, crop, o, o, S, S, pre+"/crop"), nil
}
