// Package padim implements PaDiM (Defard et al., 2020): features of a
// pretrained CNN at several depths are upsampled to the finest tap's grid
// (bilinearly, by embedding.Concat; anomalib's PaDiM uses nearest
// neighbour there) and concatenated, a seeded random subset of d channels
// is kept, and a Gaussian is fitted at every feature-grid location. The
// anomaly map is the Mahalanobis distance to that Gaussian, upsampled
// bilinearly to the network input and Gaussian-smoothed (sigma 4 by
// default), as anomalib does; the image score is the map's maximum.
package padim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
)

// Config holds PaDiM's hyper-parameters. Keys absent from the JSON keep
// the DefaultConfig values; explicit zeros mean what the field documents.
// The help tags are what `vigil methods` prints.
type Config struct {
	embedding.Source
	embedding.Geometry
	Taps  []int   `json:"taps,omitempty" help:"backbone tap indices used; empty: all"`
	Dim   int     `json:"dim" help:"size of the random channel subset modelled per location"`
	Eps   float64 `json:"eps" help:"covariance shrinkage: covariance + eps*I (the paper's 0.01)"`
	Sigma float64 `json:"sigma" help:"map smoothing (Gaussian sigma, input pixels); 0: none"`
	Seed  uint64  `json:"seed" help:"seed of the random channel subset"`
	Half  bool    `json:"half,omitempty" help:"store the inverse covariances as float16 (half the model file)"`
	Batch int     `json:"batch,omitempty" help:"images per backbone batch"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Source:   embedding.Source{Backbone: "mobilenet_v2"}, // "auto" (resnet50 when converted) measured worse on magnetic tile and cookies: BENCHMARKS.md
		Geometry: embedding.Geometry{Size: 256, Aspect: embedding.AspectStretch},
		Dim:      100, Eps: 0.01, Sigma: 4, Batch: 8,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	if err := embedding.ValidateFeatures(c.Source, c.Geometry, c.Taps, c.Batch); err != nil {
		return fmt.Errorf("padim config: %v", err)
	}
	switch {
	case c.Dim < 1:
		return fmt.Errorf("padim config: dim %d must be >= 1", c.Dim)
	case c.Eps < 0:
		return fmt.Errorf("padim config: eps %g must be >= 0", c.Eps)
	case c.Sigma < 0:
		return fmt.Errorf("padim config: sigma %g must be >= 0", c.Sigma)
	}
	return nil
}

// Detector is a fitted (or unfitted) PaDiM model.
type Detector struct {
	cfg Config
	embedding.Lazy

	channels []int     // selected channel indices into the concatenated features
	h, w     int       // feature grid
	mean     []float32 // [h*w, d]
	// chol holds, per location, the lower triangle (row-major packed,
	// d(d+1)/2 values) of W = L⁻¹ where Σ = L Lᵀ (stats.Gaussian's
	// factor), so that the squared Mahalanobis distance is |W(x−μ)|².
	chol  []float32         // [h*w, d(d+1)/2]
	gauss []*stats.Gaussian // per location, over mean and chol (not copies)
}

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     "padim",
		Summary:  "PaDiM: a Gaussian of CNN features at every location, Mahalanobis distance map",
		New:      func(raw json.RawMessage) (detector.Detector, error) { return New(raw) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// New makes an unfitted detector from a JSON configuration (nil or {}:
// defaults).
func New(raw json.RawMessage) (*Detector, error) {
	c, err := detector.ParseConfig("padim", raw, DefaultConfig())
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: c}, nil
}

// Method is "padim".
func (d *Detector) Method() string { return "padim" }

// Config returns the configuration.
func (d *Detector) Config() any { return d.cfg }

// Preprocessing describes the input geometry.
func (d *Detector) Preprocessing() any { return d.cfg.Geometry }

// InputSize is the size every image is resized to first (before any crop;
// none in pad mode).
func (d *Detector) InputSize() (h, w int) { return d.cfg.Geometry.InputSize() }

// features extracts the concatenated, channel-selected features of a
// batch: N×d×h×w.
func (d *Detector) features(ex backbone.Extractor, f []*tensor.Tensor) (*tensor.Tensor, error) {
	taps := d.cfg.Taps
	if len(taps) == 0 {
		for i := range f {
			taps = append(taps, i)
		}
	}
	var sel []*tensor.Tensor
	for _, t := range taps {
		if t < 0 || t >= len(f) {
			return nil, fmt.Errorf("padim: tap %d out of range: backbone %s has %d taps", t, ex.Name(), len(f))
		}
		sel = append(sel, f[t])
	}
	h, w := sel[0].Shape[2], sel[0].Shape[3]
	for _, s := range sel {
		if s.Shape[2] > h {
			h, w = s.Shape[2], s.Shape[3]
		}
	}
	c := 0
	for _, s := range sel {
		c += s.Shape[1]
	}
	if d.channels == nil {
		k := min(d.cfg.Dim, c)
		r := rand.New(rand.NewPCG(d.cfg.Seed, 0xda41))
		d.channels = r.Perm(c)[:k]
		sort.Ints(d.channels)
	}
	if last := d.channels[len(d.channels)-1]; last >= c {
		return nil, fmt.Errorf("padim: model uses channel %d but backbone %s gives %d", last, ex.Name(), c)
	}
	// Keep only the selected channels of each tap before upsampling, so
	// unused channels are never upsampled. Channels are sorted, so the
	// per-tap groups concatenate in the model's order.
	var parts []*tensor.Tensor
	off, j := 0, 0
	for _, s := range sel {
		n, cs, hs, ws := s.Shape[0], s.Shape[1], s.Shape[2], s.Shape[3]
		j0 := j
		for j < len(d.channels) && d.channels[j] < off+cs {
			j++
		}
		if j > j0 {
			k, hw := j-j0, hs*ws
			part := tensor.New(n, k, hs, ws)
			for i := 0; i < n; i++ {
				for q, ch := range d.channels[j0:j] {
					copy(part.Data[(i*k+q)*hw:(i*k+q+1)*hw], s.Data[(i*cs+ch-off)*hw:(i*cs+ch-off+1)*hw])
				}
			}
			parts = append(parts, part)
		}
		off += cs
	}
	return embedding.Concat(parts, h, w), nil
}

// Fit estimates a Gaussian per feature-grid location, streaming the
// first and second moments so memory does not grow with the image count.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) < 2 {
		return fmt.Errorf("padim: need at least 2 training images, got %d", len(train))
	}
	d.cfg.Source = d.cfg.Source.Resolved() // the model records the backbone "auto" stood for
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return err
	}
	d.channels = nil
	var sum, sq []float64
	var k, L, tri int
	err = embedding.Extract(ex, d.cfg.Geometry, train, d.cfg.Batch, func(start int, f []*tensor.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		defer progress.Report(ctx, start+f[0].Shape[0], len(train))
		x, err := d.features(ex, f)
		if err != nil {
			return err
		}
		n := x.Shape[0]
		if sum == nil {
			k, d.h, d.w = x.Shape[1], x.Shape[2], x.Shape[3]
			L = d.h * d.w
			sum = make([]float64, L*k)
			tri = k * (k + 1) / 2
			sq = make([]float64, L*tri)
		}
		if x.Shape[2] != d.h || x.Shape[3] != d.w {
			return fmt.Errorf("padim: feature grid changed from %dx%d to %dx%d", d.h, d.w, x.Shape[2], x.Shape[3])
		}
		rows := embedding.Rows(x)
		tensor.ParallelChunks(L, 16, func(lo, hi int) {
			g := make([]float32, k*k)
			for l := lo; l < hi; l++ {
				xl := rows[l*k:]
				s := sum[l*k : (l+1)*k]
				for i := 0; i < n; i++ {
					for j, v := range xl[i*L*k : i*L*k+k] {
						s[j] += float64(v)
					}
				}
				// Second moments of this batch in float32, accumulated in
				// float64 across batches (lower triangle only, packed).
				gemm.SgemmSerial(true, false, k, k, n, 1, xl, L*k, xl, L*k, 0, g, k)
				acc := sq[l*tri : (l+1)*tri]
				o := 0
				for a := 0; a < k; a++ {
					for _, v := range g[a*k : a*k+a+1] {
						acc[o] += float64(v)
						o++
					}
				}
			}
		})
		return nil
	})
	if err != nil {
		return err
	}
	N := float64(len(train))
	d.mean = make([]float32, L*k)
	d.chol = make([]float32, L*tri)
	errs := make([]error, L)
	tensor.ParallelChunks(L, 8, func(lo, hi int) {
		cov := make([]float64, k*k) // lower triangle filled
		mu := make([]float64, k)
		work := make([]float64, 2*k*k)
		for l := lo; l < hi; l++ {
			for j := 0; j < k; j++ {
				mu[j] = sum[l*k+j] / N
			}
			acc := sq[l*tri : (l+1)*tri]
			o := 0
			for a := 0; a < k; a++ {
				for b := 0; b <= a; b++ {
					cov[a*k+b] = (acc[o] - N*mu[a]*mu[b]) / (N - 1)
					o++
				}
			}
			if err := stats.FactorInto(d.mean[l*k:(l+1)*k], d.chol[l*tri:(l+1)*tri], mu, cov, d.cfg.Eps, false, work); err != nil {
				errs[l] = fmt.Errorf("padim: covariance at location %d: %v (increase eps)", l, err)
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if d.cfg.Half {
		// Round now so scores after a float16 save and load equal these.
		for i, v := range d.chol {
			d.chol[i] = tensor.HalfToFloat32(tensor.Float32ToHalf(v))
		}
	}
	return d.prepare()
}

// prepare makes the per-location Gaussians over the stored means and
// factors, which it checks (finite, positive factor diagonal).
func (d *Detector) prepare() error {
	k, L := len(d.channels), d.h*d.w
	tri := k * (k + 1) / 2
	d.gauss = make([]*stats.Gaussian, L)
	errs := make([]error, L)
	tensor.ParallelChunks(L, 64, func(lo, hi int) {
		for l := lo; l < hi; l++ {
			d.gauss[l], errs[l] = stats.GaussianFromFactor(d.mean[l*k:(l+1)*k], d.chol[l*tri:(l+1)*tri], false)
		}
	})
	for l, err := range errs {
		if err != nil {
			d.gauss = nil
			return fmt.Errorf("tensor \"chol_inv\" or \"mean\" at location %d: %v", l, err)
		}
	}
	return nil
}

// Score computes Mahalanobis maps and image scores.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.gauss == nil {
		return nil, fmt.Errorf("padim: not fitted")
	}
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return nil, err
	}
	out := make([]detector.Result, len(images))
	L := d.h * d.w
	err = embedding.Extract(ex, d.cfg.Geometry, images, d.cfg.Batch, func(start int, f []*tensor.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := d.features(ex, f)
		if err != nil {
			return err
		}
		if x.Shape[2] != d.h || x.Shape[3] != d.w {
			return fmt.Errorf("padim: features are %dx%d, model was fitted on %dx%d", x.Shape[2], x.Shape[3], d.h, d.w)
		}
		n := x.Shape[0]
		grids := d.mahalanobis(embedding.Rows(x), n)
		// Maps are resized and smoothed image by image, in parallel.
		tensor.ParallelChunks(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				img := images[start+i]
				m, s := d.cfg.Geometry.ScoreMap(grids[i*L:(i+1)*L], d.h, d.w, d.cfg.Sigma, img.H, img.W)
				out[start+i] = detector.Result{Score: float64(s), Map: m}
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mahalanobis returns the n×L grid of Mahalanobis distances for rows
// (n·L rows of k features, row (i·L + l)). Per location the n images form
// an n×k matrix X (stride L·k between images) and Z = X Wᵀ − (Wμ)ᵀ is one
// small GEMM, so the factor bank is read once per batch, not per image.
func (d *Detector) mahalanobis(rows []float32, n int) []float32 {
	k, L := len(d.channels), d.h*d.w
	grids := make([]float32, n*L)
	tensor.ParallelChunks(L, 16, func(lo, hi int) {
		work := make([]float32, k*k+n*k)
		dist := make([]float32, n)
		for l := lo; l < hi; l++ {
			d.gauss[l].MahalanobisBatch(dist, rows[l*k:], n, L*k, work)
			for i, v := range dist {
				grids[i*L+l] = v
			}
		}
	})
	return grids
}

// Tensors returns the fitted state.
func (d *Detector) Tensors() []safetensors.Tensor {
	k, L := len(d.channels), d.h*d.w
	tri := k * (k + 1) / 2
	ch := make([]float32, k)
	for i, c := range d.channels {
		ch[i] = float32(c)
	}
	inv := safetensors.F32("chol_inv", []int{L, tri}, d.chol)
	if d.cfg.Half {
		inv = safetensors.F16("chol_inv", []int{L, tri}, d.chol)
	}
	return []safetensors.Tensor{
		safetensors.F32("channels", []int{k}, ch),
		safetensors.F32("grid", []int{2}, []float32{float32(d.h), float32(d.w)}),
		safetensors.F32("mean", []int{L, k}, d.mean),
		inv,
	}
}

// Restore loads the fitted state, checking every shape and value: the
// grid positive integers, the channel indices integers that strictly
// increase from 0 or more (Score indexes features with them), means and
// factors finite with a positive factor diagonal.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	nd, err := New(raw)
	if err != nil {
		return err
	}
	*d = *nd
	if d.h, d.w, err = modelcheck.Grid(ts, "grid"); err != nil {
		return err
	}
	ch, err := detector.Float32s(ts, "channels", -1)
	if err != nil {
		return err
	}
	k, L := len(ch), d.h*d.w
	if k == 0 || k > d.cfg.Dim {
		return fmt.Errorf("tensor \"channels\" has %d entries, want 1..%d (dim)", k, d.cfg.Dim)
	}
	d.channels = make([]int, k)
	lo := 0
	for i, v := range ch {
		// Channel indices come from a backbone: far below 1<<20.
		if d.channels[i], err = modelcheck.Int("channels", i, v, lo, 1<<20); err != nil {
			return fmt.Errorf("%v (indices must strictly increase)", err)
		}
		lo = d.channels[i] + 1
	}
	if d.mean, err = modelcheck.Float32s(ts, "mean", L, k); err != nil {
		return err
	}
	if d.chol, err = modelcheck.Float32s(ts, "chol_inv", L, k*(k+1)/2); err != nil {
		return err
	}
	return d.prepare()
}
