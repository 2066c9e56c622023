// Package geotrans is anomaly detection by geometric transformations
// (Golan & El-Yaniv, "Deep Anomaly Detection Using Geometric
// Transformations", NeurIPS 2018). A classifier learns to name which of 72
// transformations (flip × translations × quarter turns, see Transforms)
// was applied to a normal image. On an image unlike the training data it
// cannot tell them apart as confidently, so its softmax outputs on the 72
// transformed copies score normality.
//
// Two scores are computed from the same 72 softmax vectors:
//   - mean_prob: 1 − the mean over transformations of the probability of
//     the transformation actually applied;
//   - dirichlet (the paper's): for each transformation a Dirichlet is fitted
//     by maximum likelihood to the softmax outputs on training images; the
//     anomaly score is minus the sum over transformations of the
//     log-likelihoods.
package geotrans

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Name is the registry name of the method.
const Name = "geotrans"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "geometric-transformation classifier (Golan & El-Yaniv 2018); no backbone, trains a small wide ResNet",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters.
type Config struct {
	Size            int          `json:"size" help:"images are resized to size x size (the quarter turns need a square); 0: native size, which must then be square"`
	Gray            bool         `json:"gray" help:"convert images to one luminance channel; else 1 or 3 channels as decoded (gray inputs replicated for a colour model)"`
	Depth           int          `json:"depth" help:"wide ResNet depth, 6n+4 (10, 16, 22, ...)"`
	Widen           int          `json:"widen" help:"wide ResNet widening factor: stages have 16k, 32k and 64k channels"`
	Score           string       `json:"score" enum:"dirichlet,mean_prob" help:"image score: dirichlet (minus the summed Dirichlet log-likelihoods of the 72 softmax outputs) or mean_prob (1 - mean probability of the right transformation)"`
	DirichletImages int          `json:"dirichlet_images" help:"training images (an evenly spaced subset) whose 72 softmax outputs fit the Dirichlets; 0: all"`
	Channels        int          `json:"channels,omitempty" help:"set by fit: input channel count; leave unset"`
	Seed            uint64       `json:"seed" help:"seed of initialisation, shuffling and the transformations drawn (vigil fit --seed): same seed, same model"`
	Train           train.Config `json:"train" help:"training of the transformation classifier (train.seed is taken from seed)"`
}

// DefaultConfig returns the defaults, sized so one Fashion-MNIST class
// (5,400 images at 32×32) trains in about 10 minutes on two cores: a
// WRN-10-2 (the paper's WRN-16-8 costs some 30 times more per image) for 20
// epochs of one random transformation per image, about 1,100 CPU seconds
// with the Dirichlet fit (measured 0.39 CPU s per batch of 64 at 28×28).
func DefaultConfig() Config {
	tc := train.Defaults()
	tc.Epochs = 20
	tc.BatchSize = 64
	tc.LR = 2e-3
	tc.WeightDecay = 0
	tc.ValFraction = 0
	return Config{Size: 32, Depth: 10, Widen: 2, Score: "dirichlet", DirichletImages: 2000, Train: tc}
}

// ParseConfig reads a JSON configuration over the defaults and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return detector.ParseConfig(Name, raw, DefaultConfig())
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	switch {
	case c.Size != 0 && (c.Size < 8 || c.Size > 512):
		return fmt.Errorf("geotrans config: size %d must be 0 or in 8..512", c.Size)
	case c.Depth < 10 || (c.Depth-4)%6 != 0:
		return fmt.Errorf("geotrans config: depth %d must be 6n+4 with n >= 1", c.Depth)
	case c.Widen < 1 || c.Widen > 16:
		return fmt.Errorf("geotrans config: widen %d must be in 1..16", c.Widen)
	case c.Score != "dirichlet" && c.Score != "mean_prob":
		return fmt.Errorf("geotrans config: score %q must be \"dirichlet\" or \"mean_prob\"", c.Score)
	case c.DirichletImages < 0:
		return fmt.Errorf("geotrans config: dirichlet_images %d must be >= 0", c.DirichletImages)
	case c.Channels != 0 && c.Channels != 1 && c.Channels != 3:
		return fmt.Errorf("geotrans config: channels %d must be 1 or 3", c.Channels)
	case c.Gray && c.Channels > 1:
		return fmt.Errorf("geotrans config: channels %d with gray", c.Channels)
	case c.Train.Patch != 0:
		return fmt.Errorf("geotrans config: train.patch must be 0: the classifier sees whole images")
	case c.Train.Seed != 0 && c.Train.Seed != c.Seed:
		return fmt.Errorf("geotrans config: train.seed %d: set the method's seed key instead (vigil fit --seed)", c.Train.Seed)
	}
	if err := c.Train.Validate(); err != nil {
		return fmt.Errorf("geotrans config: %w", err)
	}
	return nil
}

// Detector is the geometric-transformation detector. Score may run
// concurrently once fitted.
type Detector struct {
	cfg     Config
	net     *arch.WRN
	dir     []*stats.Dirichlet // one per transformation
	gathers [][]int32          // per transformation, for the working side
	side    int
	sess    train.Session
}

var (
	_ detector.Trainer    = (*Detector)(nil)
	_ detector.InputSizer = (*Detector)(nil)
)

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "geotrans".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any { return d.cfg }

// InputSize is the working size (the pipeline pre-resizes to it).
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// SetTrainSession sets checkpointing and progress for Fit.
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// set converts images to the working channels and size.
func (d *Detector) set(images []*imageio.Image, channels int) (*train.Set, error) {
	ch := channels
	if d.cfg.Gray {
		ch = 1
	}
	s, err := train.NewSet(images, train.SetOptions{Channels: ch, Width: d.cfg.Size, Height: d.cfg.Size})
	if err != nil {
		return nil, fmt.Errorf("geotrans: %w", err)
	}
	h, w := s.Size(0)
	for i := 0; i < s.Len(); i++ {
		if ih, iw := s.Size(i); ih != iw || ih != h || iw != w {
			return nil, fmt.Errorf("geotrans: image %d is %dx%d: with size 0 every image must be square and of one size (image 0 is %dx%d)", i, iw, ih, w, h)
		}
	}
	if h < 8 {
		return nil, fmt.Errorf("geotrans: images are %dx%d, need at least 8x8", w, h)
	}
	return s, nil
}

func (d *Detector) useSide(s int) {
	if d.side != s {
		d.side, d.gathers = s, gatherTables(s)
	}
}

// Fit trains the transformation classifier on the normal images, then
// fits one Dirichlet per transformation to its softmax outputs.
func (d *Detector) Fit(ctx context.Context, images []*imageio.Image) error {
	if len(images) < 2 {
		return fmt.Errorf("geotrans: need at least 2 training images, got %d", len(images))
	}
	ch := 0
	if !d.cfg.Gray {
		// one channel count for all: colour wins when any image has colour
		ch = 1
		for _, m := range images {
			if m != nil && m.C >= 3 {
				ch = 3
			}
		}
	}
	set, err := d.set(images, ch)
	if err != nil {
		return err
	}
	side, _ := set.Size(0)
	d.useSide(side)
	cfg := d.cfg
	cfg.Channels, cfg.Size = set.Channels(), side
	cfg.Train.Seed = cfg.Seed
	net, err := arch.NewWRN(cfg.Channels, cfg.Depth, cfg.Widen, NumTransforms, cfg.Train.Seed)
	if err != nil {
		return fmt.Errorf("geotrans: %w", err)
	}
	tk := &task{net: net, gathers: d.gathers}
	trainSet, valSet := set.Split(cfg.Train.ValFraction, cfg.Train.Seed)
	if _, err := train.Fit(ctx, "geotrans", tk, trainSet, valSet, cfg.Train, d.sess); err != nil {
		return fmt.Errorf("geotrans: %w", err)
	}
	d.cfg, d.net = cfg, net

	// Dirichlets on the softmax outputs of (a subset of) the training images.
	idx := evenly(trainSet.Len(), cfg.DirichletImages)
	logp, err := d.logProbs(ctx, func(i int) *tensor.Tensor { return trainSet.Image(idx[i]) }, len(idx))
	if err != nil {
		return err
	}
	d.dir = make([]*stats.Dirichlet, NumTransforms)
	col := make([]float64, len(idx)*NumTransforms)
	for t := range d.dir {
		for i := range idx {
			copy(col[i*NumTransforms:(i+1)*NumTransforms], logp[(i*NumTransforms+t)*NumTransforms:])
		}
		dd, err := stats.FitDirichlet(col, len(idx), NumTransforms, stats.DirichletConfig{})
		if err != nil {
			return fmt.Errorf("geotrans: transformation %d: %w", t, err)
		}
		// Kept at float32 precision, as saved, so a reloaded model scores
		// exactly like the fitted one.
		for k, a := range dd.Alpha {
			dd.Alpha[k] = float64(float32(a))
		}
		d.dir[t] = &stats.Dirichlet{Alpha: dd.Alpha}
	}
	return nil
}

// evenly returns min(limit, n) evenly spaced indices in 0..n-1 (all when
// limit is 0).
func evenly(n, limit int) []int {
	k := n
	if limit > 0 && limit < n {
		k = limit
	}
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i * n / k
	}
	return idx
}

// scoreImages is how many images (each as 72 transformed copies) go
// through the network at once when scoring.
const scoreImages = 4

// logProbs returns, for n images given by get (each [1,C,S,S]), the
// log-softmax of the classifier on every transformed copy: n×72 rows of 72
// values, row i·72+t for image i under transformation t.
func (d *Detector) logProbs(ctx context.Context, get func(i int) *tensor.Tensor, n int) ([]float64, error) {
	c, s := d.cfg.Channels, d.side
	plane := c * s * s
	out := make([]float64, n*NumTransforms*NumTransforms)
	for lo := 0; lo < n; lo += scoreImages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(n, lo+scoreImages)
		x := tensor.New((hi-lo)*NumTransforms, c, s, s)
		for i := lo; i < hi; i++ {
			src := get(i).Data
			for t, g := range d.gathers {
				r := (i-lo)*NumTransforms + t
				apply(x.Data[r*plane:(r+1)*plane], src, c, g)
			}
		}
		normalise(x.Data)
		var lp *tensor.Tensor
		nn.NoGrad(func() { lp = ops.LogSoftmax(d.net.Forward(nn.NewVar(x)).Value, 1) })
		for j, v := range lp.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("geotrans: image %d: classifier output is %v", lo+j/(NumTransforms*NumTransforms), v)
			}
			out[lo*NumTransforms*NumTransforms+j] = float64(v)
		}
	}
	return out, nil
}

// normalise maps pixel values from [0,1] to [-1,1] in place, as the paper
// feeds its classifier.
func normalise(x []float32) {
	for i, v := range x {
		x[i] = 2*v - 1
	}
}

// Scores returns both anomaly scores of every image: dirichlet (minus the
// summed Dirichlet log-likelihoods) and meanProb (1 − mean probability of
// the right transformation). Higher is more anomalous for both.
func (d *Detector) Scores(ctx context.Context, images []*imageio.Image) (dirichlet, meanProb []float64, err error) {
	if d.net == nil {
		return nil, nil, fmt.Errorf("geotrans: not fitted")
	}
	if len(images) == 0 {
		return nil, nil, nil
	}
	set, err := d.set(images, d.cfg.Channels)
	if err != nil {
		return nil, nil, err
	}
	if s, _ := set.Size(0); s != d.side {
		return nil, nil, fmt.Errorf("geotrans: images are %dx%d, the model works at %dx%d (size 0 = native: give images of the training size)", s, s, d.side, d.side)
	}
	dirichlet, meanProb = make([]float64, set.Len()), make([]float64, set.Len())
	const chunk = 64 // images per log-probability buffer
	for lo := 0; lo < set.Len(); lo += chunk {
		hi := min(set.Len(), lo+chunk)
		lp, err := d.logProbs(ctx, func(i int) *tensor.Tensor { return set.Image(lo + i) }, hi-lo)
		if err != nil {
			return nil, nil, err
		}
		for i := lo; i < hi; i++ {
			var ll, p float64
			for t := 0; t < NumTransforms; t++ {
				row := lp[((i-lo)*NumTransforms+t)*NumTransforms:][:NumTransforms]
				ll += d.dir[t].LogPDF(row)
				p += math.Exp(row[t])
			}
			dirichlet[i], meanProb[i] = -ll, 1-p/NumTransforms
			if math.IsNaN(dirichlet[i]) || math.IsInf(dirichlet[i], 0) {
				return nil, nil, fmt.Errorf("geotrans: image %d: Dirichlet score is %v", i, dirichlet[i])
			}
		}
	}
	return dirichlet, meanProb, nil
}

// Score returns the configured score of every image (no map).
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	dir, prob, err := d.Scores(ctx, images)
	if err != nil {
		return nil, err
	}
	res := make([]detector.Result, len(dir))
	for i := range res {
		res[i].Score = dir[i]
		if d.cfg.Score == "mean_prob" {
			res[i].Score = prob[i]
		}
	}
	return res, nil
}

// Tensors returns the classifier's state under "net." and the Dirichlet
// parameters "alpha" [72,72] (row t: transformation t's Dirichlet).
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, t := range nn.StateTensors(d.net) {
		t.Name = "net." + t.Name
		ts = append(ts, t)
	}
	alpha := make([]float32, 0, NumTransforms*NumTransforms)
	for _, dd := range d.dir {
		for _, a := range dd.Alpha {
			alpha = append(alpha, float32(a))
		}
	}
	return append(ts, safetensors.F32("alpha", []int{NumTransforms, NumTransforms}, alpha))
}

// Restore loads a fitted model, checking every tensor's presence, shape and
// values (finite weights, positive Dirichlet parameters).
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels == 0 {
		return fmt.Errorf("geotrans config: channels missing (model was never fitted)")
	}
	if cfg.Size == 0 {
		return fmt.Errorf("geotrans config: a fitted model needs size (the working side); 0 is only valid before fitting")
	}
	net, err := arch.NewWRN(cfg.Channels, cfg.Depth, cfg.Widen, NumTransforms, 0)
	if err != nil {
		return err
	}
	for name, t := range tensors {
		if len(name) > 4 && name[:4] == "net." {
			v, err := t.Float32s()
			if err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			if err := modelcheck.Finite(name, v); err != nil {
				return err
			}
		}
	}
	if err := nn.LoadState(&safetensors.File{Tensors: tensors}, net, "net.", true); err != nil {
		return err
	}
	net.Train(false)
	alpha, err := modelcheck.Float32s(tensors, "alpha", NumTransforms, NumTransforms)
	if err != nil {
		return err
	}
	dir := make([]*stats.Dirichlet, NumTransforms)
	for t := range dir {
		a := make([]float64, NumTransforms)
		for k := range a {
			v := alpha[t*NumTransforms+k]
			if !(v > 0) {
				return fmt.Errorf("tensor \"alpha\": entry [%d,%d] is %v, want > 0", t, k, v)
			}
			a[k] = float64(v)
		}
		dir[t] = &stats.Dirichlet{Alpha: a}
	}
	d.cfg, d.net, d.dir = cfg, net, dir
	d.useSide(cfg.Size)
	return nil
}
