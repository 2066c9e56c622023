// Package deepsvdd is Deep Support Vector Data Description (Ruff et al.,
// ICML 2018): a bias-free CNN φ is trained to map normal images close to a
// fixed centre c of its output space, and the anomaly score of an image is
// its squared distance ‖φ(x) − c‖².
//
// Two objectives: one-class, the mean squared distance (plus weight decay);
// soft-boundary, R² + (1/ν)·mean(max(0, ‖φ(x)−c‖² − R²)), where R is not
// a gradient parameter but set, every r_every epochs after warmup, to the
// (1−ν) quantile of the training distances (so about a fraction ν of the
// training images ends outside the sphere) and the score is
// ‖φ(x) − c‖² − R².
//
// The encoder may first be pre-trained as the encoder of an autoencoder
// (the paper's recipe); c is then the mean of the network's outputs on the
// training images, with coordinates closer to zero than eps pushed out to
// ±eps, since a zero coordinate is trivially matched by zero weights.
package deepsvdd

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/detector/svdd"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Name is the registry name of the method.
const Name = "deepsvdd"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "Deep SVDD (Ruff et al. 2018): bias-free CNN trained to map normal images near a centre; one-class or soft-boundary; image scores only",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters; keys absent from the JSON keep the
// defaults.
type Config struct {
	Size      int          `json:"size" help:"images are resized to size x size (a multiple of 4 for lenet, 8 or more for deep)"`
	Gray      bool         `json:"gray" help:"convert images to one luminance channel"`
	Norm      string       `json:"norm" enum:"none,gcn" help:"per-image normalisation: none (pixels in [0,1]), or gcn (global contrast: subtract the image mean, divide by its mean absolute deviation)"`
	Net       string       `json:"net" enum:"auto,lenet,deep" help:"encoder: lenet (the paper's MNIST net: 8, 4 channels, 32-d), deep (its CIFAR-10 net: 32, 64, 128 channels, 128-d, deeper for larger sizes), auto: lenet up to 28 pixels"`
	Objective string       `json:"objective" enum:"one-class,soft-boundary" help:"one-class: mean squared distance to the centre; soft-boundary: R^2 + mean hinge beyond R / nu"`
	Nu        float64      `json:"nu" help:"soft-boundary: fraction of training images allowed outside the sphere, in (0,1]"`
	Warmup    int          `json:"warmup" help:"soft-boundary: epochs trained before R is first set"`
	REvery    int          `json:"r_every" help:"soft-boundary: epochs between updates of R to the (1-nu) quantile of the training distances"`
	Eps       float64      `json:"eps" help:"centre coordinates closer to 0 than eps are set to +-eps"`
	Pretrain  bool         `json:"pretrain" help:"pre-train the encoder as the encoder of an autoencoder (settings in ae)"`
	AE        train.Config `json:"ae" help:"autoencoder pre-training settings"`
	Train     train.Config `json:"train" help:"Deep SVDD training settings (weight_decay is the objective's weight decay)"`
	Seed      uint64       `json:"seed" help:"seed of initialisation and training (it replaces train.seed and ae.seed): same seed, same model"`
	Channels  int          `json:"channels,omitempty" help:"set by fit: channel count of the network's input; leave unset"`
}

// DefaultConfig returns the defaults: the paper's optimiser settings (Adam,
// lr 1e-4 decayed ×0.1 after a third of the epochs, batch 200, weight decay
// 0.5e-6; the autoencoder with weight decay 0.5e-3) on far fewer epochs
// (the paper: 250 + 150), so that a Fashion-MNIST class trains in about a
// CPU minute; these are the settings of the benchmark in BENCHMARKS.md.
func DefaultConfig() Config {
	svddTrain := train.Defaults()
	svddTrain.Epochs, svddTrain.BatchSize, svddTrain.LR = 15, 200, 1e-4
	svddTrain.Schedule, svddTrain.StepEpochs, svddTrain.Gamma = "step", 0, 0.1
	svddTrain.WeightDecay, svddTrain.ValFraction = 0.5e-6, 0
	ae := svddTrain
	ae.Epochs, ae.WeightDecay = 5, 0.5e-3
	return Config{Size: 28, Gray: true, Norm: "none", Net: "auto", Objective: "one-class", Nu: 0.1,
		Warmup: 5, REvery: 1, Eps: 0.1, Pretrain: true, AE: ae, Train: svddTrain}
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("deepsvdd config: "+format, a...) }
	switch {
	case c.Norm != "none" && c.Norm != "gcn":
		return bad("norm %q must be \"none\" or \"gcn\"", c.Norm)
	case c.Objective != "one-class" && c.Objective != "soft-boundary":
		return bad("objective %q must be \"one-class\" or \"soft-boundary\"", c.Objective)
	case !(c.Nu > 0 && c.Nu <= 1):
		return bad("nu %g must be in (0,1]", c.Nu)
	case c.Warmup < 0:
		return bad("warmup %d must be >= 0", c.Warmup)
	case c.REvery < 1:
		return bad("r_every %d must be >= 1", c.REvery)
	case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return bad("eps %g must be >= 0 and finite", c.Eps)
	case c.Channels < 0 || c.Channels > 3 || (c.Gray && c.Channels > 1):
		return bad("channels %d must be 1 or 3 (1 with gray)", c.Channels)
	case c.Train.Patch != 0:
		return bad("train.patch %d must be 0: the network sees whole size x size images", c.Train.Patch)
	case c.AE.Patch != 0:
		return bad("ae.patch %d must be 0: the network sees whole size x size images", c.AE.Patch)
	}
	if _, err := specFor(c.Net, 1, c.Size); err != nil {
		return bad("%v", err)
	}
	if err := c.Train.Validate(); err != nil {
		return bad("%v", err)
	}
	if err := c.AE.Validate(); err != nil {
		return bad("ae: %v", err)
	}
	return nil
}

// ParseConfig reads a JSON configuration over the defaults and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return detector.ParseConfig(Name, raw, DefaultConfig())
}

// Detector is a Deep SVDD model. Scoring is safe for concurrent use once
// fitted (the network is only read, in evaluation mode).
type Detector struct {
	cfg    Config
	enc    *Encoder
	c      []float32 // centre
	r      float32   // radius (soft-boundary; 0 for one-class)
	sess   train.Session
	report train.Report // of the last Fit's Deep SVDD stage
}

// New makes an unfitted detector (nil config = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "deepsvdd".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, with the fitted channel count.
func (d *Detector) Config() any { return d.cfg }

// InputSize is the working resolution every image is resized to first.
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any {
	return svdd.PixelPrep{Size: d.cfg.Size, Gray: d.cfg.Gray, Norm: d.cfg.Norm}
}

// SetTrainSession says where checkpoints go and whether to resume.
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// TrainReport describes the last Fit's Deep SVDD training.
func (d *Detector) TrainReport() train.Report { return d.report }

// Radius is the fitted R (0 for the one-class objective).
func (d *Detector) Radius() float64 { return float64(d.r) }

// work converts images to size×size working images (pixels as svdd sees
// them), in parallel.
func (c Config) work(ctx context.Context, images []*imageio.Image, channels int) ([]*imageio.Image, error) {
	out := make([]*imageio.Image, len(images))
	errs := make([]error, len(images))
	tensor.ParallelChunks(len(images), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			m := imageio.New(channels, c.Size, c.Size)
			errs[i] = svdd.Pixels(m.Pix, images[i], i, c.Size, channels, c.Norm)
			out[i] = m
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// evalBatch bounds the images run through the network at once outside
// training.
const evalBatch = 256

// outputs runs enc on imgs without a graph, in batches, handing each
// batch's [n×rep] outputs to fn with the index of its first image. The
// caller puts enc in evaluation mode (a fitted model stays in it, so
// concurrent Score calls only read).
func outputs(enc *Encoder, imgs []*imageio.Image, fn func(lo int, z []float32)) {
	nn.NoGrad(func() {
		for lo := 0; lo < len(imgs); lo += evalBatch {
			hi := min(len(imgs), lo+evalBatch)
			m := imgs[lo]
			plane := m.C * m.H * m.W
			x := tensor.New(hi-lo, m.C, m.H, m.W)
			for i := lo; i < hi; i++ {
				copy(x.Data[(i-lo)*plane:(i-lo+1)*plane], imgs[i].Pix)
			}
			fn(lo, enc.Forward(nn.NewVar(x)).Value.Data)
		}
	})
}

// sqDists returns ‖φ(x) − c‖² for every image.
func sqDists(enc *Encoder, c []float32, imgs []*imageio.Image) []float64 {
	out := make([]float64, len(imgs))
	rep := len(c)
	outputs(enc, imgs, func(lo int, z []float32) {
		for i := 0; i < len(z)/rep; i++ {
			var s float64
			for j, v := range z[i*rep : (i+1)*rep] {
				d := float64(v) - float64(c[j])
				s += d * d
			}
			out[lo+i] = s
		}
	})
	return out
}

// Fit pre-trains (optionally), sets the centre and trains Deep SVDD.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) < 2 {
		return fmt.Errorf("deepsvdd: need at least 2 training images, got %d", len(train))
	}
	if train[0] == nil {
		return fmt.Errorf("image 0: empty or inconsistent image")
	}
	d.enc = nil // a failed fit leaves the detector unfitted
	cfg := d.cfg
	cfg.Channels = 1
	if !cfg.Gray && train[0].C > 2 {
		cfg.Channels = 3
	}
	cfg.Train.Seed, cfg.AE.Seed = cfg.Seed, cfg.Seed
	if err := cfg.Validate(); err != nil {
		return err
	}
	d.cfg = cfg
	work, err := cfg.work(ctx, train, cfg.Channels)
	if err != nil {
		return err
	}
	enc, c, r, rep, err := fitNet(ctx, cfg, work, d.sess)
	if err != nil {
		return err
	}
	progress.Report(ctx, len(train), len(train))
	d.enc, d.c, d.r, d.report = enc, c, r, rep
	return nil
}

// Score returns ‖φ(x) − c‖² (one-class) or ‖φ(x) − c‖² − R²
// (soft-boundary) per image; no map.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.enc == nil {
		return nil, fmt.Errorf("deepsvdd: model is not fitted")
	}
	out := make([]detector.Result, len(images))
	for lo := 0; lo < len(images); lo += evalBatch {
		hi := min(len(images), lo+evalBatch)
		work, err := d.cfg.work(ctx, images[lo:hi], d.cfg.Channels)
		if err != nil {
			return nil, err
		}
		r2 := float64(d.r) * float64(d.r)
		for i, s := range sqDists(d.enc, d.c, work) {
			s -= r2
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("deepsvdd: image %d: score is %v", lo+i, s)
			}
			out[lo+i] = detector.Result{Score: s}
		}
	}
	return out, nil
}

// Tensors returns the encoder's state ("enc.conv0.weight", …,
// "enc.bn0.running_mean", …), "center" [rep] and "radius" [1].
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, t := range nn.StateTensors(d.enc) {
		t.Name = "enc." + t.Name
		ts = append(ts, t)
	}
	return append(ts,
		safetensors.F32("center", []int{len(d.c)}, d.c),
		safetensors.F32("radius", []int{1}, []float32{d.r}))
}

// Restore loads a fitted model, checking every tensor's presence, shape
// and values.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels < 1 {
		return fmt.Errorf("deepsvdd config: channels missing (model was never fitted)")
	}
	spec, err := specFor(cfg.Net, cfg.Channels, cfg.Size)
	if err != nil {
		return fmt.Errorf("deepsvdd config: %v", err)
	}
	enc := newEncoder(spec, 0)
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}}
	for _, t := range nn.StateTensors(enc) {
		v, err := modelcheck.Float32s(ts, "enc."+t.Name, t.Shape...)
		if err != nil {
			return err
		}
		f.Tensors[t.Name] = safetensors.F32(t.Name, t.Shape, v)
	}
	if err := nn.LoadState(f, enc, "", true); err != nil {
		return err
	}
	for _, b := range enc.Buffers() {
		if b.Name[len(b.Name)-len("running_var"):] == "running_var" {
			for i, v := range b.T.Data {
				if !(v >= 0) {
					return fmt.Errorf("tensor %q: entry %d is %v, want a variance >= 0", "enc."+b.Name, i, v)
				}
			}
		}
	}
	c, err := modelcheck.Float32s(ts, "center", spec.Rep)
	if err != nil {
		return err
	}
	r, err := modelcheck.Float32s(ts, "radius", 1)
	if err != nil {
		return err
	}
	if r[0] < 0 || (cfg.Objective == "one-class" && r[0] != 0) {
		return fmt.Errorf("tensor \"radius\": %v is not a valid radius for objective %s", r[0], cfg.Objective)
	}
	enc.Train(false)
	*d = Detector{cfg: cfg, enc: enc, c: c, r: r[0], sess: d.sess}
	return nil
}
