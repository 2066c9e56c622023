package patchcore

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nnsearch"
	"github.com/vigil-ad/vigil/safetensors"
)

func TestContract(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:1","size":64,"taps":[0,1],"ratio":0.25,"seed":3}`, detectortest.Options{Progress: true})
}

func TestContractConcatenatedTaps(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:1","size":64,"taps":[0,1],"ratio":0.25,"seed":3,"tap_weight":"channels"}`, detectortest.Options{NTrain: 12})
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:2","size":64,"taps":[0,1],"ratio":0.1,"seed":5,"half":true}`, detectortest.Options{NTrain: 12})
}

// Hand-computed layer pooling for taps of 2 and 6 channels into 8
// dimensions. Tap 0 pools 2→8 to a,a,a,a,b,b,b,b; tap 1 pools 6→8 to
// c1,(c1+c2)/2,(c2+c3)/2,c3,c4,(c4+c5)/2,(c5+c6)/2,c6; the 16 stacked
// values pool 16→8 pairwise.
func TestLayerPoolingHandComputed(t *testing.T) {
	x := []float32{1, 2, 10, 20, 30, 40, 50, 60} // a, b, c1..c6
	m := layerPooling([]int{2, 6}, 8)
	got := make([]float32, 8)
	for o := range got {
		for a, v := range x {
			got[o] += v * m[a*8+o]
		}
	}
	c := x[2:]
	// Outputs 0..3 come from tap 0 (a, a, b, b), 4..7 from tap 1.
	full := []float32{1, 1, 2, 2,
		(c[0] + (c[0]+c[1])/2) / 2, ((c[1]+c[2])/2 + c[2]) / 2,
		(c[3] + (c[3]+c[4])/2) / 2, ((c[4]+c[5])/2 + c[5]) / 2}
	for i := range full {
		if math.Abs(float64(got[i]-full[i])) > 1e-5 {
			t.Fatalf("pooled %v, want %v", got, full)
		}
	}
}

// Every tap weighs equally: a unit change spread over one tap's channels
// moves the embedding by the same amount whichever tap it is in, although
// one tap has three times the channels of the other.
func TestLayerPoolingWeighsTapsEqually(t *testing.T) {
	m := layerPooling([]int{32, 96}, 128)
	energy := func(lo, hi int) float64 {
		var s float64
		for o := 0; o < 128; o++ {
			var v float64
			for a := lo; a < hi; a++ {
				v += float64(m[a*128+o])
			}
			s += v
		}
		return s
	}
	// The total weight of each tap's channels (the embedding of a tap set
	// to all ones) is the tap's share of the outputs: 64 each.
	if e0, e1 := energy(0, 32), energy(32, 128); math.Abs(e0-64) > 1e-3 || math.Abs(e1-64) > 1e-3 {
		t.Fatalf("tap weights %v and %v, want 64 and 64", e0, e1)
	}
	// At the dimension patches uses (taps × widest tap = 192) each tap
	// fills 96 outputs and no two channels are averaged: every output is
	// one channel with weight 1.
	m = layerPooling([]int{32, 96}, 192)
	for o := 0; o < 192; o++ {
		n, w := 0, float32(0)
		for a := 0; a < 128; a++ {
			if v := m[a*192+o]; v != 0 {
				n++
				w += v
				if (a < 32) != (o < 96) {
					t.Fatalf("output %d mixes in channel %d of the other tap", o, a)
				}
			}
		}
		if n != 1 || math.Abs(float64(w-1)) > 1e-6 {
			t.Fatalf("output %d averages %d channels (weight %v), want exactly one", o, n, w)
		}
	}
}

// The image score equals the paper's formula (Roth et al. 2022, eq. 7)
// computed by brute force: the test patch m_test with the largest distance
// s* to its nearest bank patch m*, and
// s = (1 − exp‖m_test − m*‖ / Σ_{m ∈ N_b(m*)} exp‖m_test − m‖) · s*,
// N_b(m*) the b nearest bank patches of m* (m* among them).
func TestImageScoreMatchesPaperFormula(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const nb, dim, L, b = 40, 5, 12, 4
	bank := make([]float32, nb*dim)
	for i := range bank {
		bank[i] = float32(r.NormFloat64())
	}
	rows := make([]float32, L*dim)
	for i := range rows {
		rows[i] = float32(1.5 * r.NormFloat64())
	}
	d := &Detector{cfg: DefaultConfig(), dim: dim, bank: nnsearch.NewBank(bank, nb, dim)}
	d.cfg.Neighbors = b
	dist := func(x, y []float32) float64 {
		var s float64
		for a := range x {
			t := float64(x[a] - y[a])
			s += t * t
		}
		return math.Sqrt(s)
	}
	row := func(v []float32, i int) []float32 { return v[i*dim : (i+1)*dim] }
	// Brute force: nearest bank patch of every test patch, the worst one.
	sStar, test, mStar := -1.0, -1, -1
	for l := 0; l < L; l++ {
		best, bi := math.Inf(1), -1
		for j := 0; j < nb; j++ {
			if v := dist(row(rows, l), row(bank, j)); v < best {
				best, bi = v, j
			}
		}
		if best > sStar {
			sStar, test, mStar = best, l, bi
		}
	}
	order := make([]int, nb)
	for j := range order {
		order[j] = j
	}
	sort.Slice(order, func(a, c int) bool {
		return dist(row(bank, order[a]), row(bank, mStar)) < dist(row(bank, order[c]), row(bank, mStar))
	})
	var den float64
	for _, j := range order[:b] {
		den += math.Exp(dist(row(rows, test), row(bank, j)))
	}
	want := (1 - math.Exp(sStar)/den) * sStar

	sq, idx := d.bank.Search(rows, L, 1)
	grid, got := d.imageScore(rows, sq, idx)
	if math.Abs(got-want) > 1e-4*want {
		t.Fatalf("image score %v, paper's formula %v", got, want)
	}
	if math.Abs(float64(grid[test])-sStar) > 1e-4*sStar {
		t.Fatalf("patch score %v, want s* = %v", grid[test], sStar)
	}
}

// A crafted model whose values (not shapes) are bad is refused with an
// error naming the tensor; the untouched model restores.
func TestRestoreRefusesCraftedValues(t *testing.T) {
	const cfg = `{"backbone":"random:1","size":64}`
	good := func() map[string][]float32 {
		return map[string][]float32{"grid": {2, 3}, "bank": {0, 1, 2, 3, 4, 5}}
	}
	shapes := map[string][]int{"grid": {2}, "bank": {3, 2}}
	restore := func(v map[string][]float32) error {
		ts := map[string]safetensors.Tensor{}
		for name, x := range v {
			ts[name] = safetensors.F32(name, shapes[name], x)
		}
		return new(Detector).Restore(json.RawMessage(cfg), ts)
	}
	if err := restore(good()); err != nil {
		t.Fatalf("good model refused: %v", err)
	}
	for _, c := range []struct {
		why, name string
		edit      func(v map[string][]float32)
	}{
		{"NaN bank", "bank", func(v map[string][]float32) { v["bank"][4] = float32(math.NaN()) }},
		{"infinite bank", "bank", func(v map[string][]float32) { v["bank"][0] = float32(math.Inf(-1)) }},
		{"zero grid", "grid", func(v map[string][]float32) { v["grid"][1] = 0 }},
		{"fractional grid", "grid", func(v map[string][]float32) { v["grid"][0] = 1.5 }},
		{"huge grid", "grid", func(v map[string][]float32) { v["grid"][0] = 1e9 }},
	} {
		v := good()
		c.edit(v)
		if err := restore(v); err == nil || !strings.Contains(err.Error(), `"`+c.name+`"`) {
			t.Errorf("%s: err %v, want one naming %q", c.why, err, c.name)
		}
	}
}

// An image already at InputSize scores exactly as the original (the
// detector's own resize is then the identity), so the pipeline may resize
// right after decoding.
func TestPreResizedToInputSizeScoresTheSame(t *testing.T) {
	d, err := New(json.RawMessage(`{"backbone":"random:1","size":64,"crop":32,"taps":[0,1],"ratio":0.5,"seed":3}`))
	if err != nil {
		t.Fatal(err)
	}
	var train []*imageio.Image
	for i := 0; i < 4; i++ {
		train = append(train, detectortest.Texture(uint64(i), 90, 70))
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	h, w := d.InputSize()
	if h != 64 || w != 64 {
		t.Fatalf("InputSize = %d, %d, want the resize side 64 (before the crop)", h, w)
	}
	img, _ := detectortest.Plant(detectortest.Texture(50, 90, 70), 40, 30, 10)
	res, err := d.Score(context.Background(), []*imageio.Image{img, imageio.Resize(img, h, w)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Score != res[1].Score {
		t.Fatalf("pre-resized image scores %v, original %v", res[1].Score, res[0].Score)
	}
}

// A model saved before tap_weight existed keeps its plain concatenation.
func TestRestoreOldConfigConcatenates(t *testing.T) {
	d, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(d.Config())
	var m map[string]any
	json.Unmarshal(cfg, &m)
	delete(m, "tap_weight")
	old, _ := json.Marshal(m)
	ts := map[string]safetensors.Tensor{
		"grid": safetensors.F32("grid", []int{2}, []float32{2, 2}),
		"bank": safetensors.F32("bank", []int{1, 4}, []float32{1, 2, 3, 4}),
	}
	var r Detector
	if err := r.Restore(old, ts); err != nil {
		t.Fatal(err)
	}
	if r.cfg.TapWeight != "channels" {
		t.Fatalf("old model restored with tap_weight %q, want channels", r.cfg.TapWeight)
	}
	if err := r.Restore(cfg, ts); err != nil || r.cfg.TapWeight != "equal" {
		t.Fatalf("new model: %v, tap_weight %q", err, r.cfg.TapWeight)
	}
}
