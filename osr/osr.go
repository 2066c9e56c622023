// Package osr is open-set recognition: a closed-set classifier trained on
// K known classes that also says "unknown" for inputs of none of them.
// Three post-hoc unknown scores are computed from the classifier's logits
// z (higher = more likely unknown):
//   - msp: −max softmax(z) (maximum softmax probability baseline, Hendrycks
//     & Gimpel 2017);
//   - maxlogit: −max z (Vaze et al. 2022: a good closed-set classifier is
//     all you need);
//   - energy: −T·logsumexp(z/T) (Liu et al. 2020).
//
// The decision threshold on the chosen score is the conformal quantile of
// the scores of held-out known validation images, as for anomaly
// detectors: at most a fraction alpha of known images is called unknown.
package osr

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Scores names the unknown scores, in report order.
var Scores = []string{"msp", "maxlogit", "energy"}

// Config holds the hyper-parameters.
type Config struct {
	Size        int          `json:"size" help:"images are resized to size x size; 0: native size (all images must then share one size)"`
	Gray        bool         `json:"gray" help:"convert images to one luminance channel"`
	Depth       int          `json:"depth" help:"wide ResNet depth, 6n+4 (10, 16, 22, ...)"`
	Widen       int          `json:"widen" help:"wide ResNet widening factor: stages have 16k, 32k and 64k channels"`
	Score       string       `json:"score" enum:"msp,maxlogit,energy" help:"unknown score the threshold is set on: msp, maxlogit or energy"`
	Temperature float64      `json:"temperature" help:"energy temperature T in -T*logsumexp(logits/T)"`
	Alpha       float64      `json:"alpha" help:"target fraction of known images called unknown (conformal threshold on the validation images)"`
	ValFraction float64      `json:"val_fraction" help:"share of each known class held out for the threshold, in (0,1)"`
	Seed        uint64       `json:"seed" help:"seed of the validation split"`
	Channels    int          `json:"channels,omitempty" help:"set by fit: input channel count; leave unset"`
	Train       train.Config `json:"train" help:"training of the closed-set classifier"`
}

// DefaultConfig returns the defaults: a WRN-10-2 trained for 10 epochs
// with light augmentation (shifts, flips), energy score, 5% target FPR.
func DefaultConfig() Config {
	tc := train.Defaults()
	tc.Epochs = 10
	tc.BatchSize = 64
	tc.LR = 2e-3
	tc.ValFraction = 0
	tc.Augment = train.Augment{HFlip: true, Shift: 0.08}
	return Config{Depth: 10, Widen: 2, Score: "energy", Temperature: 1, Alpha: 0.05, ValFraction: 0.1, Train: tc}
}

// ParseConfig reads a JSON configuration over the defaults (unknown keys
// refused by name) and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return detector.ParseConfig("osr", raw, DefaultConfig())
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	switch {
	case c.Size != 0 && (c.Size < 8 || c.Size > 1024):
		return fmt.Errorf("osr config: size %d must be 0 or in 8..1024", c.Size)
	case c.Depth < 10 || (c.Depth-4)%6 != 0:
		return fmt.Errorf("osr config: depth %d must be 6n+4 with n >= 1", c.Depth)
	case c.Widen < 1 || c.Widen > 16:
		return fmt.Errorf("osr config: widen %d must be in 1..16", c.Widen)
	case !slices.Contains(Scores, c.Score):
		return fmt.Errorf("osr config: score %q must be one of msp, maxlogit, energy", c.Score)
	case !(c.Temperature > 0) || math.IsInf(c.Temperature, 0):
		return fmt.Errorf("osr config: temperature %g must be > 0 and finite", c.Temperature)
	case !(c.Alpha > 0 && c.Alpha < 1):
		return fmt.Errorf("osr config: alpha %g must be in (0,1)", c.Alpha)
	case !(c.ValFraction > 0 && c.ValFraction < 1):
		return fmt.Errorf("osr config: val_fraction %g must be in (0,1)", c.ValFraction)
	case c.Channels != 0 && c.Channels != 1 && c.Channels != 3:
		return fmt.Errorf("osr config: channels %d must be 1 or 3", c.Channels)
	case c.Train.Patch != 0:
		return fmt.Errorf("osr config: train.patch must be 0: the classifier sees whole images")
	}
	if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("osr config: %w", err)
	}
	return nil
}

// Model is a fitted open-set classifier.
type Model struct {
	Config    Config
	Classes   []string           // names of the known classes, by label
	Threshold decision.Threshold // on Config.Score: unknown iff score >= Threshold.Value
	net       *arch.WRN
}

// Prediction is the outcome for one image.
type Prediction struct {
	Class   int                `json:"class"` // argmax over the known classes
	Name    string             `json:"name"`  // Classes[Class]
	Unknown bool               `json:"unknown"`
	Scores  map[string]float64 `json:"scores"` // msp, maxlogit, energy (higher = more likely unknown)
	Prob    float64            `json:"prob"`   // max softmax probability
}

// task trains the classifier with cross-entropy on the set's labels.
type task struct{ net *arch.WRN }

func (t task) Module() nn.Module { return t.net }

func (t task) Loss(b *train.Batch, _ *rand.Rand) *nn.Var {
	x := tensor.New(b.X.Shape...)
	copy(x.Data, b.X.Data)
	normalise(x.Data)
	return nn.CrossEntropy(t.net.Forward(nn.NewVar(x)), b.Labels)
}

// normalise maps pixel values from [0,1] to [-1,1] in place.
func normalise(x []float32) {
	for i, v := range x {
		x[i] = 2*v - 1
	}
}

// newSet converts images to the working channels and size.
func newSet(images []*imageio.Image, labels []int, size, channels int) (*train.Set, error) {
	s, err := train.NewSet(images, train.SetOptions{Channels: channels, Width: size, Height: size, Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("osr: %w", err)
	}
	h, w := s.Size(0)
	for i := 1; i < s.Len(); i++ {
		if ih, iw := s.Size(i); ih != h || iw != w {
			return nil, fmt.Errorf("osr: image %d is %dx%d, image 0 is %dx%d: with size 0 all images must share one size", i, iw, ih, w, h)
		}
	}
	return s, nil
}

// stratifiedSplit holds out round(frac·n_c) images of every class c (at
// least one, leaving at least one), chosen with seed.
func stratifiedSplit(labels []int, k int, frac float64, seed uint64) (trainIdx, valIdx []int) {
	byClass := make([][]int, k)
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f7372))
	for _, idx := range byClass {
		nv := min(max(1, int(math.Round(frac*float64(len(idx))))), len(idx)-1)
		perm := rng.Perm(len(idx))
		for j, p := range perm {
			if j < nv {
				valIdx = append(valIdx, idx[p])
			} else {
				trainIdx = append(trainIdx, idx[p])
			}
		}
	}
	slices.Sort(trainIdx)
	slices.Sort(valIdx)
	return trainIdx, valIdx
}

func pick[T any](v []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = v[j]
	}
	return out
}

// Fit trains the classifier on images of the known classes (labels index
// classes), holding out cfg.ValFraction of each class, and sets the
// threshold on the held-out images' scores.
func Fit(ctx context.Context, images []*imageio.Image, labels []int, classes []string, cfg Config, sess train.Session) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	k := len(classes)
	if k < 2 {
		return nil, fmt.Errorf("osr: %d known classes, need at least 2", k)
	}
	if len(labels) != len(images) {
		return nil, fmt.Errorf("osr: %d labels for %d images", len(labels), len(images))
	}
	count := make([]int, k)
	for i, l := range labels {
		if l < 0 || l >= k {
			return nil, fmt.Errorf("osr: image %d has label %d, outside the %d known classes", i, l, k)
		}
		count[l]++
	}
	for c, n := range count {
		if n < 2 {
			return nil, fmt.Errorf("osr: class %q has %d images, need at least 2 (one to train, one to calibrate)", classes[c], n)
		}
	}
	ch := 0
	if cfg.Gray {
		ch = 1
	} else {
		ch = 1
		for _, m := range images {
			if m != nil && m.C >= 3 {
				ch = 3
			}
		}
	}
	ti, vi := stratifiedSplit(labels, k, cfg.ValFraction, cfg.Seed)
	trainSet, err := newSet(pick(images, ti), pick(labels, ti), cfg.Size, ch)
	if err != nil {
		return nil, err
	}
	valImages := pick(images, vi)
	h, w := trainSet.Size(0)
	if h < 8 || w < 8 {
		return nil, fmt.Errorf("osr: images are %dx%d, need at least 8x8", w, h)
	}
	cfg.Channels = trainSet.Channels()
	net, err := arch.NewWRN(cfg.Channels, cfg.Depth, cfg.Widen, k, cfg.Train.Seed)
	if err != nil {
		return nil, fmt.Errorf("osr: %w", err)
	}
	if _, err := train.Fit(ctx, "osr", task{net}, trainSet, nil, cfg.Train, sess); err != nil {
		return nil, fmt.Errorf("osr: %w", err)
	}
	m := &Model{Config: cfg, Classes: slices.Clone(classes), net: net}
	preds, err := m.Predict(ctx, valImages)
	if err != nil {
		return nil, err
	}
	val := make([]float64, len(preds))
	for i, p := range preds {
		val[i] = p.Scores[cfg.Score]
	}
	if m.Threshold, err = decision.ConformalThreshold(val, cfg.Alpha); err != nil {
		return nil, fmt.Errorf("osr: threshold: %w", err)
	}
	return m, nil
}

// predictBatch is how many images go through the network at once.
const predictBatch = 128

// Predict classifies images and scores how unknown each one looks;
// Unknown is set by the model's threshold (none before it is set).
func (m *Model) Predict(ctx context.Context, images []*imageio.Image) ([]Prediction, error) {
	if len(images) == 0 {
		return nil, nil
	}
	out := make([]Prediction, 0, len(images))
	k := len(m.Classes)
	for lo := 0; lo < len(images); lo += predictBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(len(images), lo+predictBatch)
		set, err := newSet(images[lo:hi], nil, m.Config.Size, m.Config.Channels)
		if err != nil {
			return nil, fmt.Errorf("osr: images %d..%d: %w", lo, hi-1, err)
		}
		first := set.Image(0)
		x := tensor.New(set.Len(), first.Shape[1], first.Shape[2], first.Shape[3])
		plane := first.Len()
		for i := 0; i < set.Len(); i++ {
			copy(x.Data[i*plane:(i+1)*plane], set.Image(i).Data)
		}
		normalise(x.Data)
		var logits *tensor.Tensor
		nn.NoGrad(func() { logits = m.net.Forward(nn.NewVar(x)).Value })
		for i := 0; i < hi-lo; i++ {
			p, err := m.scoreLogits(logits.Data[i*k : (i+1)*k])
			if err != nil {
				return nil, fmt.Errorf("osr: image %d: %w", lo+i, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// scoreLogits turns one image's logits into a prediction.
func (m *Model) scoreLogits(z []float32) (Prediction, error) {
	best := 0
	for j, v := range z {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return Prediction{}, fmt.Errorf("logit %d is %v", j, v)
		}
		if v > z[best] {
			best = j
		}
	}
	zmax := float64(z[best])
	T := m.Config.Temperature
	// logsumexp around the maximum: no overflow for large logits
	var se, seT float64
	for _, v := range z {
		se += math.Exp(float64(v) - zmax)
		seT += math.Exp((float64(v) - zmax) / T)
	}
	msp := 1 / se
	p := Prediction{
		Class: best, Name: m.Classes[best], Prob: msp,
		Scores: map[string]float64{
			"msp":      -msp,
			"maxlogit": -zmax,
			"energy":   -(zmax + T*math.Log(seT)),
		},
	}
	if m.Threshold.N > 0 {
		p.Unknown = m.Threshold.Decide(p.Scores[m.Config.Score])
	}
	return p, nil
}

// format marks an open-set model file.
const format = "vigil-osr-1"

// Save writes the model to one safetensors file: the classifier's state
// under "net." and the configuration, class names and threshold as JSON
// metadata.
func (m *Model) Save(path string) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	cls, _ := json.Marshal(m.Classes)
	thr, _ := json.Marshal(m.Threshold)
	var ts []safetensors.Tensor
	for _, t := range nn.StateTensors(m.net) {
		t.Name = "net." + t.Name
		ts = append(ts, t)
	}
	md := map[string]string{"format": format, "config": string(cfg), "classes": string(cls), "threshold": string(thr)}
	if err := safetensors.WriteFile(path, md, ts); err != nil {
		return fmt.Errorf("saving open-set model %s: %w", path, err)
	}
	return nil
}

// Load reads a model written by Save, checking its metadata and every
// tensor (presence, shape, finite values).
func Load(path string) (*Model, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading open-set model: %w", err)
	}
	md := f.Metadata
	if md["format"] != format {
		return nil, fmt.Errorf("%s: format %q, want %q (not an open-set model from vigil classify fit?)", path, md["format"], format)
	}
	cfg, err := ParseConfig(json.RawMessage(md["config"]))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Channels == 0 {
		return nil, fmt.Errorf("%s: config: channels missing (model was never fitted)", path)
	}
	m := &Model{Config: cfg}
	if err := json.Unmarshal([]byte(md["classes"]), &m.Classes); err != nil || len(m.Classes) < 2 {
		return nil, fmt.Errorf("%s: metadata \"classes\": want a list of at least 2 names (%v)", path, err)
	}
	if err := json.Unmarshal([]byte(md["threshold"]), &m.Threshold); err != nil {
		return nil, fmt.Errorf("%s: metadata \"threshold\": %v", path, err)
	}
	if v := m.Threshold.Value; math.IsNaN(v) || math.IsInf(v, 0) || m.Threshold.N < 1 {
		return nil, fmt.Errorf("%s: metadata \"threshold\": value %v from %d scores is not a fitted threshold", path, v, m.Threshold.N)
	}
	if m.net, err = arch.NewWRN(cfg.Channels, cfg.Depth, cfg.Widen, len(m.Classes), 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, t := range f.Tensors {
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%s: tensor %q: value %d is %v, want a finite number", path, name, i, x)
			}
		}
	}
	if err := nn.LoadState(f, m.net, "net.", true); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.net.Train(false)
	return m, nil
}
