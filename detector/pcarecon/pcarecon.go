// Package pcarecon is reconstruction-based anomaly detection with a
// linear autoencoder: PCA fitted on small patches of defect-free images.
// A patch that the leading principal directions of normal patches cannot
// reconstruct is unusual; the per-pixel squared reconstruction residual,
// averaged over the overlapping patches covering each pixel, is the
// anomaly map, and its maximum (or top-k mean) is the image score.
//
// Optional extra scales fit a separate PCA on downscaled copies of the
// image; the per-scale maps are normalised by their mean on the training
// images (so each scale contributes in units of "typical normal
// residual"), upsampled to the working resolution and averaged.
package pcarecon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/stats"
	"github.com/vigil-ad/vigil/tensor"
)

// Name is the registry name of the method.
const Name = "pcarecon"

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     Name,
		Summary:  "PCA reconstruction of image patches; no backbone, fits in seconds",
		New:      func(cfg json.RawMessage) (detector.Detector, error) { return New(cfg) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// Config holds the hyper-parameters. Keys absent from the JSON keep their
// defaults (see DefaultConfig); explicit zeros mean what the field
// documents (size 0 = native resolution, smooth 0 = no smoothing). The
// help tags are what `vigil methods` prints.
type Config struct {
	Size       int     `json:"size" help:"images are resized to size x size for fitting and scoring (maps come back at the input's size); 0: native size"`
	Gray       bool    `json:"gray" help:"convert images to one luminance channel; else all channels are used (gray inputs are replicated to match a colour model)"`
	Patch      int     `json:"patch" help:"side of the square patches, in working-resolution pixels (1..64)"`
	Stride     int     `json:"stride" help:"spacing of the patches"`
	Components int     `json:"components" help:"principal directions kept (the code size of the linear autoencoder)"`
	Scales     []int   `json:"scales,omitempty" help:"downscale factors, each with its own PCA, e.g. 1,2; empty: 1"`
	MaxPatches int     `json:"max_patches" help:"cap on training patches per scale; above it a uniform sample of this many is drawn with seed"`
	Seed       uint64  `json:"seed" help:"seed of the training-patch sample"`
	Smooth     float64 `json:"smooth" help:"Gaussian sigma, in working-resolution pixels, applied to the map before the image score is taken; 0: none"`
	Score      string  `json:"score" enum:"max,topk" help:"image score: max of the smoothed map, or topk: mean of its top_k fraction of highest values"`
	TopK       float64 `json:"top_k" help:"fraction of the map averaged by score topk, in (0,1]"`
	Channels   int     `json:"channels,omitempty" help:"set by fit: channel count of the patches (1 with gray); leave unset"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Size: 128, Patch: 8, Stride: 4, Components: 16, MaxPatches: 200000, Smooth: 2, Score: "max", TopK: 0.01}
}

// ParseConfig reads a JSON configuration over the defaults (refusing
// unknown keys and wrong types by name) and validates it.
func ParseConfig(raw json.RawMessage) (Config, error) {
	return detector.ParseConfig(Name, raw, DefaultConfig())
}

// Validate reports the first bad field by its JSON name.
func (c Config) Validate() error {
	switch {
	case c.Size < 0:
		return fmt.Errorf("pcarecon config: size %d must be >= 0", c.Size)
	case c.Patch < 1 || c.Patch > 64:
		return fmt.Errorf("pcarecon config: patch %d must be in 1..64", c.Patch)
	case c.Stride < 1:
		return fmt.Errorf("pcarecon config: stride %d must be >= 1", c.Stride)
	case c.Components < 1:
		return fmt.Errorf("pcarecon config: components %d must be >= 1", c.Components)
	case c.MaxPatches < 2:
		return fmt.Errorf("pcarecon config: max_patches %d must be >= 2", c.MaxPatches)
	case c.Smooth < 0:
		return fmt.Errorf("pcarecon config: smooth %g must be >= 0", c.Smooth)
	case c.Score != "max" && c.Score != "topk":
		return fmt.Errorf("pcarecon config: score %q must be \"max\" or \"topk\"", c.Score)
	case c.Score == "topk" && !(c.TopK > 0 && c.TopK <= 1):
		return fmt.Errorf("pcarecon config: top_k %g must be in (0,1]", c.TopK)
	case c.Channels < 0:
		return fmt.Errorf("pcarecon config: channels %d must be >= 0", c.Channels)
	case c.Gray && c.Channels > 1:
		return fmt.Errorf("pcarecon config: channels %d with gray", c.Channels)
	}
	seen := map[int]bool{}
	for _, f := range c.Scales {
		if f < 1 {
			return fmt.Errorf("pcarecon config: scales: factor %d must be >= 1", f)
		}
		if seen[f] {
			return fmt.Errorf("pcarecon config: scales: factor %d repeated", f)
		}
		seen[f] = true
		if c.Size > 0 && c.Size/f < c.Patch {
			return fmt.Errorf("pcarecon config: scales: size %d / factor %d is smaller than patch %d", c.Size, f, c.Patch)
		}
	}
	if c.Size > 0 && c.Size < c.Patch {
		return fmt.Errorf("pcarecon config: size %d is smaller than patch %d", c.Size, c.Patch)
	}
	if c.Channels > 0 && c.Components > c.Channels*c.Patch*c.Patch {
		return fmt.Errorf("pcarecon config: components %d exceeds the patch dimension %d", c.Components, c.Channels*c.Patch*c.Patch)
	}
	return nil
}

func (c Config) factors() []int {
	if len(c.Scales) == 0 {
		return []int{1}
	}
	return c.Scales
}

// scaleModel is the fitted PCA of one scale plus its map normaliser.
type scaleModel struct {
	factor int
	pca    *stats.PCA
	norm   float32 // mean raw residual map value on training images
}

// Detector is the PCA reconstruction detector. It is safe to Score
// concurrently once fitted.
type Detector struct {
	cfg    Config
	scales []scaleModel
}

// New makes an unfitted detector from a JSON configuration (nil = defaults).
func New(raw json.RawMessage) (*Detector, error) {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// Method returns "pcarecon".
func (d *Detector) Method() string { return Name }

// Config returns the configuration, including the fitted channel count.
func (d *Detector) Config() any {
	c := d.cfg
	c.Scales = slices.Clone(c.Scales)
	return c
}

// Preprocessing describes the input preprocessing for the model file.
func (d *Detector) Preprocessing() any {
	return struct {
		Size int  `json:"size"`
		Gray bool `json:"gray"`
	}{d.cfg.Size, d.cfg.Gray}
}

func tensorPrefix(f int) string {
	if f == 1 {
		return ""
	}
	return fmt.Sprintf("scale%d.", f)
}

// Tensors returns, per scale, "mean" [D], "components" [K,D] and "norm"
// [1]; scales other than 1 prefix the names with "scale<f>.".
func (d *Detector) Tensors() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, s := range d.scales {
		p := tensorPrefix(s.factor)
		ts = append(ts,
			safetensors.F32(p+"mean", []int{s.pca.Dim()}, s.pca.Mean),
			safetensors.F32(p+"components", []int{s.pca.K(), s.pca.Dim()}, s.pca.Components),
			safetensors.F32(p+"norm", []int{1}, []float32{s.norm}))
	}
	return ts
}

// Restore loads a fitted model; every tensor's presence, shape and values
// are checked against the configuration: finite means and components, unit
// length components, a finite positive normaliser.
func (d *Detector) Restore(raw json.RawMessage, tensors map[string]safetensors.Tensor) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if cfg.Channels < 1 {
		return fmt.Errorf("pcarecon config: channels missing (model was never fitted)")
	}
	dim := cfg.Channels * cfg.Patch * cfg.Patch
	var scales []scaleModel
	for _, f := range cfg.factors() {
		p := tensorPrefix(f)
		mean, err := modelcheck.Float32s(tensors, p+"mean", dim)
		if err != nil {
			return err
		}
		comp, err := modelcheck.Float32s(tensors, p+"components", cfg.Components, dim)
		if err != nil {
			return err
		}
		norm, err := modelcheck.Float32s(tensors, p+"norm", 1)
		if err != nil {
			return err
		}
		if !(norm[0] > 0) {
			return fmt.Errorf("tensor %q: normaliser %g must be > 0", p+"norm", norm[0])
		}
		pc, err := stats.NewPCA(mean, comp, cfg.Components)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", p+"components", err)
		}
		scales = append(scales, scaleModel{factor: f, pca: pc, norm: norm[0]})
	}
	d.cfg, d.scales = cfg, scales
	return nil
}

// prepare converts one input image to the working image: channel
// handling, then resize to Size×Size (unless Size is 0).
func (d *Detector) prepare(img *imageio.Image, idx int, channels int) (*imageio.Image, error) {
	if img == nil || img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
		return nil, fmt.Errorf("image %d: empty or inconsistent image", idx)
	}
	// Drop an alpha plane (gray+alpha or RGBA): it carries no appearance.
	if img.C == 2 || img.C == 4 {
		img = &imageio.Image{C: img.C - 1, H: img.H, W: img.W, Pix: img.Pix[:(img.C-1)*img.H*img.W]}
	}
	var err error
	switch {
	case d.cfg.Gray && img.C > 1:
		if img, err = imageio.ToGray(img); err != nil {
			return nil, fmt.Errorf("image %d: %w", idx, err)
		}
	case img.C == channels:
	case img.C == 1 && channels == 3:
		// A grayscale picture in a colour dataset: replicate the plane.
		if img, err = imageio.ToRGB(img); err != nil {
			return nil, fmt.Errorf("image %d: %w", idx, err)
		}
	default:
		return nil, fmt.Errorf("image %d has %d channels; the model uses %d", idx, img.C, channels)
	}
	if d.cfg.Size > 0 && (img.H != d.cfg.Size || img.W != d.cfg.Size) {
		img = imageio.Resize(img, d.cfg.Size, d.cfg.Size)
	}
	return img, nil
}

// scaled returns the working image downscaled by factor f.
func (d *Detector) scaled(work *imageio.Image, f, idx int) (*imageio.Image, error) {
	h, w := work.H/f, work.W/f
	if h < d.cfg.Patch || w < d.cfg.Patch {
		return nil, fmt.Errorf("image %d: %dx%d at scale 1/%d is smaller than patch %d", idx, work.W, work.H, f, d.cfg.Patch)
	}
	if f == 1 {
		return work, nil
	}
	return imageio.Resize(work, h, w), nil
}

// positions returns the patch offsets along an axis of length n: every
// stride, plus a final one flush with the end so every pixel is covered.
func positions(n, p, s int) []int {
	var out []int
	for o := 0; o+p <= n; o += s {
		out = append(out, o)
	}
	if last := n - p; len(out) > 0 && out[len(out)-1] != last {
		out = append(out, last)
	}
	return out
}

// InputSize is the working resolution every image is resized to first;
// (0, 0) when the model works at native resolution (Size 0).
func (d *Detector) InputSize() (h, w int) { return d.cfg.Size, d.cfg.Size }

// workSize is the working resolution for an input of h×w.
func (d *Detector) workSize(h, w int) (int, int) {
	if d.cfg.Size > 0 {
		return d.cfg.Size, d.cfg.Size
	}
	return h, w
}

// bitset is a fixed-size set of indices.
type bitset []uint64

func (b bitset) has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }
func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }

// samplePatches chooses exactly k of n indices uniformly (Floyd's
// algorithm: k draws, no n-sized permutation).
func samplePatches(n, k int, rng *rand.Rand) bitset {
	b := make(bitset, (n+63)/64)
	for j := n - k; j < n; j++ {
		t := rng.IntN(j + 1)
		if b.has(t) {
			b.set(j)
		} else {
			b.set(t)
		}
	}
	return b
}

// fitShards is the number of independent accumulators during Fit; fixed
// (not GOMAXPROCS) so the float64 summation order, and so the model, does
// not depend on the machine.
const fitShards = 8

// Fit learns the per-scale PCA from patches of the training images.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) == 0 {
		return fmt.Errorf("pcarecon: no training images")
	}
	d.scales = nil // a failed fit leaves the detector unfitted
	cfg := d.cfg
	cfg.Channels = 1
	if !cfg.Gray {
		if train[0] == nil {
			return fmt.Errorf("image 0: empty or inconsistent image")
		}
		cfg.Channels = train[0].C
		if cfg.Channels == 2 || cfg.Channels == 4 {
			cfg.Channels-- // alpha is dropped
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	d.cfg = cfg
	factors := cfg.factors()
	dim := cfg.Channels * cfg.Patch * cfg.Patch

	// Patch counts per image and scale follow from the sizes alone, so the
	// sample can be drawn before any pixel is touched.
	type plan struct{ start, n int } // global index range of the image's patches
	plans := make([][]plan, len(factors))
	selected := make([]bitset, len(factors))
	for si, f := range factors {
		plans[si] = make([]plan, len(train))
		total := 0
		for i, img := range train {
			if img == nil {
				return fmt.Errorf("image %d: empty or inconsistent image", i)
			}
			h, w := d.workSize(img.H, img.W)
			h, w = h/f, w/f
			if h < cfg.Patch || w < cfg.Patch {
				return fmt.Errorf("image %d: %dx%d at scale 1/%d is smaller than patch %d", i, w*f, h*f, f, cfg.Patch)
			}
			n := len(positions(h, cfg.Patch, cfg.Stride)) * len(positions(w, cfg.Patch, cfg.Stride))
			plans[si][i] = plan{total, n}
			total += n
		}
		if total > cfg.MaxPatches {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(f)))
			selected[si] = samplePatches(total, cfg.MaxPatches, rng)
		}
	}

	// Shift every scale's patches by the channel means of the first image:
	// close to the patch mean, which keeps the float32 products accurate.
	shifts := make([][]float32, len(factors))
	work0, err := d.prepare(train[0], 0, cfg.Channels)
	if err != nil {
		return err
	}
	for si, f := range factors {
		img, err := d.scaled(work0, f, 0)
		if err != nil {
			return err
		}
		pp := cfg.Patch * cfg.Patch
		shifts[si] = make([]float32, dim)
		for ch := 0; ch < img.C; ch++ {
			var t float64
			for _, v := range img.Plane(ch) {
				t += float64(v)
			}
			mean := float32(t / float64(img.H*img.W))
			for j := ch * pp; j < (ch+1)*pp; j++ {
				shifts[si][j] = mean
			}
		}
	}

	nShard := min(fitShards, len(train))
	acc := make([][]*stats.Moments, nShard)
	errs := make([]error, nShard)
	tensor.ParallelChunks(nShard, 1, func(lo, hi int) {
		for sh := lo; sh < hi; sh++ {
			acc[sh] = make([]*stats.Moments, len(factors))
			for si := range factors {
				acc[sh][si] = stats.NewMoments(dim, shifts[si])
			}
			for i := sh * len(train) / nShard; i < (sh+1)*len(train)/nShard; i++ {
				if err := ctx.Err(); err != nil {
					errs[sh] = err
					return
				}
				work, err := d.prepare(train[i], i, cfg.Channels)
				if err != nil {
					errs[sh] = err
					return
				}
				for si, f := range factors {
					img, err := d.scaled(work, f, i)
					if err != nil {
						errs[sh] = err
						return
					}
					d.accumulate(acc[sh][si], img, plans[si][i].start, selected[si])
				}
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	d.scales = make([]scaleModel, len(factors))
	for si, f := range factors {
		m := acc[0][si]
		for sh := 1; sh < nShard; sh++ {
			m.Merge(acc[sh][si])
		}
		p, err := stats.FitPCA(m, cfg.Components)
		if err != nil {
			return fmt.Errorf("pcarecon: scale 1/%d: %w", f, err)
		}
		d.scales[si] = scaleModel{factor: f, pca: p, norm: 1}
	}
	return d.calibrateNorms(ctx, train)
}

// accumulate adds the (selected) patches of img to m; start is the global
// index of the image's first patch in the sampling order.
func (d *Detector) accumulate(m *stats.Moments, img *imageio.Image, start int, sel bitset) {
	p, c := d.cfg.Patch, img.C
	ys, xs := positions(img.H, p, d.cfg.Stride), positions(img.W, p, d.cfg.Stride)
	idx := start
	for _, py := range ys {
		for _, px := range xs {
			if sel != nil && !sel.has(idx) {
				idx++
				continue
			}
			idx++
			row := m.Row()
			k := 0
			for ch := 0; ch < c; ch++ {
				plane := img.Plane(ch)
				for dy := 0; dy < p; dy++ {
					src := plane[(py+dy)*img.W+px : (py+dy)*img.W+px+p]
					copy(row[k:k+p], src)
					k += p
				}
			}
		}
	}
}

// normImages bounds how many training images set the per-scale normaliser.
const normImages = 64

// calibrateNorms sets each scale's normaliser to the mean of its raw
// residual map over (up to normImages evenly spaced) training images.
func (d *Detector) calibrateNorms(ctx context.Context, train []*imageio.Image) error {
	n := min(len(train), normImages)
	sums := make([][]float64, n)
	errs := make([]error, n)
	tensor.ParallelChunks(n, 1, func(lo, hi int) {
		ws := &workspace{}
		for j := lo; j < hi; j++ {
			if err := ctx.Err(); err != nil {
				errs[j] = err
				return
			}
			i := j * len(train) / n
			work, err := d.prepare(train[i], i, d.cfg.Channels)
			if err != nil {
				errs[j] = err
				return
			}
			sums[j] = make([]float64, len(d.scales))
			for si, s := range d.scales {
				img, err := d.scaled(work, s.factor, i)
				if err != nil {
					errs[j] = err
					return
				}
				m := d.residualMap(ws, s.pca, img)
				var t float64
				for _, v := range m.Pix {
					t += float64(v)
				}
				sums[j][si] = t / float64(len(m.Pix))
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for si := range d.scales {
		var t float64
		for j := 0; j < n; j++ {
			t += sums[j][si]
		}
		norm := float32(t / float64(n))
		if !(norm > 1e-12) {
			// Normal patches are reconstructed exactly: keep raw units.
			norm = 1
		}
		d.scales[si].norm = norm
	}
	return nil
}

// workspace holds per-goroutine scoring buffers.
type workspace struct {
	x, z []float32
	sum  []float32
	cnt  []float32
}

// chunkPatches bounds the patch rows per GEMM so memory stays flat for
// large native-resolution images.
const chunkPatches = 1024

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// residualMap returns the raw per-pixel residual map of img (its size):
// for each patch, the squared residual of each pixel summed over
// channels, averaged over the patches covering the pixel.
func (d *Detector) residualMap(ws *workspace, p *stats.PCA, img *imageio.Image) *imageio.Map {
	ps, c := d.cfg.Patch, img.C
	ys, xs := positions(img.H, ps, d.cfg.Stride), positions(img.W, ps, d.cfg.Stride)
	n := len(ys) * len(xs)
	dim := p.Dim()
	ws.x = grow(ws.x, chunkPatches*dim)
	ws.z = grow(ws.z, chunkPatches*p.K())
	ws.sum = grow(ws.sum, img.H*img.W)
	ws.cnt = grow(ws.cnt, img.H*img.W)
	clear(ws.sum)
	clear(ws.cnt)
	for lo := 0; lo < n; lo += chunkPatches {
		hi := min(n, lo+chunkPatches)
		// Gather centred patches.
		for i := lo; i < hi; i++ {
			py, px := ys[i/len(xs)], xs[i%len(xs)]
			row := ws.x[(i-lo)*dim : (i-lo+1)*dim]
			k := 0
			for ch := 0; ch < c; ch++ {
				plane := img.Plane(ch)
				for dy := 0; dy < ps; dy++ {
					src := plane[(py+dy)*img.W+px : (py+dy)*img.W+px+ps]
					for j, v := range src {
						row[k+j] = v - p.Mean[k+j]
					}
					k += ps
				}
			}
		}
		p.Residual(ws.x, ws.z, hi-lo)
		// Scatter squared residuals.
		pp := ps * ps
		for i := lo; i < hi; i++ {
			py, px := ys[i/len(xs)], xs[i%len(xs)]
			row := ws.x[(i-lo)*dim : (i-lo+1)*dim]
			for dy := 0; dy < ps; dy++ {
				o := (py+dy)*img.W + px
				dst := ws.sum[o : o+ps]
				cnt := ws.cnt[o : o+ps]
				for dx := range dst {
					var r float32
					for ch := 0; ch < c; ch++ {
						v := row[ch*pp+dy*ps+dx]
						r += v * v
					}
					dst[dx] += r
					cnt[dx]++
				}
			}
		}
	}
	m := imageio.NewMap(img.H, img.W)
	for i := range m.Pix {
		m.Pix[i] = ws.sum[i] / ws.cnt[i]
	}
	return m
}

var wsPool = sync.Pool{New: func() any { return &workspace{} }}

// Score returns per-image anomaly maps (at each input's resolution) and
// scores.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if len(d.scales) == 0 {
		return nil, fmt.Errorf("pcarecon: model is not fitted")
	}
	out := make([]detector.Result, len(images))
	errs := make([]error, len(images))
	tensor.ParallelChunks(len(images), 1, func(lo, hi int) {
		ws := wsPool.Get().(*workspace)
		defer wsPool.Put(ws)
		for i := lo; i < hi; i++ {
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			out[i], errs[i] = d.scoreOne(ws, images[i], i)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *Detector) scoreOne(ws *workspace, img *imageio.Image, idx int) (detector.Result, error) {
	work, err := d.prepare(img, idx, d.cfg.Channels)
	if err != nil {
		return detector.Result{}, err
	}
	var acc *imageio.Map
	for _, s := range d.scales {
		sc, err := d.scaled(work, s.factor, idx)
		if err != nil {
			return detector.Result{}, err
		}
		m := d.residualMap(ws, s.pca, sc)
		if m.H != work.H || m.W != work.W {
			m = imageio.ResizeMap(m, work.H, work.W)
		}
		inv := 1 / (s.norm * float32(len(d.scales)))
		if acc == nil {
			acc = m
			for i := range acc.Pix {
				acc.Pix[i] *= inv
			}
			continue
		}
		for i, v := range m.Pix {
			acc.Pix[i] += v * inv
		}
	}
	if d.cfg.Smooth > 0 {
		acc = imageio.GaussianSmooth(acc, d.cfg.Smooth)
	}
	score := detector.MapScore(acc.Pix, d.cfg.Score, d.cfg.TopK)
	if acc.H != img.H || acc.W != img.W {
		acc = imageio.ResizeMap(acc, img.H, img.W)
	}
	return detector.Result{Score: score, Map: acc}, nil
}
