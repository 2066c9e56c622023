// Package patchcore implements PatchCore (Roth et al., CVPR 2022): locally
// aware patch features (k×k neighbourhood averages of mid-level CNN
// features, upsampled to a common grid, each tap adaptively average-pooled
// to a common dimension and the stack pooled again, so every tap weighs
// equally, as the reference implementation does) of all normal images form
// a memory bank, reduced by greedy k-center coreset selection on a random
// projection (stats.Coreset). A test patch scores its distance to the
// nearest bank patch; the image score is the largest patch score,
// reweighted as in the paper by how isolated its nearest bank patch is.
package patchcore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
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

// Config holds PatchCore's hyper-parameters. Keys absent from the JSON
// keep the DefaultConfig values; explicit zeros mean what the field
// documents. The help tags are what `vigil methods` prints.
type Config struct {
	embedding.Source
	embedding.Geometry
	Taps      []int   `json:"taps,omitempty" help:"backbone tap indices used; empty: the last two (the mid-level layers)"`
	Neighbour int     `json:"neighbourhood" help:"side of the local averaging window over the feature grid"`
	TapWeight string  `json:"tap_weight" enum:"equal,channels" help:"equal: every tap pooled to the same share of the patch embedding (the reference implementation); channels: plain concatenation, a tap weighs by its channel count"`
	Ratio     float64 `json:"ratio" help:"coreset size as a fraction of all training patches, in (0,1]"`
	MaxBank   int     `json:"max_bank" help:"cap on the coreset (memory bank) size"`
	ProjDim   int     `json:"proj_dim" help:"random projection dimension for the coreset search"`
	Neighbors int     `json:"num_neighbors" help:"bank neighbours in the image-score reweighting"`
	Sigma     float64 `json:"sigma" help:"map smoothing (Gaussian sigma, input pixels); 0: none"`
	Seed      uint64  `json:"seed" help:"seed of the coreset projection and start"`
	Half      bool    `json:"half,omitempty" help:"store the memory bank as float16 (half the model file)"`
	Batch     int     `json:"batch,omitempty" help:"images per backbone batch"`
	Search    string  `json:"search,omitempty" enum:"exact,ivf" help:"nearest-neighbour search of the memory bank: exact, or ivf (approximate: k-means inverted lists, nprobe of them searched per patch)"`
	Lists     int     `json:"ivf_lists,omitempty" help:"ivf: number of k-means lists; 0: about sqrt(bank size)"`
	Probe     int     `json:"nprobe,omitempty" help:"ivf: lists searched per patch"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Source:    embedding.Source{Backbone: "mobilenet_v2"}, // "auto" (resnet50 when converted) measured worse on magnetic tile and cookies: BENCHMARKS.md
		Geometry:  embedding.Geometry{Size: 256, Aspect: embedding.AspectStretch},
		Neighbour: 3, TapWeight: "equal", Ratio: 0.1, MaxBank: 16384, ProjDim: 16, Neighbors: 9, Sigma: 4, Batch: 8,
		Search: "exact", Probe: 8,
	}
}

// Validate reports the first bad value by its key.
func (c Config) Validate() error {
	if err := embedding.ValidateFeatures(c.Source, c.Geometry, c.Taps, c.Batch); err != nil {
		return fmt.Errorf("patchcore config: %v", err)
	}
	switch {
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
	case c.Search != "exact" && c.Search != "ivf":
		return fmt.Errorf("patchcore config: search %q must be exact or ivf", c.Search)
	case c.Lists < 0:
		return fmt.Errorf("patchcore config: ivf_lists %d must be >= 0", c.Lists)
	case c.Probe < 1:
		return fmt.Errorf("patchcore config: nprobe %d must be >= 1", c.Probe)
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
	ivf  *nnsearch.IVF // search "ivf": built from the bank at Fit and Restore
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
	c, err := detector.ParseConfig("patchcore", raw, DefaultConfig())
	if err != nil {
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

// InputSize is the size every image is resized to first (before any crop;
// none in pad mode).
func (d *Detector) InputSize() (h, w int) { return d.cfg.Geometry.InputSize() }

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
	var chans []int
	for _, s := range sel {
		if s.Shape[2] > h {
			h, w = s.Shape[2], s.Shape[3]
		}
		chans = append(chans, s.Shape[1])
	}
	x := embedding.Concat(sel, h, w)
	raw := embedding.Rows(x)
	if d.cfg.TapWeight == "channels" {
		return raw, x.Shape[0], x.Shape[1], h, w, nil
	}
	// Every tap weighs equally: each output averages a few inputs, so the
	// pooling matrix is applied sparsely, column by column.
	in, dim := x.Shape[1], len(chans)*slices.Max(chans)
	cols := sparseColumns(layerPooling(chans, dim), in, dim)
	m := x.Shape[0] * h * w
	rows = make([]float32, m*dim)
	tensor.ParallelChunks(m, 256, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			src, dst := raw[i*in:(i+1)*in], rows[i*dim:(i+1)*dim]
			for o, col := range cols {
				var s float32
				for _, e := range col {
					s += e.w * src[e.in]
				}
				dst[o] = s
			}
		}
	})
	return rows, x.Shape[0], dim, h, w, nil
}

// weight is one nonzero of a pooling matrix column.
type weight struct {
	in int
	w  float32
}

// sparseColumns lists the nonzeros of each column of the in×out matrix m.
func sparseColumns(m []float32, in, out int) [][]weight {
	cols := make([][]weight, out)
	for a := 0; a < in; a++ {
		for o, v := range m[a*out : (a+1)*out] {
			if v != 0 {
				cols[o] = append(cols[o], weight{a, v})
			}
		}
	}
	return cols
}

// layerPooling returns the (Σc)×dim matrix (row-major) that maps
// concatenated tap features to the reference implementation's embedding
// (Roth et al.'s patchcore-inspection): each tap's c features are
// adaptively average-pooled to dim, the taps' vectors are stacked and the
// stack adaptively pooled to dim again, so each tap fills dim/len(chans)
// outputs whatever its channel count (concatenation alone weighs a tap by
// its channels). The caller takes dim = taps × the largest tap's channels:
// each tap then fills as many outputs as the largest has channels, so no
// two channels of a tap are averaged together (a smaller dim blurs the
// widest tap; a larger one only repeats values).
func layerPooling(chans []int, dim int) []float32 {
	in := 0
	for _, c := range chans {
		in += c
	}
	stack := adaptivePool(len(chans)*dim, dim) // (T·dim)×dim
	m := make([]float32, in*dim)
	off := 0
	for t, c := range chans {
		p := adaptivePool(c, dim) // c×dim
		for a := 0; a < c; a++ {
			for j := 0; j < dim; j++ {
				if p[a*dim+j] == 0 {
					continue
				}
				// Input a reaches stacked slot t·dim+j, then every output o.
				for o := 0; o < dim; o++ {
					m[(off+a)*dim+o] += p[a*dim+j] * stack[(t*dim+j)*dim+o]
				}
			}
		}
		off += c
	}
	return m
}

// adaptivePool returns the in×out matrix of 1-D adaptive average pooling as
// PyTorch defines it: output j averages inputs floor(j·in/out) up to
// ceil((j+1)·in/out) − 1.
func adaptivePool(in, out int) []float32 {
	p := make([]float32, in*out)
	for j := 0; j < out; j++ {
		s, e := j*in/out, ((j+1)*in+out-1)/out
		for a := s; a < e; a++ {
			p[a*out+j] = 1 / float32(e-s)
		}
	}
	return p
}

// Fit builds the memory bank and reduces it to a coreset.
func (d *Detector) Fit(ctx context.Context, train []*imageio.Image) error {
	return d.FitStream(ctx, len(train), func(lo, hi int) ([]*imageio.Image, error) { return train[lo:hi], nil })
}

// FitStream is Fit over n training images fetched batch by batch:
// load(lo, hi) returns images lo..hi−1 and is called once per batch, in
// order, so a caller can decode images as they are needed and hold only a
// batch. Patch features are not all held: the coreset search only ever
// looks at a seeded uniform random subset of 10·target patches
// (stats.Coreset), so the rows stream through a reservoir of that size
// (Vitter's algorithm R) and the greedy coreset runs over it. Peak memory
// is then the reservoir (10·max_bank rows at most) and one batch,
// whatever n is.
func (d *Detector) FitStream(ctx context.Context, n int, load func(lo, hi int) ([]*imageio.Image, error)) error {
	if n <= 0 {
		return fmt.Errorf("patchcore: no training images")
	}
	d.cfg.Source = d.cfg.Source.Resolved() // the model records the backbone "auto" stood for
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return err
	}
	batch := d.cfg.Batch
	if batch <= 0 {
		batch = 8
	}
	var pool reservoir
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		imgs, err := load(lo, hi)
		if err != nil {
			return err
		}
		if len(imgs) != hi-lo {
			return fmt.Errorf("patchcore: training images %d..%d: got %d images, want %d", lo, hi-1, len(imgs), hi-lo)
		}
		err = embedding.Extract(ex, d.cfg.Geometry, imgs, batch, func(_ int, f []*tensor.Tensor) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			defer progress.Report(ctx, hi, n)
			rows, _, dim, h, w, err := d.patches(ex, f)
			if err != nil {
				return err
			}
			if pool.dim == 0 {
				d.dim, d.h, d.w = dim, h, w
				total := n * h * w
				pool.init(dim, total, 10*d.target(total), d.cfg.Seed)
			} else if dim != d.dim || h != d.h || w != d.w {
				return fmt.Errorf("patchcore: training images %d..%d give %d-d features on %dx%d, earlier ones %d-d on %dx%d", lo, hi-1, dim, h, w, d.dim, d.h, d.w)
			}
			pool.add(rows)
			return nil
		})
		if err != nil {
			return err
		}
	}
	all, m := pool.rows()
	sel := stats.Coreset(all, m, d.dim, d.target(pool.seen), d.cfg.ProjDim, d.cfg.Seed)
	bank := make([]float32, len(sel)*d.dim)
	for i, j := range sel {
		copy(bank[i*d.dim:(i+1)*d.dim], all[j*d.dim:(j+1)*d.dim])
	}
	return d.setBank(bank, len(sel))
}

// setBank installs the memory bank (n rows) and, for search "ivf", its
// inverted lists: seeded k-means on the bank, so a restored model
// rebuilds the same lists without storing them.
// With half the bank is kept as float16 and searched block by block.
func (d *Detector) setBank(bank []float32, n int) error {
	if d.cfg.Half {
		h := make([]uint16, len(bank))
		for i, x := range bank {
			h[i] = tensor.Float32ToHalf(x)
		}
		d.bank = nnsearch.NewBankHalf(h, n, d.dim)
		// k-means below runs on the values the search sees.
		bank = roundHalf(bank)
	} else {
		d.bank = nnsearch.NewBank(bank, n, d.dim)
	}
	d.ivf = nil
	if d.cfg.Search != "ivf" {
		return nil
	}
	k := d.cfg.Lists
	if k == 0 {
		k = int(math.Round(math.Sqrt(float64(n))))
	}
	k = max(1, min(k, n))
	cent := stats.KMeans(bank, n, d.dim, k, 10, d.cfg.Seed)
	ix, err := nnsearch.NewIVF(d.bank, cent, k)
	if err != nil {
		return fmt.Errorf("patchcore: %v", err)
	}
	d.ivf = ix
	return nil
}

// nearest returns each row's squared distance to its nearest bank row and
// that row, by the configured search.
func (d *Detector) nearest(rows []float32, n int) ([]float32, []int32) {
	if d.ivf != nil {
		return d.ivf.Search(rows, n, d.cfg.Probe)
	}
	return d.bank.Search(rows, n, 1)
}

// target is the coreset size for n training patches: ratio·n, capped by
// max_bank.
func (d *Detector) target(n int) int {
	return min(max(1, int(math.Round(d.cfg.Ratio*float64(n)))), d.cfg.MaxBank, n)
}

// reservoir keeps a uniform random sample of at most cap rows of the rows
// streamed through it (every row kept while they fit).
type reservoir struct {
	dim, cap, seen int
	data           []float32
	r              *rand.Rand
}

func (p *reservoir) init(dim, total, cap int, seed uint64) {
	p.dim, p.cap = dim, min(cap, total)
	p.data = make([]float32, 0, p.cap*dim)
	p.r = rand.New(rand.NewPCG(seed, 0x5e5e))
}

// add offers the rows (multiples of dim) to the sample: row number t
// (from 0) replaces a random kept row with probability cap/(t+1).
func (p *reservoir) add(rows []float32) {
	for i := 0; i < len(rows); i += p.dim {
		row := rows[i : i+p.dim]
		if p.seen < p.cap {
			p.data = append(p.data, row...)
		} else if j := p.r.IntN(p.seen + 1); j < p.cap {
			copy(p.data[j*p.dim:(j+1)*p.dim], row)
		}
		p.seen++
	}
}

// rows returns the kept rows and their number.
func (p *reservoir) rows() ([]float32, int) { return p.data, len(p.data) / max(p.dim, 1) }

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
		dist, idx := d.nearest(rows, n*L)
		grids, best := make([][]float32, n), make([]int, n)
		tensor.ParallelChunks(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				grids[i], best[i] = patchGrid(dist[i*L : (i+1)*L])
			}
		})
		// The reweighting's bank neighbours of every image's m*, in one
		// search: the bank is read once per batch, not once per image.
		b := min(d.cfg.Neighbors, d.bank.N)
		mstars := make([]float32, 0, n*dim)
		for i := 0; i < n; i++ {
			mstars = d.bank.AppendRow(mstars, int(idx[i*L+best[i]]))
		}
		_, nbs := d.bank.Search(mstars, n, b)
		// Maps are resized and smoothed image by image, in parallel.
		tensor.ParallelChunks(n, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				l := best[i]
				q := rows[(i*L+l)*dim : (i*L+l+1)*dim]
				score := d.reweight(q, nbs[i*b:(i+1)*b], float64(grids[i][l]))
				img := images[start+i]
				m, _ := d.cfg.Geometry.ScoreMap(grids[i], d.h, d.w, d.cfg.Sigma, img.H, img.W)
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

// patchGrid returns one image's patch-score grid (distances to the nearest
// bank patch, from the squared distances dist of its L patches) and the
// patch with the largest score s* (the first on ties).
func patchGrid(dist []float32) ([]float32, int) {
	grid := make([]float32, len(dist))
	best := 0
	for l, v := range dist {
		grid[l] = float32(math.Sqrt(float64(max(v, 0))))
		if grid[l] > grid[best] {
			best = l
		}
	}
	return grid, best
}

// imageScore returns one image's patch-score grid and its image score
// (the largest patch score s*, reweighted) from the squared distances dist
// and nearest bank rows idx of its L patch rows; Score does the same with
// the neighbour searches of a batch's images in one call.
func (d *Detector) imageScore(rows, dist []float32, idx []int32) ([]float32, float64) {
	grid, best := patchGrid(dist)
	b := min(d.cfg.Neighbors, d.bank.N)
	_, nb := d.bank.Search(d.bank.Row(int(idx[best]), nil), 1, b)
	q := rows[best*d.dim : (best+1)*d.dim]
	return grid, d.reweight(q, nb, float64(grid[best]))
}

// reweight applies the paper's image-score weight: s = (1 − softmax of the
// test patch's distance to its nearest bank patch m* among its distances to
// m*'s b nearest bank neighbours) · s*. A test patch whose nearest bank
// patch sits in a sparse region of the bank scores higher. nb lists m*'s
// b nearest bank rows.
func (d *Detector) reweight(q []float32, nb []int32, sStar float64) float64 {
	// Distances from the test patch to m*'s neighbourhood (m* itself is its
	// own nearest neighbour, distance sStar).
	ds := make([]float64, 0, len(nb))
	buf := make([]float32, d.dim)
	for _, j := range nb {
		row := d.bank.Row(int(j), buf)
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
	if h := d.bank.HalfData(); h != nil {
		raw := make([]byte, 2*len(h))
		for i, v := range h {
			binary.LittleEndian.PutUint16(raw[2*i:], v)
		}
		return []safetensors.Tensor{meta, {Name: "bank", DType: "F16", Shape: []int{d.bank.N, d.dim}, Data: raw}}
	}
	return []safetensors.Tensor{meta, safetensors.F32("bank", []int{d.bank.N, d.dim}, d.bank.Data)}
}

// Restore loads the memory bank, checking shapes and values: the grid
// positive integers, the bank non-empty and finite.
func (d *Detector) Restore(raw json.RawMessage, ts map[string]safetensors.Tensor) error {
	nd, err := New(raw)
	if err != nil {
		return err
	}
	// Models saved before tap_weight existed concatenated the taps'
	// channels; they keep doing so.
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) == nil {
		if _, ok := keys["tap_weight"]; !ok {
			nd.cfg.TapWeight = "channels"
		}
	}
	*d = *nd
	if d.h, d.w, err = modelcheck.Grid(ts, "grid"); err != nil {
		return err
	}
	t, err := detector.CheckShape(ts, "bank", -1, -1)
	if err != nil {
		return err
	}
	if t.Shape[0] < 1 || t.Shape[1] < 1 {
		return fmt.Errorf("tensor \"bank\" has shape %v, want at least one row and column", t.Shape)
	}
	v, err := modelcheck.Float32s(ts, "bank", t.Shape...)
	if err != nil {
		return err
	}
	d.dim = t.Shape[1]
	return d.setBank(v, t.Shape[0])
}

// roundHalf rounds values to float16 precision so that scores after a
// float16 save and load equal those of the fitted model.
func roundHalf(v []float32) []float32 {
	for i, x := range v {
		v[i] = tensor.HalfToFloat32(tensor.Float32ToHalf(x))
	}
	return v
}
