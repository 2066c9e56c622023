// Package aegmm is density estimation on autoencoder codes: the fully
// convolutional autoencoder of package ae is trained on normal images,
// its bottleneck code at every location of the normal images is
// collected, and a Gaussian mixture with full covariances is fitted to the
// codes by EM (stats.FitGMM). A location's anomaly score is the negative
// log-likelihood of its code under the mixture; the grid of scores is
// upsampled to the image, smoothed, and the image score taken from it as
// in package ae.
package aegmm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/ae"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/train"
)

// Name is the registry name of the method.
const Name = "aegmm"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "Gaussian mixture (EM) on the codes of a fully convolutional autoencoder; map = code negative log-likelihood",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config is the autoencoder's configuration plus the mixture's.
type Config struct {
	ae.Config
	Components int     `json:"components" help:"Gaussian mixture components (k)"`
	Reg        float64 `json:"reg" help:"added to every covariance diagonal, keeping it positive definite"`
	Iters      int     `json:"iters" help:"maximum EM iterations"`
	Tol        float64 `json:"tol" help:"EM stops when the mean log-likelihood per code gains less than this"`
	MaxCodes   int     `json:"max_codes" help:"cap on the training codes EM sees; above it a uniform sample of this many is drawn with seed"`
	Pool       int     `json:"pool" help:"odd side of the window of neighbouring code locations averaged into each location's code (a patch descriptor); 1: every location's own code"`
}

// DefaultConfig returns the defaults: ae's, but the autoencoder trained
// with SSIM (the setting measured for aegmm on the real sets).
func DefaultConfig() Config {
	a := ae.DefaultConfig()
	a.Loss = "ssim"
	return Config{Config: a, Components: 4, Reg: 1e-3, Iters: 100, Tol: 1e-4, MaxCodes: 50000, Pool: 1}
}

// ParseConfig reads a JSON configuration over the defaults and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	cfg := DefaultConfig()
	if err := detector.DecodeConfig(Name, raw, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	if err := c.Config.ValidateAs(Name); err != nil {
		return err
	}
	switch {
	case c.Components < 1:
		return fmt.Errorf("aegmm config: components %d must be >= 1", c.Components)
	case !(c.Reg > 0) || math.IsInf(c.Reg, 0):
		return fmt.Errorf("aegmm config: reg %g must be > 0", c.Reg)
	case c.Iters < 1:
		return fmt.Errorf("aegmm config: iters %d must be >= 1", c.Iters)
	case !(c.Tol > 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("aegmm config: tol %g must be > 0", c.Tol)
	case c.Pool < 1 || c.Pool%2 == 0:
		return fmt.Errorf("aegmm config: pool %d must be odd and >= 1", c.Pool)
	case c.MaxCodes < c.Components:
		return fmt.Errorf("aegmm config: max_codes %d must be >= components %d", c.MaxCodes, c.Components)
	}
	return nil
}

// Detector is the AE-GMM detector: an ae.Detector and a mixture on its codes.
type Detector struct {
	cfg Config
	ae  *ae.Detector
	gmm *stats.GMM
}

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	a, err := ae.NewFromConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, ae: a}, nil
}

// Method returns "aegmm".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any {
	c := d.cfg
	c.Config = d.ae.Settings()
	return c
}

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any { return d.ae.Preprocessing() }

// SetTrainSession passes the session to the autoencoder's training.
func (d *Detector) SetTrainSession(s train.Session) { d.ae.SetTrainSession(s) }

// TrainReport describes the autoencoder's training in the last Fit.
func (d *Detector) TrainReport() train.Report { return d.ae.TrainReport() }

// Fit trains the autoencoder, then fits the mixture on its codes.
func (d *Detector) Fit(ctx context.Context, imgs []*imageio.Image) error {
	d.gmm = nil
	if err := d.ae.Fit(ctx, imgs); err != nil {
		return err
	}
	latent := d.cfg.Latent
	var codes []float32
	for i, img := range imgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		work, err := d.ae.Work(img, i)
		if err != nil {
			return err
		}
		z, hc, wc := d.codes(work)
		codes = append(codes, z[:hc*wc*latent]...)
	}
	n := len(codes) / latent
	if n > d.cfg.MaxCodes {
		codes, n = sampleRows(codes, n, latent, d.cfg.MaxCodes, d.cfg.Seed), d.cfg.MaxCodes
	}
	if n < d.cfg.Components {
		return fmt.Errorf("aegmm: %d codes for %d components", n, d.cfg.Components)
	}
	g, err := stats.FitGMM(codes, n, latent, stats.GMMConfig{
		Components: d.cfg.Components, Iters: d.cfg.Iters, Tol: d.cfg.Tol, Reg: d.cfg.Reg, Seed: d.cfg.Seed})
	if err != nil {
		return fmt.Errorf("aegmm: %w", err)
	}
	// The model file stores float32 weights: use those now, so a loaded
	// model scores exactly as this one.
	for i, w := range g.Weights {
		g.Weights[i] = float64(float32(w))
	}
	d.gmm = g
	return nil
}

// codes returns the codes of the locations inside the working image as
// rows (location-major, hc×wc rows of Latent values) and the grid size.
// Locations wholly in the padding are left out.
func (d *Detector) codes(work *imageio.Image) (rows []float32, hc, wc int) {
	z := d.ae.Codes(d.ae.Padded(work))
	l, gh, gw := z.Shape[1], z.Shape[2], z.Shape[3]
	s := d.cfg.Stride
	off := d.ae.Margin() / s // the margin is whole code cells
	hc, wc = (work.H+s-1)/s, (work.W+s-1)/s
	rows = make([]float32, hc*wc*l)
	for y := 0; y < hc; y++ {
		for x := 0; x < wc; x++ {
			r := rows[(y*wc+x)*l : (y*wc+x+1)*l]
			for c := range r {
				r[c] = z.Data[(c*gh+y+off)*gw+x+off]
			}
		}
	}
	if d.cfg.Pool > 1 {
		rows = boxMean(rows, hc, wc, l, d.cfg.Pool/2)
	}
	return rows, hc, wc
}

// boxMean averages each location's row over the (2r+1)² window around it,
// clipped to the grid.
func boxMean(rows []float32, h, w, l, r int) []float32 {
	out := make([]float32, len(rows))
	acc := make([]float64, l)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			clear(acc)
			n := 0
			for yy := max(0, y-r); yy <= min(h-1, y+r); yy++ {
				for xx := max(0, x-r); xx <= min(w-1, x+r); xx++ {
					for c, v := range rows[(yy*w+xx)*l : (yy*w+xx+1)*l] {
						acc[c] += float64(v)
					}
					n++
				}
			}
			o := out[(y*w+x)*l : (y*w+x+1)*l]
			for c := range o {
				o[c] = float32(acc[c] / float64(n))
			}
		}
	}
	return out
}

// sampleRows draws k of the n rows uniformly without replacement (seeded),
// keeping their order.
func sampleRows(x []float32, n, d, k int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0xae99))
	keep := make([]bool, n)
	for _, i := range rng.Perm(n)[:k] {
		keep[i] = true
	}
	out := make([]float32, 0, k*d)
	for i, ok := range keep {
		if ok {
			out = append(out, x[i*d:(i+1)*d]...)
		}
	}
	return out
}

// NLLGrid returns the negative log-likelihood of every code of the working
// image (hc×wc, row-major).
func (d *Detector) NLLGrid(work *imageio.Image) (nll []float64, hc, wc int) {
	rows, hc, wc := d.codes(work)
	return d.gmm.Score(nil, rows, hc*wc), hc, wc
}

// Score returns each image's code NLL map and score.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.gmm == nil || d.ae.Net() == nil {
		return nil, fmt.Errorf("aegmm: not fitted")
	}
	out := make([]detector.Result, len(images))
	s := d.cfg.Stride
	for i, img := range images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		work, err := d.ae.Work(img, i)
		if err != nil {
			return nil, err
		}
		nll, hc, wc := d.NLLGrid(work)
		grid := imageio.NewMap(hc, wc)
		for j, v := range nll {
			grid.Pix[j] = float32(v)
		}
		// Cell (y, x) covers pixels [y·s, (y+1)·s): upsampling by s with
		// half-pixel centres puts each value at its cell's centre; then the
		// padding is cut off.
		up := imageio.ResizeMap(grid, hc*s, wc*s)
		m := ae.Crop(up.Pix, up.W, 0, work.H, work.W)
		if out[i], err = d.ae.Result(m, img.H, img.W, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Tensors returns the autoencoder's tensors plus "gmm.weights" [K],
// "gmm.means" [K,L] and "gmm.factors" [K,L(L+1)/2] (each component's
// packed inverse Cholesky factor, see stats.Gaussian).
func (d *Detector) Tensors() []safetensors.Tensor {
	k, l := len(d.gmm.Weights), d.gmm.Dim()
	w := make([]float32, k)
	means := make([]float32, 0, k*l)
	factors := make([]float32, 0, k*stats.PackedLen(l, false))
	for i, c := range d.gmm.Components {
		w[i] = float32(d.gmm.Weights[i])
		means = append(means, c.Mean...)
		factors = append(factors, c.W...)
	}
	return append(d.ae.Tensors(),
		safetensors.F32("gmm.weights", []int{k}, w),
		safetensors.F32("gmm.means", []int{k, l}, means),
		safetensors.F32("gmm.factors", []int{k, stats.PackedLen(l, false)}, factors))
}

// Restore loads a fitted model, checking every tensor: the autoencoder's
// as in package ae, mixture weights positive and summing to 1, finite
// means, factors of positive-definite covariances.
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	a, err := ae.NewFromConfig(cfg.Config)
	if err != nil {
		return err
	}
	if err := a.RestoreConfig(cfg.Config, tensors); err != nil {
		return err
	}
	k, l := cfg.Components, cfg.Latent
	w, err := modelcheck.Float32s(tensors, "gmm.weights", k)
	if err != nil {
		return err
	}
	means, err := modelcheck.Float32s(tensors, "gmm.means", k, l)
	if err != nil {
		return err
	}
	pl := stats.PackedLen(l, false)
	factors, err := modelcheck.Float32s(tensors, "gmm.factors", k, pl)
	if err != nil {
		return err
	}
	g := &stats.GMM{Weights: make([]float64, k), Components: make([]*stats.Gaussian, k)}
	var sum float64
	for i := 0; i < k; i++ {
		if !(w[i] > 0) {
			return fmt.Errorf("tensor %q: weight %d is %v, want > 0", "gmm.weights", i, w[i])
		}
		g.Weights[i] = float64(w[i])
		sum += float64(w[i])
		c, err := stats.GaussianFromFactor(means[i*l:(i+1)*l], factors[i*pl:(i+1)*pl], false)
		if err != nil {
			return fmt.Errorf("tensor %q: component %d: %w", "gmm.factors", i, err)
		}
		g.Components[i] = c
	}
	if math.Abs(sum-1) > 1e-4 {
		return fmt.Errorf("tensor %q: weights sum to %v, want 1", "gmm.weights", sum)
	}
	d.cfg, d.ae, d.gmm = cfg, a, g
	return nil
}
