// Package knn implements the transfer-learning detector: features of a
// pretrained CNN (globally pooled per image, or per patch), reduced by PCA
// fitted on normal features, scored by the mean distance to the k nearest
// normal features. An optional k-means clustering of the normal set
// replaces it by centroids to speed up the search.
package knn

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nnsearch"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
)

// Config holds the detector's hyper-parameters. Keys absent from the JSON
// keep the DefaultConfig values; explicit zeros mean what the field
// documents. The help tags are what `vigil methods` prints.
type Config struct {
	embedding.Source
	embedding.Geometry
	Taps     []int   `json:"taps,omitempty" help:"backbone tap indices used; empty: all in image mode, the last two in patch mode"`
	Mode     string  `json:"mode" enum:"image,patch" help:"image: one globally pooled feature per image (no map); patch: one feature per grid cell, with a map"`
	Dim      int     `json:"dim" help:"PCA dimensions kept"`
	K        int     `json:"k" help:"nearest normal features whose distances are averaged into the score"`
	Clusters int     `json:"clusters" help:"k-means centroids replacing the normal features; 0: automatic (every feature in image mode, 2048 in patch mode)"`
	Iters    int     `json:"iters" help:"k-means iterations"`
	Sigma    float64 `json:"sigma" help:"patch-mode map smoothing (Gaussian sigma, input pixels); 0: none"`
	Seed     uint64  `json:"seed" help:"seed of the k-means initialisation"`
	Batch    int     `json:"batch,omitempty" help:"images per backbone batch"`
}

// patchClusters is the automatic k-means size in patch mode, where the
// normal set holds a feature per grid cell of every image and an exact
// search over all of them would be slow.
const patchClusters = 2048

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Source:   embedding.Source{Backbone: "mobilenet_v2"}, // "auto" (resnet50 when converted) measured worse on magnetic tile and cookies: BENCHMARKS.md
		Geometry: embedding.Geometry{Size: 224, Aspect: embedding.AspectStretch},
		Mode:     "image", Dim: 64, K: 5, Iters: 15, Sigma: 4, Batch: 8,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	if err := embedding.ValidateFeatures(c.Source, c.Geometry, c.Taps, c.Batch); err != nil {
		return fmt.Errorf("knn config: %v", err)
	}
	switch {
	case c.Dim < 1:
		return fmt.Errorf("knn config: dim %d must be >= 1", c.Dim)
	case c.K < 1:
		return fmt.Errorf("knn config: k %d must be >= 1", c.K)
	case c.Clusters < 0:
		return fmt.Errorf("knn config: clusters %d must be >= 0", c.Clusters)
	case c.Iters < 1:
		return fmt.Errorf("knn config: iters %d must be >= 1", c.Iters)
	case c.Sigma < 0:
		return fmt.Errorf("knn config: sigma %g must be >= 0", c.Sigma)
	}
	return nil
}

// Detector is a fitted (or unfitted) k-NN model.
type Detector struct {
	cfg Config
	embedding.Lazy
	in   int        // raw feature dimension
	dim  int        // PCA dimension
	pca  *stats.PCA // fitted on the normal rows
	h, w int        // patch grid (patch mode)
	bank *nnsearch.Bank
}

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     "knn",
		Summary:  "k nearest normal CNN features (per image or per patch) after PCA",
		New:      func(raw json.RawMessage) (detector.Detector, error) { return New(raw) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// New makes an unfitted detector from a JSON configuration (nil or {}:
// defaults).
func New(raw json.RawMessage) (*Detector, error) {
	c, err := detector.ParseConfig("knn", raw, DefaultConfig())
	if err != nil {
		return nil, err
	}
	if c.Clusters == 0 && c.Mode == "patch" {
		c.Clusters = patchClusters
	}
	return &Detector{cfg: c}, nil
}

// Method is "knn".
func (d *Detector) Method() string { return "knn" }

// Config returns the configuration.
func (d *Detector) Config() any { return d.cfg }

// Preprocessing describes the input geometry.
func (d *Detector) Preprocessing() any { return d.cfg.Geometry }

// InputSize is the size every image is resized to first (before any crop;
// none in pad mode).
func (d *Detector) InputSize() (h, w int) { return d.cfg.Geometry.InputSize() }

// rows returns raw feature rows for a batch: one per image (image mode)
// or one per grid cell (patch mode), plus the grid size.
func (d *Detector) rows(ex backbone.Extractor, f []*tensor.Tensor) (rows []float32, dim, h, w int, err error) {
	taps := d.cfg.Taps
	if len(taps) == 0 {
		for i := range f {
			taps = append(taps, i)
		}
		if d.cfg.Mode == "patch" && len(f) > 2 {
			taps = taps[len(f)-2:]
		}
	}
	var sel []*tensor.Tensor
	for _, t := range taps {
		if t < 0 || t >= len(f) {
			return nil, 0, 0, 0, fmt.Errorf("knn: tap %d out of range: backbone %s has %d taps", t, ex.Name(), len(f))
		}
		sel = append(sel, f[t])
	}
	if d.cfg.Mode == "image" {
		n := sel[0].Shape[0]
		tot := 0
		for _, s := range sel {
			tot += s.Shape[1]
		}
		rows = make([]float32, 0, n*tot)
		for i := 0; i < n; i++ {
			for _, s := range sel {
				rows = embedding.ChannelMeans(rows, s, i)
			}
		}
		return rows, tot, 1, 1, nil
	}
	h, w = sel[0].Shape[2], sel[0].Shape[3]
	for _, s := range sel {
		if s.Shape[2] > h {
			h, w = s.Shape[2], s.Shape[3]
		}
	}
	x := embedding.Concat(sel, h, w)
	return embedding.Rows(x), x.Shape[1], h, w, nil
}

// Fit collects normal features, fits PCA and builds the search set.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) < 2 {
		return fmt.Errorf("knn: need at least 2 training images, got %d", len(train))
	}
	d.cfg.Source = d.cfg.Source.Resolved() // the model records the backbone "auto" stood for
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return err
	}
	var all []float32
	err = embedding.Extract(ex, d.cfg.Geometry, train, d.cfg.Batch, func(start int, f []*tensor.Tensor) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		defer progress.Report(ctx, start+f[0].Shape[0], len(train))
		rows, dim, h, w, err := d.rows(ex, f)
		if err != nil {
			return err
		}
		d.in, d.h, d.w = dim, h, w
		all = append(all, rows...)
		return nil
	})
	if err != nil {
		return err
	}
	n := len(all) / d.in
	// Shifting by the first row (close to the mean) keeps the float32
	// second moments accurate.
	m := stats.NewMoments(d.in, slices.Clone(all[:d.in]))
	m.Add(all, n)
	d.dim = min(d.cfg.Dim, d.in, n-1)
	if d.pca, err = stats.FitPCA(m, d.dim); err != nil {
		return fmt.Errorf("knn: %w", err)
	}
	z := d.pca.Transform(nil, all, n)
	if d.cfg.Clusters > 0 && d.cfg.Clusters < n {
		z = stats.KMeans(z, n, d.dim, d.cfg.Clusters, d.cfg.Iters, d.cfg.Seed)
		n = d.cfg.Clusters
	}
	d.bank = nnsearch.NewBank(z, n, d.dim)
	return nil
}

// Score returns the mean distance to the k nearest normal features, per
// image (image mode) or per patch with a map (patch mode).
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.bank == nil {
		return nil, fmt.Errorf("knn: not fitted")
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
		rows, dim, h, w, err := d.rows(ex, f)
		if err != nil {
			return err
		}
		if dim != d.in || h != d.h || w != d.w {
			return fmt.Errorf("knn: features are %d-d on %dx%d, model has %d-d on %dx%d", dim, h, w, d.in, d.h, d.w)
		}
		nq := len(rows) / dim
		k := min(d.cfg.K, d.bank.N)
		dist, _ := d.bank.Search(d.pca.Transform(nil, rows, nq), nq, k)
		cell := make([]float32, nq)
		for q := 0; q < nq; q++ {
			var s float64
			for _, v := range dist[q*k : (q+1)*k] {
				s += math.Sqrt(float64(v))
			}
			cell[q] = float32(s / float64(k))
		}
		n := nq / L
		// Maps are resized and smoothed image by image, in parallel.
		tensor.ParallelChunks(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if d.cfg.Mode == "image" {
					out[start+i] = detector.Result{Score: float64(cell[i])}
					continue
				}
				img := images[start+i]
				m, s := d.cfg.Geometry.ScoreMap(cell[i*L:(i+1)*L], d.h, d.w, d.cfg.Sigma, img.H, img.W)
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

// Tensors returns the fitted state.
func (d *Detector) Tensors() []safetensors.Tensor {
	return []safetensors.Tensor{
		safetensors.F32("grid", []int{2}, []float32{float32(d.h), float32(d.w)}),
		safetensors.F32("pca_mean", []int{d.in}, d.pca.Mean),
		safetensors.F32("pca_components", []int{d.dim, d.in}, d.pca.Components),
		safetensors.F32("bank", []int{d.bank.N, d.dim}, d.bank.Data),
	}
}

// Restore loads the fitted state, checking shapes and values: a grid of
// positive integers (1×1 in image mode), finite tensors, unit-length
// principal directions no more than the configured dim.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	nd, err := New(raw)
	if err != nil {
		return err
	}
	*d = *nd
	if d.h, d.w, err = modelcheck.Grid(ts, "grid"); err != nil {
		return err
	}
	if d.cfg.Mode == "image" && (d.h != 1 || d.w != 1) {
		return fmt.Errorf("tensor \"grid\" is %dx%d, want 1x1 in image mode", d.h, d.w)
	}
	mt, err := detector.CheckShape(ts, "pca_mean", -1)
	if err != nil {
		return err
	}
	d.in = mt.Shape[0]
	ct, err := detector.CheckShape(ts, "pca_components", -1, d.in)
	if err != nil {
		return err
	}
	d.dim = ct.Shape[0]
	bt, err := detector.CheckShape(ts, "bank", -1, d.dim)
	if err != nil {
		return err
	}
	switch {
	case d.in < 1:
		return fmt.Errorf("tensor \"pca_mean\" is empty")
	case d.dim < 1 || d.dim > min(d.in, d.cfg.Dim):
		return fmt.Errorf("tensor \"pca_components\" has %d components, want 1..%d (dim %d, feature size %d)", d.dim, min(d.in, d.cfg.Dim), d.cfg.Dim, d.in)
	case bt.Shape[0] < 1:
		return fmt.Errorf("tensor \"bank\" is empty")
	}
	mean, err := modelcheck.Float32s(ts, "pca_mean", d.in)
	if err != nil {
		return err
	}
	comp, err := modelcheck.Float32s(ts, "pca_components", d.dim, d.in)
	if err != nil {
		return err
	}
	if d.pca, err = stats.NewPCA(mean, comp, d.dim); err != nil {
		return fmt.Errorf("tensor \"pca_components\": %w", err)
	}
	b, err := modelcheck.Float32s(ts, "bank", bt.Shape[0], d.dim)
	if err != nil {
		return err
	}
	d.bank = nnsearch.NewBank(b, bt.Shape[0], d.dim)
	return nil
}
