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
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/vigil-ad/vigil/backbone"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nnsearch"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// Config holds the detector's hyper-parameters. Keys absent from the JSON
// keep the DefaultConfig values; explicit zeros mean what the field
// documents. The help tags are what `vigil methods` prints.
type Config struct {
	embedding.Source   `help.backbone:"feature extractor: mobilenet_v2, mobilenet_v1, a .tflite/.onnx file, or random[:seed] (untrained, for tests)" help.backbone_dir:"folder searched first for backbone files (else $VIGIL_BACKBONE_DIR, then $VIGIL_HOME/backbones)" help.layers:"layer names to tap (ONNX backbones); empty: the backbone's default taps"`
	embedding.Geometry `help.size:"images are resized to size x size (a multiple of 32)" help.crop:"centre crop to crop x crop after resizing (a multiple of 32); 0: no crop"`
	Taps               []int   `json:"taps,omitempty" help:"backbone tap indices used; empty: all in image mode, the last two in patch mode"`
	Mode               string  `json:"mode" enum:"image,patch" help:"image: one globally pooled feature per image (no map); patch: one feature per grid cell, with a map"`
	Dim                int     `json:"dim" help:"PCA dimensions kept"`
	K                  int     `json:"k" help:"nearest normal features whose distances are averaged into the score"`
	Clusters           int     `json:"clusters" help:"k-means centroids replacing the normal features; 0: automatic (every feature in image mode, 2048 in patch mode)"`
	Iters              int     `json:"iters" help:"k-means iterations"`
	Sigma              float64 `json:"sigma" help:"patch-mode map smoothing (Gaussian sigma, input pixels); 0: none"`
	Seed               uint64  `json:"seed" help:"seed of the k-means initialisation"`
	Batch              int     `json:"batch,omitempty" help:"images per backbone batch"`
}

// patchClusters is the automatic k-means size in patch mode, where the
// normal set holds a feature per grid cell of every image and an exact
// search over all of them would be slow.
const patchClusters = 2048

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Source:   embedding.Source{Backbone: "mobilenet_v2"},
		Geometry: embedding.Geometry{Size: 224},
		Mode:     "image", Dim: 64, K: 5, Iters: 15, Sigma: 4, Batch: 8,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	if err := c.Geometry.Validate(); err != nil {
		return fmt.Errorf("knn config: %v", err)
	}
	switch {
	case c.Backbone == "":
		return fmt.Errorf("knn config: backbone must be set")
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
	case c.Batch < 1:
		return fmt.Errorf("knn config: batch %d must be >= 1", c.Batch)
	}
	for _, t := range c.Taps {
		if t < 0 {
			return fmt.Errorf("knn config: taps: index %d must be >= 0", t)
		}
	}
	return nil
}

// Detector is a fitted (or unfitted) k-NN model.
type Detector struct {
	cfg Config
	embedding.Lazy
	in   int       // raw feature dimension
	dim  int       // PCA dimension
	mean []float32 // [in]
	comp []float32 // [dim, in] principal directions
	h, w int       // patch grid (patch mode)
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
	c := DefaultConfig()
	if err := detector.DecodeConfig("knn", raw, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
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
		rows = make([]float32, n*tot)
		off := 0
		for _, s := range sel {
			c, hw := s.Shape[1], s.Shape[2]*s.Shape[3]
			for i := 0; i < n; i++ {
				for ch := 0; ch < c; ch++ {
					var sum float32
					for _, v := range s.Data[(i*c+ch)*hw : (i*c+ch+1)*hw] {
						sum += v
					}
					rows[i*tot+off+ch] = sum / float32(hw)
				}
			}
			off += c
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

// project maps raw rows (n×in) to PCA coordinates (n×dim):
// rows·compᵀ − comp·mean, one parallel GEMM.
func (d *Detector) project(rows []float32, n int) []float32 {
	out := make([]float32, n*d.dim)
	gemm.Sgemm(false, true, n, d.dim, d.in, 1, rows, d.in, d.comp, d.in, 0, out, d.dim)
	bias := make([]float32, d.dim)
	for j := range bias {
		var s float64
		for a, v := range d.comp[j*d.in : (j+1)*d.in] {
			s += float64(v) * float64(d.mean[a])
		}
		bias[j] = float32(s)
	}
	tensor.ParallelChunks(n, 1024, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := out[i*d.dim : (i+1)*d.dim]
			for j := range row {
				row[j] -= bias[j]
			}
		}
	})
	return out
}

// Fit collects normal features, fits PCA and builds the search set.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) < 2 {
		return fmt.Errorf("knn: need at least 2 training images, got %d", len(train))
	}
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
	if err := d.fitPCA(all, n); err != nil {
		return err
	}
	z := d.project(all, n)
	if d.cfg.Clusters > 0 && d.cfg.Clusters < n {
		z = KMeans(z, n, d.dim, d.cfg.Clusters, d.cfg.Iters, d.cfg.Seed)
		n = d.cfg.Clusters
	}
	d.bank = nnsearch.NewBank(z, n, d.dim)
	return nil
}

// fitPCA computes the mean and the top principal directions of n rows.
func (d *Detector) fitPCA(all []float32, n int) error {
	in := d.in
	d.dim = min(d.cfg.Dim, in, n-1)
	mean := make([]float64, in)
	for i := 0; i < n; i++ {
		for a := 0; a < in; a++ {
			mean[a] += float64(all[i*in+a])
		}
	}
	for a := range mean {
		mean[a] /= float64(n)
	}
	// Covariance: centred chunks of rows, their Gram matrices by GEMM in
	// float32, summed in float64.
	const chunk = 2048
	nch := (n + chunk - 1) / chunk
	workers := tensor.Workers()
	partial := make([][]float64, workers)
	per := (nch + workers - 1) / workers
	tensor.ParallelChunks(workers, 1, func(lo, hi int) {
		for wk := lo; wk < hi; wk++ {
			acc := make([]float64, in*in)
			cen := make([]float32, chunk*in)
			g := make([]float32, in*in)
			for c := wk * per; c < min((wk+1)*per, nch); c++ {
				i0, i1 := c*chunk, min((c+1)*chunk, n)
				for i := i0; i < i1; i++ {
					for a := 0; a < in; a++ {
						cen[(i-i0)*in+a] = float32(float64(all[i*in+a]) - mean[a])
					}
				}
				gemm.SgemmSerial(true, false, in, in, i1-i0, 1, cen, in, cen, in, 0, g, in)
				for a, v := range g {
					acc[a] += float64(v)
				}
			}
			partial[wk] = acc
		}
	})
	cov := make([]float64, in*in)
	for _, acc := range partial {
		for a, v := range acc {
			cov[a] += v
		}
	}
	for a := 0; a < in; a++ {
		for b := a; b < in; b++ {
			v := (cov[a*in+b] + cov[b*in+a]) / 2 / float64(n-1)
			cov[a*in+b], cov[b*in+a] = v, v
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(in, cov), true) {
		return fmt.Errorf("knn: PCA eigen-decomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	order := make([]int, in)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	d.mean = make([]float32, in)
	for a := range mean {
		d.mean[a] = float32(mean[a])
	}
	d.comp = make([]float32, d.dim*in)
	for j := 0; j < d.dim; j++ {
		for a := 0; a < in; a++ {
			d.comp[j*in+a] = float32(vecs.At(a, order[j]))
		}
	}
	return nil
}

// KMeans clusters n rows of x (n×dim) into k centroids with k-means++
// seeding and Lloyd iterations; it returns the k×dim centroids. Seeding
// runs on a seeded random sample of at most 16·k rows (its cost is
// sequential in k), the Lloyd steps on a sample of at most 64·k rows
// (as FAISS caps points per centroid), so the cost does not grow with n.
func KMeans(x []float32, n, dim, k, iters int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x4b3a))
	cent := make([]float32, k*dim)
	if n > 64*k {
		nl := 64 * k
		sub := make([]float32, nl*dim)
		for i, j := range r.Perm(n)[:nl] {
			copy(sub[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
		}
		x, n = sub, nl
	}
	sample := x
	ns := n
	if n > 16*k {
		ns = 16 * k
		sample = make([]float32, ns*dim)
		for i, j := range r.Perm(n)[:ns] {
			copy(sample[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim])
		}
	}
	first := r.IntN(ns)
	copy(cent[:dim], sample[first*dim:(first+1)*dim])
	// k-means++: each next centroid drawn with probability ∝ D².
	d2 := make([]float64, ns)
	for i := range d2 {
		d2[i] = math.Inf(1)
	}
	for c := 1; c < k; c++ {
		prev := cent[(c-1)*dim : c*dim]
		tensor.ParallelChunks(ns, 2048, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var s float64
				for a, v := range sample[i*dim : (i+1)*dim] {
					t := float64(v - prev[a])
					s += t * t
				}
				d2[i] = math.Min(d2[i], s)
			}
		})
		total := 0.0
		for _, v := range d2 {
			total += v
		}
		pick := 0
		if total > 0 {
			u := r.Float64() * total
			for pick = 0; pick < ns-1; pick++ {
				u -= d2[pick]
				if u <= 0 {
					break
				}
			}
		} else {
			pick = r.IntN(ns)
		}
		copy(cent[c*dim:(c+1)*dim], sample[pick*dim:(pick+1)*dim])
	}
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	for it := 0; it < iters; it++ {
		_, idx := nnsearch.NewBank(cent, k, dim).Search(x, n, 1)
		clear(sums)
		clear(counts)
		for i, c := range idx {
			counts[c]++
			for a, v := range x[i*dim : (i+1)*dim] {
				sums[int(c)*dim+a] += float64(v)
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] == 0 {
				continue // an empty cluster keeps its centroid
			}
			for a := 0; a < dim; a++ {
				cent[c*dim+a] = float32(sums[c*dim+a] / float64(counts[c]))
			}
		}
	}
	return cent
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
		dist, _ := d.bank.Search(d.project(rows, nq), nq, k)
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
		safetensors.F32("pca_mean", []int{d.in}, d.mean),
		safetensors.F32("pca_components", []int{d.dim, d.in}, d.comp),
		safetensors.F32("bank", []int{d.bank.N, d.dim}, d.bank.Data),
	}
}

// Restore loads the fitted state, checking shapes.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	nd, err := New(raw)
	if err != nil {
		return err
	}
	*d = *nd
	grid, err := detector.Float32s(ts, "grid", 2)
	if err != nil {
		return err
	}
	d.h, d.w = int(grid[0]), int(grid[1])
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
	if d.in < 1 || d.dim < 1 || bt.Shape[0] < 1 || d.h < 1 || d.w < 1 {
		return fmt.Errorf("knn: empty tensors in model")
	}
	if d.mean, err = mt.Float32s(); err != nil {
		return err
	}
	if d.comp, err = ct.Float32s(); err != nil {
		return err
	}
	b, err := bt.Float32s()
	if err != nil {
		return err
	}
	d.bank = nnsearch.NewBank(b, bt.Shape[0], d.dim)
	return nil
}
