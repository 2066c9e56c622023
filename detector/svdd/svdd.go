// Package svdd is Support Vector Data Description (Tax & Duin, Machine
// Learning 54, 2004): the smallest sphere in the feature space of an RBF
// kernel that holds the normal training vectors, a fraction ν of them
// allowed outside (C = 1/(νN)). The dual is solved by SMO; the score of an
// image is its squared distance to the centre minus R², so it is positive
// outside the sphere.
//
// Feature vectors are the pixels of the image resized to size×size
// (optionally gray, optionally with global contrast normalisation), or
// their projection on the leading principal directions of the normal set.
//
// Kernel width: k(x,y) = exp(−γ‖x−y‖²) with, unless gamma is given,
// γ = 1/median ‖xᵢ−xⱼ‖² over pairs of (up to 1000, seeded) training
// vectors — the median heuristic (Gretton et al.; Schölkopf & Smola),
// which puts a typical pair at kernel value 1/e.
package svdd

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/progress"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
)

// Name is the registry name of the method.
const Name = "svdd"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "kernel SVDD (Tax & Duin): smallest RBF-kernel sphere around normal pixel/PCA vectors; image scores only",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters; keys absent from the JSON keep the
// defaults. The help tags are what `vigil methods` prints.
type Config struct {
	Features string  `json:"features" enum:"pixels,pca" help:"feature vector: pixels of the resized image, or their PCA projection on dim directions"`
	Size     int     `json:"size" help:"images are resized to size x size before the pixels are taken"`
	Gray     bool    `json:"gray" help:"convert images to one luminance channel"`
	Norm     string  `json:"norm" enum:"none,gcn" help:"per-image normalisation of the pixels: none, or gcn (global contrast: subtract the image mean, divide by its mean absolute deviation)"`
	Dim      int     `json:"dim" help:"principal directions kept with features pca"`
	Nu       float64 `json:"nu" help:"fraction of training vectors allowed outside the sphere, in (0,1]; C = 1/(nu N)"`
	Gamma    float64 `json:"gamma" help:"RBF kernel k(x,y) = exp(-gamma |x-y|^2); 0: median heuristic, 1/median of the pairwise squared distances"`
	MaxTrain int     `json:"max_train" help:"cap on training vectors (the kernel matrix is max_train^2 floats); above it a seeded uniform sample is used"`
	Tol      float64 `json:"tol" help:"SMO stopping tolerance on the maximal KKT violation"`
	MaxIter  int     `json:"max_iter" help:"SMO iteration bound (an error beyond it); 0: max(1e6, 100 N)"`
	Seed     uint64  `json:"seed" help:"seed of the training sample and of the pairs of the median heuristic"`
	Channels int     `json:"channels,omitempty" help:"set by fit: channel count of the images (1 with gray); leave unset"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Features: "pixels", Size: 32, Gray: true, Norm: "none", Dim: 64, Nu: 0.1, MaxTrain: 6000, Tol: 1e-3}
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	switch {
	case c.Features != "pixels" && c.Features != "pca":
		return fmt.Errorf("svdd config: features %q must be \"pixels\" or \"pca\"", c.Features)
	case c.Size < 1 || c.Size > 512:
		return fmt.Errorf("svdd config: size %d must be in 1..512", c.Size)
	case c.Norm != "none" && c.Norm != "gcn":
		return fmt.Errorf("svdd config: norm %q must be \"none\" or \"gcn\"", c.Norm)
	case c.Features == "pca" && c.Dim < 1:
		return fmt.Errorf("svdd config: dim %d must be >= 1", c.Dim)
	case !(c.Nu > 0 && c.Nu <= 1):
		return fmt.Errorf("svdd config: nu %g must be in (0,1]", c.Nu)
	case !(c.Gamma >= 0) || math.IsInf(c.Gamma, 0):
		return fmt.Errorf("svdd config: gamma %g must be >= 0 and finite", c.Gamma)
	case c.MaxTrain < 2:
		return fmt.Errorf("svdd config: max_train %d must be >= 2", c.MaxTrain)
	case !(c.Tol > 0):
		return fmt.Errorf("svdd config: tol %g must be > 0", c.Tol)
	case c.MaxIter < 0:
		return fmt.Errorf("svdd config: max_iter %d must be >= 0", c.MaxIter)
	case c.Channels < 0 || c.Channels > 3 || (c.Gray && c.Channels > 1):
		return fmt.Errorf("svdd config: channels %d must be 1 or 3 (1 with gray)", c.Channels)
	}
	return nil
}

// ParseConfig reads a JSON configuration over the defaults and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return detector.ParseConfig(Name, raw, DefaultConfig())
}

// Detector is a kernel SVDD model. Scoring is safe for concurrent use.
type Detector struct {
	cfg   Config
	pca   *stats.PCA // features pca only
	sv    []float32  // support vectors, nsv × dim (feature space before the kernel)
	alpha []float32  // their dual weights, summing to 1
	dim   int
	gamma float64
	aKa   float64 // αᵀKα
	r2    float64
}

// New makes an unfitted detector (nil config = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "svdd".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, with the fitted channel count.
func (d *Detector) Config() any { return d.cfg }

// InputSize is the working resolution every image is resized to first.
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// PixelPrep describes the input preprocessing of Pixels for the model
// file (svdd and deepsvdd).
type PixelPrep struct {
	Size int    `json:"size"`
	Gray bool   `json:"gray"`
	Norm string `json:"norm"`
}

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any { return PixelPrep{d.cfg.Size, d.cfg.Gray, d.cfg.Norm} }

// Pixels converts one decoded image into the pixel vector of a size×size
// working image with the given channel count (alpha dropped, gray
// converted or replicated as needed), normalised per norm ("none" or
// "gcn"). deepsvdd shares it so both methods see the same inputs.
func Pixels(dst []float32, img *imageio.Image, idx, size, channels int, norm string) error {
	if img == nil || img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
		return fmt.Errorf("image %d: empty or inconsistent image", idx)
	}
	if img.C == 2 || img.C == 4 { // alpha carries no appearance
		img = &imageio.Image{C: img.C - 1, H: img.H, W: img.W, Pix: img.Pix[:(img.C-1)*img.H*img.W]}
	}
	var err error
	switch {
	case img.C == channels:
	case channels == 1:
		img, err = imageio.ToGray(img)
	case channels == 3 && img.C == 1:
		img, err = imageio.ToRGB(img)
	default:
		err = fmt.Errorf("%d channels; the model uses %d", img.C, channels)
	}
	if err != nil {
		return fmt.Errorf("image %d: %w", idx, err)
	}
	if img.H != size || img.W != size {
		img = imageio.Resize(img, size, size)
	}
	if len(dst) != len(img.Pix) {
		return fmt.Errorf("image %d: %d pixel values, want %d", idx, len(img.Pix), len(dst))
	}
	copy(dst, img.Pix)
	if norm == "gcn" {
		// Global contrast normalisation with the l1 scale, as Ruff et al.
		// preprocess MNIST; a flat image stays at zero.
		var s float64
		for _, v := range dst {
			s += float64(v)
		}
		mean := s / float64(len(dst))
		var a float64
		for _, v := range dst {
			a += math.Abs(float64(v) - mean)
		}
		a /= float64(len(dst))
		inv := 0.0
		if a > 1e-8 {
			inv = 1 / a
		}
		for i, v := range dst {
			dst[i] = float32((float64(v) - mean) * inv)
		}
	}
	return nil
}

// channelsFor is the working channel count for training images.
func (c Config) channelsFor(img *imageio.Image) int {
	if c.Gray || img == nil || img.C <= 2 {
		return 1
	}
	return 3
}

// pixels converts images to pixel rows (n × channels·size²), in parallel.
func (d *Detector) pixels(ctx context.Context, images []*imageio.Image, report bool) ([]float32, error) {
	p := d.cfg.Channels * d.cfg.Size * d.cfg.Size
	out := make([]float32, len(images)*p)
	errs := make([]error, len(images))
	tensor.ParallelChunks(len(images), 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			errs[i] = Pixels(out[i*p:(i+1)*p], images[i], i, d.cfg.Size, d.cfg.Channels, d.cfg.Norm)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if report {
		progress.Report(ctx, len(images), len(images))
	}
	return out, nil
}

// features maps images to the vectors the kernel sees.
func (d *Detector) features(ctx context.Context, images []*imageio.Image) ([]float32, error) {
	x, err := d.pixels(ctx, images, false)
	if err != nil {
		return nil, err
	}
	if d.pca != nil {
		x = d.pca.Transform(nil, x, len(images))
	}
	return x, nil
}

// sample returns the sorted indices of a seeded uniform sample of k of n.
func sample(n, k int, seed uint64) []int {
	if k >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := rand.New(rand.NewPCG(seed, 0x73766464)).Perm(n)[:k] // "svdd"
	slices.Sort(idx)
	return idx
}

// rowNorms returns ‖xᵢ‖² for the n rows of x.
func rowNorms(x []float32, n, dim int) []float32 {
	out := make([]float32, n)
	for i := range out {
		var s float64
		for _, v := range x[i*dim : (i+1)*dim] {
			s += float64(v) * float64(v)
		}
		out[i] = float32(s)
	}
	return out
}

// sqDists writes ‖aᵢ − bⱼ‖² (na × nb) into dst via one GEMM and the norms.
func sqDists(dst, a []float32, na int, b []float32, nb, dim int) []float32 {
	if cap(dst) < na*nb {
		dst = make([]float32, na*nb)
	}
	dst = dst[:na*nb]
	if na == 0 || nb == 0 {
		return dst
	}
	gemm.Sgemm(false, true, na, nb, dim, -2, a, dim, b, dim, 0, dst, nb)
	an, bn := rowNorms(a, na, dim), rowNorms(b, nb, dim)
	tensor.ParallelChunks(na, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := dst[i*nb : (i+1)*nb]
			for j := range row {
				row[j] = max(0, row[j]+an[i]+bn[j]) // rounding can go below 0
			}
		}
	})
	return dst
}

// heuristicPairs bounds the points of the median heuristic.
const heuristicPairs = 1000

// medianGamma is 1/median of the pairwise squared distances among up to
// heuristicPairs seeded training vectors.
func medianGamma(x []float32, n, dim int, seed uint64) (float64, error) {
	idx := sample(n, heuristicPairs, seed^0x6d656469616e) // "median"
	sub := make([]float32, 0, len(idx)*dim)
	for _, i := range idx {
		sub = append(sub, x[i*dim:(i+1)*dim]...)
	}
	m := len(idx)
	all := sqDists(nil, sub, m, sub, m, dim)
	var pair []float32
	for i := 0; i < m; i++ {
		pair = append(pair, all[i*m+i+1:(i+1)*m]...)
	}
	if len(pair) == 0 {
		return 0, fmt.Errorf("svdd: need at least 2 training vectors for the kernel width")
	}
	slices.Sort(pair)
	med := float64(pair[len(pair)/2])
	if !(med > 0) {
		return 0, fmt.Errorf("svdd: median pairwise distance is 0 (training vectors are mostly identical); set gamma")
	}
	return 1 / med, nil
}

// kernel turns squared distances into RBF kernel values in place.
func kernel(d2 []float32, gamma float64) {
	g := float32(gamma)
	tensor.ParallelChunks(len(d2), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d2[i] = float32(math.Exp(float64(-g * d2[i])))
		}
	})
}

// Fit solves SVDD on the (sampled) training vectors.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) < 2 {
		return fmt.Errorf("svdd: need at least 2 training images, got %d", len(train))
	}
	d.sv, d.pca = nil, nil // a failed fit leaves the detector unfitted
	cfg := d.cfg
	cfg.Channels = cfg.channelsFor(train[0])
	if err := cfg.Validate(); err != nil {
		return err
	}
	d.cfg = cfg
	idx := sample(len(train), cfg.MaxTrain, cfg.Seed)
	imgs := make([]*imageio.Image, len(idx))
	for j, i := range idx {
		imgs[j] = train[i]
	}
	n := len(imgs)
	x, err := d.pixels(ctx, imgs, true)
	if err != nil {
		return err
	}
	dim := cfg.Channels * cfg.Size * cfg.Size
	if cfg.Features == "pca" {
		m := stats.NewMoments(dim, slices.Clone(x[:dim]))
		m.Add(x, n)
		k := min(cfg.Dim, dim, n-1)
		p, err := stats.FitPCA(m, k)
		if err != nil {
			return fmt.Errorf("svdd: %w", err)
		}
		x = p.Transform(nil, x, n)
		dim = k
		d.pca = p
	}
	if err := modelcheck.Finite("features", x); err != nil {
		return fmt.Errorf("svdd: %w", err)
	}
	gamma := cfg.Gamma
	if gamma == 0 {
		if gamma, err = medianGamma(x, n, dim, cfg.Seed); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	km := sqDists(nil, x, n, x, n, dim)
	kernel(km, gamma)
	for i := 0; i < n; i++ {
		km[i*n+i] = 1 // exactly, whatever the rounding of the norms
	}
	maxIter := cfg.MaxIter
	if maxIter == 0 {
		maxIter = max(1_000_000, 100*n)
	}
	sol, err := solveSMO(km, n, 1/(cfg.Nu*float64(n)), smoOptions{tol: cfg.Tol, maxIter: maxIter})
	if err != nil {
		return err
	}
	var sv, alpha []float32
	for i, a := range sol.alpha {
		if a > 0 {
			sv = append(sv, x[i*dim:(i+1)*dim]...)
			alpha = append(alpha, float32(a))
		}
	}
	// The sphere is kept at the float32 precision it is saved with, so a
	// reloaded model scores identically.
	d.sv, d.alpha, d.dim = sv, alpha, dim
	d.gamma, d.aKa, d.r2 = float64(float32(gamma)), float64(float32(sol.aKa)), float64(float32(sol.r2))
	return nil
}

// distances returns ‖φ(x) − a‖² − R² for the n feature rows of x.
func (d *Detector) distances(x []float32, n int) []float64 {
	nsv := len(d.alpha)
	k := sqDists(nil, x, n, d.sv, nsv, d.dim)
	kernel(k, d.gamma)
	out := make([]float64, n)
	for i := range out {
		var s float64
		for j, v := range k[i*nsv : (i+1)*nsv] {
			s += float64(d.alpha[j]) * float64(v)
		}
		out[i] = 1 - 2*s + d.aKa - d.r2 // k(x,x) = 1 for the RBF kernel
	}
	return out
}

// scoreBatch bounds the images featurised at once.
const scoreBatch = 256

// Score returns ‖φ(x) − a‖² − R² per image (no map).
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.sv == nil {
		return nil, fmt.Errorf("svdd: model is not fitted")
	}
	out := make([]detector.Result, len(images))
	for lo := 0; lo < len(images); lo += scoreBatch {
		hi := min(len(images), lo+scoreBatch)
		x, err := d.features(ctx, images[lo:hi])
		if err != nil {
			return nil, err
		}
		for i, s := range d.distances(x, hi-lo) {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("svdd: image %d: score is %v", lo+i, s)
			}
			out[lo+i] = detector.Result{Score: s}
		}
	}
	return out, nil
}

// Tensors returns "sv" [nsv, dim], "alpha" [nsv], "sphere" [3] = (gamma,
// αᵀKα, R²) and, with features pca, "pca_mean" and "pca_components".
func (d *Detector) Tensors() []safetensors.Tensor {
	ts := []safetensors.Tensor{
		safetensors.F32("sv", []int{len(d.alpha), d.dim}, d.sv),
		safetensors.F32("alpha", []int{len(d.alpha)}, d.alpha),
		safetensors.F32("sphere", []int{3}, []float32{float32(d.gamma), float32(d.aKa), float32(d.r2)}),
	}
	if d.pca != nil {
		ts = append(ts,
			safetensors.F32("pca_mean", []int{d.pca.Dim()}, d.pca.Mean),
			safetensors.F32("pca_components", []int{d.pca.K(), d.pca.Dim()}, d.pca.Components))
	}
	return ts
}

// Restore loads a fitted model, checking every tensor's shape and values.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels < 1 {
		return fmt.Errorf("svdd config: channels missing (model was never fitted)")
	}
	nd := &Detector{cfg: cfg}
	in := cfg.Channels * cfg.Size * cfg.Size
	nd.dim = in
	if cfg.Features == "pca" {
		ct, err := detector.CheckShape(ts, "pca_components", -1, in)
		if err != nil {
			return err
		}
		k := ct.Shape[0]
		if k < 1 || k > min(cfg.Dim, in) {
			return fmt.Errorf("tensor \"pca_components\" has %d components, want 1..%d", k, min(cfg.Dim, in))
		}
		mean, err := modelcheck.Float32s(ts, "pca_mean", in)
		if err != nil {
			return err
		}
		comp, err := modelcheck.Float32s(ts, "pca_components", k, in)
		if err != nil {
			return err
		}
		if nd.pca, err = stats.NewPCA(mean, comp, k); err != nil {
			return fmt.Errorf("tensor \"pca_components\": %w", err)
		}
		nd.dim = k
	}
	at, err := detector.CheckShape(ts, "alpha", -1)
	if err != nil {
		return err
	}
	nsv := at.Shape[0]
	if nsv < 1 {
		return fmt.Errorf("tensor \"alpha\" is empty")
	}
	if nd.alpha, err = modelcheck.Float32s(ts, "alpha", nsv); err != nil {
		return err
	}
	var sum float64
	for i, a := range nd.alpha {
		if !(a > 0 && a <= 1) {
			return fmt.Errorf("tensor \"alpha\": entry %d is %v, want a weight in (0,1]", i, a)
		}
		sum += float64(a)
	}
	if math.Abs(sum-1) > 1e-3 {
		return fmt.Errorf("tensor \"alpha\": weights sum to %v, want 1", sum)
	}
	if nd.sv, err = modelcheck.Float32s(ts, "sv", nsv, nd.dim); err != nil {
		return err
	}
	sp, err := sphere(ts)
	if err != nil {
		return err
	}
	nd.gamma, nd.aKa, nd.r2 = sp[0], sp[1], sp[2]
	*d = *nd
	return nil
}

// sphere reads and checks the [3] tensor "sphere".
func sphere(ts map[string]safetensors.Tensor) ([]float64, error) {
	f, err := modelcheck.Float32s(ts, "sphere", 3)
	if err != nil {
		return nil, err
	}
	v := []float64{float64(f[0]), float64(f[1]), float64(f[2])}
	switch {
	case !(v[0] > 0):
		return nil, fmt.Errorf("tensor \"sphere\": gamma %v must be > 0", v[0])
	case v[1] < 0 || v[1] > 1+1e-6:
		return nil, fmt.Errorf("tensor \"sphere\": centre norm %v must be in [0,1]", v[1])
	}
	return v, nil
}
