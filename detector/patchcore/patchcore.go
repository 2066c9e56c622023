// Package patchcore implements PatchCore (Roth et al., CVPR 2022): locally
// aware patch features (k×k neighbourhood averages of mid-level CNN
// features, upsampled to a common grid and concatenated) of all normal
// images form a memory bank, reduced by greedy k-center coreset selection
// on a random projection. A test patch scores its distance to the nearest
// bank patch; the image score is the largest patch score, reweighted as in
// the paper by how isolated its nearest bank patch is.
package patchcore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

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

// Config holds PatchCore's hyper-parameters. Keys absent from the JSON
// keep the DefaultConfig values; explicit zeros mean what the field
// documents. The help tags are what `vigil methods` prints.
type Config struct {
	embedding.Source   `help.backbone:"feature extractor: mobilenet_v2, mobilenet_v1, a .tflite/.onnx file, or random[:seed] (untrained, for tests)" help.backbone_dir:"folder searched first for backbone files (else $VIGIL_BACKBONE_DIR, then $VIGIL_HOME/backbones)" help.layers:"layer names to tap (ONNX backbones); empty: the backbone's default taps"`
	embedding.Geometry `help.size:"images are resized to size x size (a multiple of 32)" help.crop:"centre crop to crop x crop after resizing (a multiple of 32); 0: no crop"`
	Taps               []int   `json:"taps,omitempty" help:"backbone tap indices used; empty: the last two (the mid-level layers)"`
	Neighbour          int     `json:"neighbourhood" help:"side of the local averaging window over the feature grid"`
	Ratio              float64 `json:"ratio" help:"coreset size as a fraction of all training patches, in (0,1]"`
	MaxBank            int     `json:"max_bank" help:"cap on the coreset (memory bank) size"`
	ProjDim            int     `json:"proj_dim" help:"random projection dimension for the coreset search"`
	Neighbors          int     `json:"num_neighbors" help:"bank neighbours in the image-score reweighting"`
	Sigma              float64 `json:"sigma" help:"map smoothing (Gaussian sigma, input pixels); 0: none"`
	Seed               uint64  `json:"seed" help:"seed of the coreset projection and start"`
	Half               bool    `json:"half,omitempty" help:"store the memory bank as float16 (half the model file)"`
	Batch              int     `json:"batch,omitempty" help:"images per backbone batch"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Source:    embedding.Source{Backbone: "mobilenet_v2"},
		Geometry:  embedding.Geometry{Size: 256},
		Neighbour: 3, Ratio: 0.1, MaxBank: 16384, ProjDim: 16, Neighbors: 9, Sigma: 4, Batch: 8,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	if err := c.Geometry.Validate(); err != nil {
		return fmt.Errorf("patchcore config: %v", err)
	}
	switch {
	case c.Backbone == "":
		return fmt.Errorf("patchcore config: backbone must be set")
	case c.Neighbour < 1:
		return fmt.Errorf("patchcore config: neighbourhood %d must be >= 1", c.Neighbour)
	case !(c.Ratio > 0 && c.Ratio <= 1):
		return fmt.Errorf("patchcore config: ratio %g must be in (0,1]", c.Ratio)
	case c.MaxBank < 1:
		return fmt.Errorf("patchcore config: max_bank %d must be >= 1", c.MaxBank)
	case c.ProjDim < 1:
		return fmt.Errorf("patchcore config: proj_dim %d must be >= 1", c.ProjDim)
	case c.Neighbors < 1:
		return fmt.Errorf("patchcore config: num_neighbors %d must be >= 1", c.Neighbors)
	case c.Sigma < 0:
		return fmt.Errorf("patchcore config: sigma %g must be >= 0", c.Sigma)
	case c.Batch < 1:
		return fmt.Errorf("patchcore config: batch %d must be >= 1", c.Batch)
	}
	for _, t := range c.Taps {
		if t < 0 {
			return fmt.Errorf("patchcore config: taps: index %d must be >= 0", t)
		}
	}
	return nil
}

// Detector is a PatchCore model.
type Detector struct {
	cfg Config
	embedding.Lazy
	dim  int
	h, w int
	bank *nnsearch.Bank
}

func init() {
	detector.RegisterMethod(detector.Method{
		Name:     "patchcore",
		Summary:  "PatchCore: nearest-neighbour distance to a coreset memory bank of CNN patch features",
		New:      func(raw json.RawMessage) (detector.Detector, error) { return New(raw) },
		Defaults: func() any { return DefaultConfig() },
	})
}

// New makes an unfitted detector from a JSON configuration (nil or {}:
// defaults).
func New(raw json.RawMessage) (*Detector, error) {
	c := DefaultConfig()
	if err := detector.DecodeConfig("patchcore", raw, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: c}, nil
}

// Method is "patchcore".
func (d *Detector) Method() string { return "patchcore" }

// Config returns the configuration.
func (d *Detector) Config() any { return d.cfg }

// Preprocessing describes the input geometry.
func (d *Detector) Preprocessing() any { return d.cfg.Geometry }

// BankSize is the number of patches in the memory bank.
func (d *Detector) BankSize() int {
	if d.bank == nil {
		return 0
	}
	return d.bank.N
}

// patches turns a batch of backbone outputs into N×h×w rows of features.
func (d *Detector) patches(ex backbone.Extractor, f []*tensor.Tensor) (rows []float32, n, dim, h, w int, err error) {
	taps := d.cfg.Taps
	if len(taps) == 0 {
		taps = []int{max(0, len(f)-2), len(f) - 1}
		if len(f) == 1 {
			taps = []int{0}
		}
	}
	var sel []*tensor.Tensor
	for _, t := range taps {
		if t < 0 || t >= len(f) {
			return nil, 0, 0, 0, 0, fmt.Errorf("patchcore: tap %d out of range: backbone %s has %d taps", t, ex.Name(), len(f))
		}
		sel = append(sel, embedding.Aggregate(f[t], d.cfg.Neighbour))
	}
	h, w = sel[0].Shape[2], sel[0].Shape[3]
	for _, s := range sel {
		if s.Shape[2] > h {
			h, w = s.Shape[2], s.Shape[3]
		}
	}
	x := embedding.Concat(sel, h, w)
	return embedding.Rows(x), x.Shape[0], x.Shape[1], h, w, nil
}

// Fit builds the memory bank and reduces it to a coreset.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	if len(train) == 0 {
		return fmt.Errorf("patchcore: no training images")
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
		rows, _, dim, h, w, err := d.patches(ex, f)
		if err != nil {
			return err
		}
		if all == nil {
			d.dim, d.h, d.w = dim, h, w
			all = make([]float32, 0, len(train)*h*w*dim)
		}
		all = append(all, rows...)
		return nil
	})
	if err != nil {
		return err
	}
	n := len(all) / d.dim
	target := min(max(1, int(math.Round(d.cfg.Ratio*float64(n)))), d.cfg.MaxBank, n)
	sel := Coreset(all, n, d.dim, target, d.cfg.ProjDim, d.cfg.Seed)
	bank := make([]float32, len(sel)*d.dim)
	for i, j := range sel {
		copy(bank[i*d.dim:(i+1)*d.dim], all[j*d.dim:(j+1)*d.dim])
	}
	if d.cfg.Half {
		bank = roundHalf(bank)
	}
	d.bank = nnsearch.NewBank(bank, len(sel), d.dim)
	return nil
}

// Coreset selects target rows of x (n×dim) by greedy k-center search
// (farthest-point sampling) on a seeded Gaussian random projection to
// proj dimensions. To bound the cost, the search runs over a seeded random
// candidate subset of at most 10·target rows; the returned indices refer
// to x.
func Coreset(x []float32, n, dim, target, proj int, seed uint64) []int {
	if target >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	r := rand.New(rand.NewPCG(seed, 0xc0de))
	cand := r.Perm(n)
	if len(cand) > 10*target {
		cand = cand[:10*target]
	}
	m := len(cand)
	p := min(proj, dim)
	// Projected candidates: y = x P, P dim×p with N(0, 1/p) entries.
	P := make([]float32, dim*p)
	for i := range P {
		P[i] = float32(r.NormFloat64() / math.Sqrt(float64(p)))
	}
	y := make([]float32, m*p)
	const chunk = 1024
	tensor.ParallelChunks((m+chunk-1)/chunk, 1, func(lo, hi int) {
		rows := make([]float32, chunk*dim)
		for c := lo; c < hi; c++ {
			i0, i1 := c*chunk, min((c+1)*chunk, m)
			for i := i0; i < i1; i++ {
				copy(rows[(i-i0)*dim:(i-i0+1)*dim], x[cand[i]*dim:(cand[i]+1)*dim])
			}
			gemm.SgemmSerial(false, false, i1-i0, p, dim, 1, rows, dim, P, p, 0, y[i0*p:], p)
		}
	})
	return greedy(y, m, p, target, r.IntN(m), cand)
}

// greedy runs farthest-point sampling on the m rows of y (m×p) from row
// first and returns the chosen rows mapped through cand. It gives the
// plain search's result (ties go to the lower row) at a fraction of the
// cost: every candidate belongs to the cluster of its nearest chosen
// centre, and by the triangle inequality a new centre c can only come
// closer to x than x's centre a when |c − a|² < 4·|x − a|² (Elkan's
// bound). A whole cluster whose farthest member fails the bound is
// skipped, and the next centre is the farthest of the clusters' farthest
// members, so late iterations touch only the few clusters near c.
func greedy(y []float32, m, p, target, first int, cand []int) []int {
	minD := make([]float32, m)
	centres := make([]int32, 0, target) // row of each chosen centre
	members := make([][]int32, 0, target)
	maxD := make([]float32, 0, target) // farthest member's distance, per cluster
	far := make([]int32, 0, target)    // that member (lowest row on ties)
	cc := make([]float32, target)
	workers := tensor.Workers()
	moved := make([][]int32, workers)
	sel := make([]int, 0, target)
	cur := int32(first)
	// First centre: every candidate joins its cluster.
	all := make([]int32, m)
	c0 := y[int(cur)*p : (int(cur)+1)*p]
	tensor.ParallelChunks(m, 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			all[i] = int32(i)
			minD[i] = sqDist(y[i*p:(i+1)*p], c0)
		}
	})
	minD[cur] = 0
	sel = append(sel, cand[cur])
	centres = append(centres, cur)
	members = append(members, all)
	mv, fi := farthest(all, minD)
	maxD, far = append(maxD, mv), append(far, fi)
	for len(sel) < target {
		// Next centre: the farthest candidate overall.
		bv, bi := float32(-1), int32(-1)
		for a, v := range maxD {
			if v > bv || (v == bv && far[a] < bi) {
				bv, bi = v, far[a]
			}
		}
		if bv <= 0 {
			break // every candidate coincides with a chosen one
		}
		cur = bi
		sel = append(sel, cand[cur])
		c := y[int(cur)*p : (int(cur)+1)*p]
		nc := len(centres)
		tensor.ParallelChunks(nc, 256, func(lo, hi int) {
			for a := lo; a < hi; a++ {
				if maxD[a] > 0 {
					cc[a] = sqDist(y[int(centres[a])*p:(int(centres[a])+1)*p], c)
				}
			}
		})
		chunk := (nc + workers - 1) / workers
		tensor.ParallelChunks(workers, 1, func(lo, hi int) {
			for wk := lo; wk < hi; wk++ {
				out := moved[wk][:0]
				for a := wk * chunk; a < min((wk+1)*chunk, nc); a++ {
					if !(cc[a] < 4*maxD[a]) {
						continue
					}
					mem := members[a]
					keep := mem[:0]
					mv, fi := float32(-1), int32(-1)
					for _, i := range mem {
						md := minD[i]
						if cc[a] < 4*md {
							if s := sqDist(y[int(i)*p:(int(i)+1)*p], c); s < md || i == cur {
								if i == cur {
									s = 0
								}
								minD[i] = s
								out = append(out, i)
								continue
							}
						}
						keep = append(keep, i)
						if md > mv || (md == mv && i < fi) {
							mv, fi = md, i
						}
					}
					members[a], maxD[a], far[a] = keep, max(mv, 0), fi
				}
				moved[wk] = out
			}
		})
		var mem []int32
		for _, o := range moved {
			mem = append(mem, o...)
		}
		mv, fi := farthest(mem, minD)
		centres = append(centres, cur)
		members = append(members, mem)
		maxD, far = append(maxD, mv), append(far, fi)
	}
	return sel
}

// farthest returns the largest minD among rows (lowest row on ties).
func farthest(rows []int32, minD []float32) (float32, int32) {
	mv, fi := float32(0), int32(-1)
	for _, i := range rows {
		if md := minD[i]; md > mv || (md == mv && (fi < 0 || i < fi)) {
			mv, fi = md, i
		}
	}
	return mv, fi
}

// sqDist is the squared Euclidean distance of two equal-length vectors.
func sqDist(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1 float32
	i := 0
	for ; i+1 < len(a); i += 2 {
		t0, t1 := a[i]-b[i], a[i+1]-b[i+1]
		s0 += t0 * t0
		s1 += t1 * t1
	}
	if i < len(a) {
		t := a[i] - b[i]
		s0 += t * t
	}
	return s0 + s1
}

// Score computes patch distance maps and reweighted image scores.
func (d *Detector) Score(ctx context.Context, images []*imageio.Image) ([]detector.Result, error) {
	if d.bank == nil {
		return nil, fmt.Errorf("patchcore: not fitted")
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
		rows, n, dim, h, w, err := d.patches(ex, f)
		if err != nil {
			return err
		}
		if dim != d.dim || h != d.h || w != d.w {
			return fmt.Errorf("patchcore: features are %d-d on %dx%d, model has %d-d on %dx%d", dim, h, w, d.dim, d.h, d.w)
		}
		dist, idx := d.bank.Search(rows, n*L, 1)
		// Maps are resized and smoothed image by image, in parallel.
		tensor.ParallelChunks(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				grid := make([]float32, L)
				best := 0
				for l := 0; l < L; l++ {
					grid[l] = float32(math.Sqrt(float64(dist[i*L+l])))
					if grid[l] > grid[best] {
						best = l
					}
				}
				score := d.reweight(rows[(i*L+best)*dim:(i*L+best+1)*dim], int(idx[i*L+best]), float64(grid[best]))
				img := images[start+i]
				m, _ := d.cfg.Geometry.ScoreMap(grid, d.h, d.w, d.cfg.Sigma, img.H, img.W)
				out[start+i] = detector.Result{Score: score, Map: m}
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// reweight applies the paper's image-score weight: s = (1 − softmax of the
// test patch's distance to its nearest bank patch m* among its distances to
// m*'s b nearest bank neighbours) · s*. A test patch whose nearest bank
// patch sits in a sparse region of the bank scores higher.
func (d *Detector) reweight(q []float32, nearest int, sStar float64) float64 {
	b := min(d.cfg.Neighbors, d.bank.N)
	mstar := d.bank.Data[nearest*d.dim : (nearest+1)*d.dim]
	_, nb := d.bank.Search(mstar, 1, b)
	// Distances from the test patch to m*'s neighbourhood (m* itself is its
	// own nearest neighbour, distance sStar).
	ds := make([]float64, 0, b)
	for _, j := range nb {
		row := d.bank.Data[int(j)*d.dim : (int(j)+1)*d.dim]
		var s float64
		for a, v := range row {
			t := float64(q[a] - v)
			s += t * t
		}
		ds = append(ds, math.Sqrt(s))
	}
	hi := sStar
	for _, v := range ds {
		hi = max(hi, v)
	}
	den := 0.0
	for _, v := range ds {
		den += math.Exp(v - hi)
	}
	if den == 0 {
		return sStar
	}
	w := 1 - math.Exp(sStar-hi)/den
	return w * sStar
}

// Tensors returns the memory bank.
func (d *Detector) Tensors() []safetensors.Tensor {
	meta := safetensors.F32("grid", []int{2}, []float32{float32(d.h), float32(d.w)})
	if d.cfg.Half {
		return []safetensors.Tensor{meta, safetensors.F16("bank", []int{d.bank.N, d.dim}, d.bank.Data)}
	}
	return []safetensors.Tensor{meta, safetensors.F32("bank", []int{d.bank.N, d.dim}, d.bank.Data)}
}

// Restore loads the memory bank.
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
	t, err := detector.CheckShape(ts, "bank", -1, -1)
	if err != nil {
		return err
	}
	if t.Shape[0] < 1 || t.Shape[1] < 1 || d.h < 1 || d.w < 1 {
		return fmt.Errorf("tensor \"bank\" has shape %v for grid %dx%d", t.Shape, d.h, d.w)
	}
	v, err := t.Float32s()
	if err != nil {
		return err
	}
	d.dim = t.Shape[1]
	d.bank = nnsearch.NewBank(v, t.Shape[0], d.dim)
	return nil
}

// roundHalf rounds values to float16 precision so that scores after a
// float16 save and load equal those of the fitted model.
func roundHalf(v []float32) []float32 {
	for i, x := range v {
		v[i] = safetensors.HalfToFloat32(safetensors.Float32ToHalf(x))
	}
	return v
}
