package osr

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/train"
)

// Hand-computed scores for logits (2, 0, −1): msp = e²/(e²+1+e⁻¹),
// maxlogit −2, energy −log(e²+1+e⁻¹) at T=1 and −2·log(e+1+e^−0.5) at T=2;
// the unknown decision follows the threshold on the configured score.
func TestScoreLogits(t *testing.T) {
	m := &Model{Config: DefaultConfig(), Classes: []string{"a", "b", "c"}}
	p, err := m.scoreLogits([]float32{2, 0, -1})
	if err != nil {
		t.Fatal(err)
	}
	e2, e1 := math.Exp(2), math.Exp(-1)
	want := map[string]float64{"msp": -e2 / (e2 + 1 + e1), "maxlogit": -2, "energy": -math.Log(e2 + 1 + e1)}
	for k, w := range want {
		if math.Abs(p.Scores[k]-w) > 1e-12 {
			t.Errorf("%s = %.15g, want %.15g", k, p.Scores[k], w)
		}
	}
	if p.Class != 0 || p.Name != "a" || math.Abs(p.Prob+want["msp"]) > 1e-12 || p.Unknown {
		t.Errorf("prediction %+v", p)
	}
	m.Config.Temperature = 2
	m.Threshold = decision.Threshold{Value: -3, N: 10}
	p, _ = m.scoreLogits([]float32{2, 0, -1})
	if w := -2 * math.Log(math.E+1+math.Exp(-0.5)); math.Abs(p.Scores["energy"]-w) > 1e-12 {
		t.Errorf("energy at T=2: %.15g, want %.15g", p.Scores["energy"], w)
	}
	if !p.Unknown { // energy ≈ −2.93 >= −3
		t.Errorf("energy %g above threshold -3 not called unknown", p.Scores["energy"])
	}
	// Huge logits do not overflow.
	p, err = m.scoreLogits([]float32{1e4, 1e4 - 1, -1e4})
	if err != nil || math.IsNaN(p.Scores["energy"]) || math.IsInf(p.Scores["energy"], 0) {
		t.Errorf("large logits: %v %v", p.Scores, err)
	}
	if _, err := m.scoreLogits([]float32{1, float32(math.NaN())}); err == nil {
		t.Error("NaN logit accepted")
	}
}

const side = 12

// pattern draws class c: 0 horizontal bar, 1 vertical bar, 2 a square
// ring, 3 (unknown) a diagonal cross; jittered and noisy.
func pattern(r *rand.Rand, c int) *imageio.Image {
	img := &imageio.Image{C: 1, H: side, W: side, Pix: make([]float32, side*side)}
	o := r.IntN(3) - 1
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			v := float32(0.1 * r.Float64())
			var on bool
			switch c {
			case 0:
				on = y-o >= 5 && y-o <= 6
			case 1:
				on = x-o >= 5 && x-o <= 6
			case 2:
				on = (y == 2+o || y == 9+o || x == 2+o || x == 9+o) && y >= 2+o && y <= 9+o && x >= 2+o && x <= 9+o
			case 3:
				on = x-y == o || x+y == side-1+o
			}
			if on {
				v += 0.85
			}
			img.Pix[y*side+x] = v
		}
	}
	return img
}

const tinyConfig = `{"depth":10,"widen":1,"alpha":0.1,"val_fraction":0.2,"seed":2,
	"train":{"epochs":6,"batch_size":32,"steps_per_epoch":10,"lr":0.005,"seed":4,"augment":{"hflip":false,"shift":0}}}`

func tinyData(seed uint64, perClass int, unknown bool) ([]*imageio.Image, []int) {
	r := rand.New(rand.NewPCG(seed, 9))
	var imgs []*imageio.Image
	var labels []int
	for i := 0; i < perClass; i++ {
		for c := 0; c < 3; c++ {
			imgs = append(imgs, pattern(r, c))
			labels = append(labels, c)
		}
		if unknown {
			imgs = append(imgs, pattern(r, 3))
			labels = append(labels, Unknown)
		}
	}
	return imgs, labels
}

var tiny struct {
	once sync.Once
	m    *Model
	err  error
}

func fitTiny() (*Model, error) {
	cfg, err := ParseConfig(json.RawMessage(tinyConfig))
	if err != nil {
		return nil, err
	}
	imgs, labels := tinyData(1, 40, false)
	return Fit(context.Background(), imgs, labels, []string{"h", "v", "ring"}, cfg, train.Session{})
}

func sharedTiny(t *testing.T) *Model {
	tiny.once.Do(func() { tiny.m, tiny.err = fitTiny() })
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	return tiny.m
}

// The classifier learns the three known patterns, the threshold comes from
// the held-out known images at the conformal rank, the report's counts
// agree with the predictions, and a saved and reloaded model predicts
// exactly the same; refitting with the same seeds gives the same model.
func TestFitEvaluateRoundTrip(t *testing.T) {
	ctx := context.Background()
	m := sharedTiny(t)
	if m.Threshold.N != 24 || m.Threshold.Method != "conformal" || m.Threshold.Alpha != 0.1 {
		t.Fatalf("threshold %+v: want conformal at alpha 0.1 from 24 validation images (20%% of 40 per class)", m.Threshold)
	}
	imgs, labels := tinyData(7, 10, true)
	rep, err := Evaluate(ctx, m, imgs, labels)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Known != 30 || rep.Unknown != 10 {
		t.Fatalf("counts %d known, %d unknown", rep.Known, rep.Unknown)
	}
	if rep.ClosedSetAccuracy < 0.9 {
		t.Errorf("closed-set accuracy %.3f, want >= 0.9", rep.ClosedSetAccuracy)
	}
	preds, err := m.Predict(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	var rejected, flagged int
	for i, p := range preds {
		if p.Unknown != (p.Scores["energy"] >= rep.Threshold) {
			t.Fatalf("image %d: unknown %v with energy %g and threshold %g", i, p.Unknown, p.Scores["energy"], rep.Threshold)
		}
		if labels[i] == Unknown && p.Unknown {
			flagged++
		} else if labels[i] != Unknown && p.Unknown {
			rejected++
		}
	}
	if rep.UnknownFPR != float64(rejected)/30 || rep.UnknownTPR != float64(flagged)/10 {
		t.Errorf("fpr %g tpr %g, predictions give %g and %g", rep.UnknownFPR, rep.UnknownTPR, float64(rejected)/30, float64(flagged)/10)
	}
	for name, a := range map[string]float64{"msp": rep.AUROCMSP, "maxlogit": rep.AUROCMaxLogit, "energy": rep.AUROCEnergy} {
		if !(a >= 0 && a <= 1) {
			t.Errorf("auroc_%s = %v", name, a)
		}
	}
	if rep.AUROCEnergy < 0.8 {
		t.Errorf("energy AUROC %.3f: the crosses (never trained on) should score apart from the known patterns", rep.AUROCEnergy)
	}
	t.Logf("tiny report: %+v", rep)

	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m2.Classes, ",") != "h,v,ring" || m2.Threshold != m.Threshold {
		t.Fatalf("reloaded classes %v threshold %+v", m2.Classes, m2.Threshold)
	}
	preds2, err := m2.Predict(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range preds {
		for _, s := range Scores {
			if preds[i].Scores[s] != preds2[i].Scores[s] {
				t.Fatalf("image %d: %s %v before save, %v after load", i, s, preds[i].Scores[s], preds2[i].Scores[s])
			}
		}
	}
	m3, err := fitTiny()
	if err != nil {
		t.Fatal(err)
	}
	preds3, _ := m3.Predict(ctx, imgs)
	for i := range preds {
		if preds[i].Scores["energy"] != preds3[i].Scores["energy"] {
			t.Fatalf("image %d: refit gives energy %v, first fit %v", i, preds3[i].Scores["energy"], preds[i].Scores["energy"])
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	m := sharedTiny(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, name := range f.Order {
		tn := f.Tensors[name]
		if name == "net.fc.bias" {
			v, _ := tn.Float32s()
			v = append([]float32(nil), v...)
			v[1] = float32(math.Inf(1))
			tn = safetensors.F32(name, tn.Shape, v)
		}
		ts = append(ts, tn)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.WriteFile(bad, f.Metadata, ts); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "net.fc.bias") {
		t.Errorf("infinite bias: %v", err)
	}
	md := map[string]string{}
	for k, v := range f.Metadata {
		md[k] = v
	}
	md["format"] = "vigil-model"
	other := filepath.Join(dir, "other.safetensors")
	safetensors.WriteFile(other, md, ts)
	if _, err := Load(other); err == nil || !strings.Contains(err.Error(), "format") {
		t.Errorf("wrong format: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file loaded")
	}
	_ = os.Remove(bad)
}

func TestFitRejectsBadInput(t *testing.T) {
	cfg, _ := ParseConfig(json.RawMessage(tinyConfig))
	imgs, labels := tinyData(1, 3, false)
	if _, err := Fit(context.Background(), imgs, labels, []string{"h", "v"}, cfg, train.Session{}); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("label outside the classes: %v", err)
	}
	if _, err := Fit(context.Background(), imgs[:3], labels[:3], []string{"h", "v", "ring"}, cfg, train.Session{}); err == nil || !strings.Contains(err.Error(), "need at least 2") {
		t.Errorf("one image per class: %v", err)
	}
	for _, raw := range []string{`{"score":"odin"}`, `{"alpha":0}`, `{"temperature":-1}`, `{"val_fraction":1}`, `{"bogus":1}`} {
		if _, err := ParseConfig(json.RawMessage(raw)); err == nil {
			t.Errorf("config %s accepted", raw)
		}
	}
}
