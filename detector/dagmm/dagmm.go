// Package dagmm is DAGMM, the deep autoencoding Gaussian mixture model
// (Zong et al. 2018), applied patch-wise so that it gives anomaly maps:
// the samples are the overlapping patches of the (resized) images. A
// compression network (a dense autoencoder) maps each patch to a
// low-dimensional code plus two reconstruction features (relative
// Euclidean distance, cosine similarity); an estimation network maps
// that z to soft memberships of K mixture components. Both are trained
// end to end: the mixture's parameters are estimated from the memberships
// inside each batch, and the loss is the reconstruction error plus λ1
// times the mean sample energy (the negative log-likelihood under that
// mixture) plus λ2 times the sum of inverse covariance diagonals. After
// training the mixture is estimated once from all training patches; a
// patch's score is its energy, the map averages the energies of the
// patches covering each pixel, smoothed, and the image score is its
// maximum.
package dagmm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Name is the registry name of the method.
const Name = "dagmm"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "DAGMM on image patches: autoencoder codes and reconstruction features scored by a Gaussian mixture trained end to end",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters.
type Config struct {
	Size         int          `json:"size" help:"images are resized to size x size for training and scoring; maps come back at the input's size"`
	Gray         bool         `json:"gray" help:"convert images to one luminance channel; else the training images' channels are used (gray inputs are replicated to match a colour model)"`
	Normalize    string       `json:"normalize" enum:"image,none" help:"image: standardise each channel of each image (of each training crop) to mean 0 and deviation 1 before taking patches, so global brightness and contrast do not dominate the energy; none: raw values"`
	Patch        int          `json:"patch" help:"side of the square patches that are DAGMM's samples, in working-resolution pixels"`
	Stride       int          `json:"stride" help:"spacing of the patches (training and scoring)"`
	Hidden       []int        `json:"hidden" help:"widths of the compression encoder's hidden layers (the decoder mirrors them)"`
	Latent       int          `json:"latent" help:"code size of the compression network (z adds 2 reconstruction features)"`
	Components   int          `json:"components" help:"mixture components K"`
	EstHidden    int          `json:"est_hidden" help:"hidden units of the estimation network"`
	Dropout      float64      `json:"dropout" help:"dropout probability in the estimation network while training, in [0,1)"`
	LambdaEnergy float64      `json:"lambda_energy" help:"weight λ1 of the mean sample energy in the loss (paper: 0.1)"`
	LambdaCov    float64      `json:"lambda_cov" help:"weight λ2 of the sum of inverse covariance diagonals in the loss (paper: 0.005)"`
	CovEps       float64      `json:"cov_eps" help:"added to every covariance diagonal, keeping it invertible"`
	Smooth       float64      `json:"smooth" help:"Gaussian sigma, in working-resolution pixels, applied to the map before the image score (its maximum) is taken; 0: none"`
	Seed         uint64       `json:"seed" help:"seed of initialisation, batches and dropout (train.seed, if given, must equal it): same seed, same model"`
	Train        train.Config `json:"train" help:"training pipeline settings (train.patch: side of the image crops whose patches form a batch; 0: whole images)"`
	Channels     int          `json:"channels,omitempty" help:"set by fit: channel count of the model's input; leave unset"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	tc := train.Defaults()
	tc.Epochs = 20
	tc.BatchSize = 8
	tc.Patch = 0
	tc.LR = 1e-3
	return Config{Size: 64, Normalize: "image", Patch: 8, Stride: 4, Hidden: []int{64, 16}, Latent: 2, Components: 4, EstHidden: 10,
		Dropout: 0.5, LambdaEnergy: 0.1, LambdaCov: 0.005, CovEps: 1e-6, Smooth: 2, Train: tc}
}

// ParseConfig reads a JSON configuration over the defaults (refusing
// unknown keys and wrong types by name) and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	cfg := DefaultConfig()
	if err := detector.DecodeConfig(Name, raw, &cfg); err != nil {
		return cfg, err
	}
	if cfg.Train.Seed == 0 {
		cfg.Train.Seed = cfg.Seed // the CLI's --seed arrives as the top-level key
	}
	return cfg, cfg.Validate()
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("dagmm config: "+format, a...) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	side := c.Train.Patch
	if side == 0 {
		side = c.Size
	}
	switch {
	case c.Size < 1:
		return bad("size %d must be >= 1", c.Size)
	case c.Normalize != "image" && c.Normalize != "none":
		return bad("normalize %q must be \"image\" or \"none\"", c.Normalize)
	case c.Patch < 1 || c.Patch > 32:
		return bad("patch %d must be in 1..32", c.Patch)
	case c.Stride < 1:
		return bad("stride %d must be >= 1", c.Stride)
	case c.Size < c.Patch:
		return bad("size %d is smaller than patch %d", c.Size, c.Patch)
	case c.Train.Patch != 0 && (c.Train.Patch < c.Patch || c.Train.Patch > c.Size):
		return bad("train.patch %d must be 0 or in patch %d..size %d", c.Train.Patch, c.Patch, c.Size)
	case c.Latent < 1:
		return bad("latent %d must be >= 1", c.Latent)
	case c.Components < 1:
		return bad("components %d must be >= 1", c.Components)
	case c.EstHidden < 1:
		return bad("est_hidden %d must be >= 1", c.EstHidden)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return bad("dropout %g must be in [0,1)", c.Dropout)
	case !(c.LambdaEnergy >= 0) || !finite(c.LambdaEnergy):
		return bad("lambda_energy %g must be >= 0", c.LambdaEnergy)
	case !(c.LambdaCov >= 0) || !finite(c.LambdaCov):
		return bad("lambda_cov %g must be >= 0", c.LambdaCov)
	case !(c.CovEps > 0) || !finite(c.CovEps):
		return bad("cov_eps %g must be > 0", c.CovEps)
	case !(c.Smooth >= 0) || !finite(c.Smooth):
		return bad("smooth %g must be >= 0", c.Smooth)
	case c.Train.Seed != c.Seed:
		return bad("train.seed %d differs from seed %d: set seed only", c.Train.Seed, c.Seed)
	case c.Channels < 0 || c.Channels == 2 || c.Channels > 3:
		return bad("channels %d must be 1 or 3", c.Channels)
	case c.Gray && c.Channels > 1:
		return bad("channels %d with gray", c.Channels)
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return bad("hidden[%d] = %d must be >= 1", i, h)
		}
	}
	// The batch mixture needs at least as many patches as components.
	if n := len(origins(side, c.Patch, c.Stride)); n*n*c.Train.BatchSize < c.Components {
		return bad("a batch holds %d patches, fewer than components %d", n*n*c.Train.BatchSize, c.Components)
	}
	if err := c.Train.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// origins returns the patch offsets along an axis of length n: every
// stride, the last pulled in to end at the edge so every pixel is covered.
func origins(n, p, s int) []int {
	if n < p {
		return nil
	}
	count := (n-p+s-1)/s + 1
	out := make([]int, count)
	for i := range out {
		out[i] = min(i*s, n-p)
	}
	return out
}

func (c Config) dim() int { return max(c.Channels, 1) * c.Patch * c.Patch }

func (c Config) newNet() *net {
	return newNet(c.dim(), c.Hidden, c.Latent, c.EstHidden, c.Components, c.Dropout, c.Train.Seed)
}

// Detector is the patch-wise DAGMM detector. Scoring is safe to call
// concurrently once fitted.
type Detector struct {
	cfg  Config
	net  *net
	gmm  *stats.GMM
	sess train.Session
}

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "dagmm".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any {
	c := d.cfg
	c.Hidden = slices.Clone(c.Hidden)
	return c
}

// SetTrainSession says where checkpoints go and whether to resume.
func (d *Detector) SetTrainSession(s train.Session) { d.sess = s }

// InputSize is the working resolution every image is resized to.
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any {
	return struct {
		Size int  `json:"size"`
		Gray bool `json:"gray"`
	}{d.cfg.Size, d.cfg.Gray}
}

// Tensors returns the networks' parameters ("net.enc.0.weight", …) and
// the mixture: "gmm.weights" [K], "gmm.means" [K,Z], "gmm.factors"
// [K,Z(Z+1)/2] (inverse Cholesky factors, packed).
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, p := range d.net.Params() {
		ts = append(ts, safetensors.F32("net."+p.Name, p.Value.Shape, p.Value.Data))
	}
	k, zd := len(d.gmm.Weights), d.gmm.Dim()
	w := make([]float32, k)
	var means, factors []float32
	for i, c := range d.gmm.Components {
		w[i] = float32(d.gmm.Weights[i])
		means = append(means, c.Mean...)
		factors = append(factors, c.W...)
	}
	return append(ts, safetensors.F32("gmm.weights", []int{k}, w),
		safetensors.F32("gmm.means", []int{k, zd}, means),
		safetensors.F32("gmm.factors", []int{k, stats.PackedLen(zd, false)}, factors))
}

// Restore loads a fitted model, checking every tensor's presence, shape
// and values.
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels < 1 {
		return fmt.Errorf("dagmm config: channels missing (model was never fitted)")
	}
	m := cfg.newNet()
	for _, p := range m.Params() {
		v, err := modelcheck.Float32s(tensors, "net."+p.Name, p.Value.Shape...)
		if err != nil {
			return err
		}
		copy(p.Value.Data, v)
	}
	m.Train(false)
	k, zd := cfg.Components, cfg.Latent+2
	w, err := modelcheck.Float32s(tensors, "gmm.weights", k)
	if err != nil {
		return err
	}
	means, err := modelcheck.Float32s(tensors, "gmm.means", k, zd)
	if err != nil {
		return err
	}
	pl := stats.PackedLen(zd, false)
	factors, err := modelcheck.Float32s(tensors, "gmm.factors", k, pl)
	if err != nil {
		return err
	}
	g := &stats.GMM{Weights: make([]float64, k), Components: make([]*stats.Gaussian, k)}
	for i := 0; i < k; i++ {
		if !(w[i] > 0) {
			return fmt.Errorf("tensor %q: weight %d is %v, want > 0", "gmm.weights", i, w[i])
		}
		g.Weights[i] = float64(w[i])
		c, err := stats.GaussianFromFactor(slices.Clone(means[i*zd:(i+1)*zd]), slices.Clone(factors[i*pl:(i+1)*pl]), false)
		if err != nil {
			return fmt.Errorf("tensor %q: component %d: %w", "gmm.factors", i, err)
		}
		g.Components[i] = c
	}
	d.cfg, d.net, d.gmm = cfg, m, g
	return nil
}

// workSet is the images' appearance at the model's channels, size×size.
func (c Config) workSet(imgs []*imageio.Image, channels int) (*train.Set, error) {
	return train.AppearanceSet(imgs, channels, c.Gray, c.Size)
}

// standardise sets every channel of every image of x [B,C,H,W] to mean 0
// and deviation 1 (a flat channel just loses its mean).
func standardise(x *tensor.Tensor) {
	_, _, h, w := x.Dims4("dagmm")
	hw := h * w
	for p := 0; p < len(x.Data); p += hw {
		plane := x.Data[p : p+hw]
		var s, ss float64
		for _, v := range plane {
			s += float64(v)
			ss += float64(v) * float64(v)
		}
		mean := s / float64(hw)
		sd := math.Sqrt(max(ss/float64(hw)-mean*mean, 0))
		inv := 1 / max(sd, 1e-3)
		for i, v := range plane {
			plane[i] = float32((float64(v) - mean) * inv)
		}
	}
}

// patches copies every patch of x [B,C,H,W] into the rows of a
// [B·P, C·patch²] tensor (P patches per image, row-major by origin),
// after standardising each image when Normalize says so (x is modified).
func (c Config) patches(x *tensor.Tensor) *tensor.Tensor {
	if c.Normalize == "image" {
		standardise(x)
	}
	b, ch, h, w := x.Dims4("dagmm")
	ys, xs := origins(h, c.Patch, c.Stride), origins(w, c.Patch, c.Stride)
	p := c.Patch
	d := ch * p * p
	out := tensor.New(b*len(ys)*len(xs), d)
	r := 0
	for i := 0; i < b; i++ {
		for _, y0 := range ys {
			for _, x0 := range xs {
				row := out.Data[r*d : (r+1)*d]
				for cc := 0; cc < ch; cc++ {
					plane := x.Data[(i*ch+cc)*h*w : (i*ch+cc+1)*h*w]
					for dy := 0; dy < p; dy++ {
						copy(row[(cc*p+dy)*p:(cc*p+dy+1)*p], plane[(y0+dy)*w+x0:(y0+dy)*w+x0+p])
					}
				}
				r++
			}
		}
	}
	return out
}

// task is DAGMM's training objective for the train pipeline.
type task struct {
	net *net
	cfg Config
}

func (t *task) Module() nn.Module { return t.net }

// Fingerprint names the settings outside train that change what is
// trained.
func (t *task) Fingerprint() string {
	c := t.cfg
	return fmt.Sprintf("size %d normalize %s patch %d stride %d lambda %g %g eps %g dropout %g", c.Size, c.Normalize, c.Patch, c.Stride,
		c.LambdaEnergy, c.LambdaCov, c.CovEps, c.Dropout)
}

// Loss is the paper's objective on the batch's patches: squared
// reconstruction distance + λ1·mean energy + λ2·P(Σ).
func (t *task) Loss(b *train.Batch, rng *rand.Rand) *nn.Var {
	x := nn.NewVar(t.cfg.patches(b.X.Clone()))
	recon, z := t.net.compress(x)
	gamma := t.net.memberships(z, rng)
	energy, pen := mixtureEnergy(z, gamma, float32(t.cfg.CovEps))
	rec := nn.Scale(nn.MSELoss(recon, x), float32(x.Shape()[1])) // mean over patches of ‖x − x'‖²
	loss := nn.Add(rec, nn.Scale(nn.Mean(energy), float32(t.cfg.LambdaEnergy)))
	return nn.Add(loss, nn.Scale(pen, float32(t.cfg.LambdaCov)))
}

// features returns z [N,Z] and, with memberships, γ [N,K] of patch rows,
// with gradients off and the networks in evaluation mode.
func (d *Detector) features(rows *tensor.Tensor, memberships bool) (z, gamma *tensor.Tensor) {
	nn.NoGrad(func() {
		_, zv := d.net.compress(nn.NewVar(rows))
		z = zv.Value
		if memberships {
			gamma = d.net.memberships(zv, nil).Value
		}
	})
	return z, gamma
}

// fitBatch is the number of images whose patches go through the networks
// together after training and when scoring.
const fitBatch = 8

// images copies images lo..hi-1 of set into one [B,C,Size,Size] tensor.
func (c Config) images(set *train.Set, lo, hi int) *tensor.Tensor {
	plane := c.Channels * c.Size * c.Size
	x := tensor.New(hi-lo, c.Channels, c.Size, c.Size)
	for i := lo; i < hi; i++ {
		copy(x.Data[(i-lo)*plane:], set.Image(i).Data)
	}
	return x
}

// Fit trains both networks end to end, then estimates the mixture from
// the memberships of every training patch.
func (d *Detector) Fit(ctx context.Context, imgs []*imageio.Image) error {
	if len(imgs) == 0 {
		return fmt.Errorf("dagmm: no training images")
	}
	if imgs[0] == nil {
		return fmt.Errorf("image 0: empty or inconsistent image")
	}
	cfg := d.cfg
	cfg.Channels = train.ModelChannels(cfg.Gray, imgs[0])
	if err := cfg.Validate(); err != nil {
		return err
	}
	set, err := cfg.workSet(imgs, cfg.Channels)
	if err != nil {
		return err
	}
	d.net, d.gmm = nil, nil // a failed fit leaves the detector unfitted
	m := cfg.newNet()
	trainSet, valSet := set.Split(cfg.Train.ValFraction, cfg.Train.Seed)
	if _, err := train.Fit(ctx, "dagmm", &task{net: m, cfg: cfg}, trainSet, valSet, cfg.Train, d.sess); err != nil {
		return err
	}
	m.Train(false)
	fitted := &Detector{cfg: cfg, net: m}
	var zs []float32
	var resp []float64
	for lo := 0; lo < set.Len(); lo += fitBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		z, g := fitted.features(cfg.patches(cfg.images(set, lo, min(lo+fitBatch, set.Len()))), true)
		zs = append(zs, z.Data...)
		for _, v := range g.Data {
			resp = append(resp, float64(v))
		}
	}
	zd := cfg.Latent + 2
	g, err := stats.GMMFromResponsibilities(zs, len(zs)/zd, zd, resp, cfg.Components, cfg.CovEps, false)
	if err != nil {
		return fmt.Errorf("dagmm: mixture of the training patches: %w", err)
	}
	for k, w := range g.Weights {
		if !(w > 0) {
			// No training patch is a member: give it a negligible weight
			// so it stays a valid (and saveable) component.
			g.Weights[k] = math.SmallestNonzeroFloat32
		}
	}
	d.cfg, d.net, d.gmm = cfg, m, g
	return nil
}

// Score returns each image's energy map and score.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.net == nil {
		return nil, fmt.Errorf("dagmm: not fitted")
	}
	set, err := d.cfg.workSet(images, d.cfg.Channels)
	if err != nil {
		return nil, err
	}
	c, s := d.cfg, d.cfg.Size
	ys, xs := origins(s, c.Patch, c.Stride), origins(s, c.Patch, c.Stride)
	per := len(ys) * len(xs)
	out := make([]detector.Result, len(images))
	var energy []float64
	for lo := 0; lo < len(images); lo += fitBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+fitBatch, len(images))
		z, _ := d.features(c.patches(c.images(set, lo, hi)), false)
		energy = d.gmm.Score(energy, z.Data, len(z.Data)/(c.Latent+2))
		for i := lo; i < hi; i++ {
			sum, cnt := make([]float64, s*s), make([]float64, s*s)
			r := (i - lo) * per
			for _, y0 := range ys {
				for _, x0 := range xs {
					e := energy[r]
					r++
					for y := y0; y < y0+c.Patch; y++ {
						for x := x0; x < x0+c.Patch; x++ {
							sum[y*s+x] += e
							cnt[y*s+x]++
						}
					}
				}
			}
			m := imageio.NewMap(s, s)
			for p := range m.Pix {
				m.Pix[p] = float32(sum[p] / cnt[p])
			}
			if c.Smooth > 0 {
				m = imageio.GaussianSmooth(m, c.Smooth)
			}
			score := math.Inf(-1)
			for _, v := range m.Pix {
				score = math.Max(score, float64(v))
			}
			if math.IsNaN(score) || math.IsInf(score, 0) {
				return nil, fmt.Errorf("dagmm: image %d: anomaly score %v", i, score)
			}
			if img := images[i]; img.H != s || img.W != s {
				m = imageio.ResizeMap(m, img.H, img.W)
			}
			out[i] = detector.Result{Score: score, Map: m}
		}
	}
	return out, nil
}
