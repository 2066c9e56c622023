// Package detectortest checks that a detector meets the contract on small
// generated data, as net/http/httptest does for handlers: it learns from
// normal textures, scores planted defects above normal images, lights up
// the map where a defect was planted, returns maps at the input's size,
// and scores identically after a save/load round trip and a refit with the
// same seed.
package detectortest

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/progress"
)

// Texture returns a seeded normal RGB image: sinusoidal stripes of a fixed
// orientation and period with a random phase, mild illumination jitter and
// pixel noise.
func Texture(seed uint64, h, w int) *imageio.Image {
	r := rand.New(rand.NewPCG(seed, 0x7e57))
	img := imageio.New(3, h, w)
	phase := r.Float64() * 2 * math.Pi
	gain := 0.9 + 0.2*r.Float64()
	tint := [3]float64{0.5, 0.45, 0.4}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 0.5 + 0.25*math.Sin(2*math.Pi*(float64(x)*0.8+float64(y)*0.6)/8+phase)
			for c := 0; c < 3; c++ {
				p := (v*gain)*(0.6+tint[c]) - 0.1 + 0.03*r.NormFloat64()
				img.Set(c, y, x, float32(math.Min(1, math.Max(0, p))))
			}
		}
	}
	return img
}

// Plant returns a copy of img with a dark square of side s at (y, x) and
// the square's mask.
func Plant(img *imageio.Image, y, x, s int) (*imageio.Image, *imageio.Map) {
	out := img.Clone()
	m := imageio.NewMap(img.H, img.W)
	for yy := y; yy < min(y+s, img.H); yy++ {
		for xx := x; xx < min(x+s, img.W); xx++ {
			for c := 0; c < img.C; c++ {
				out.Set(c, yy, xx, 0.02)
			}
			m.Set(yy, xx, 1)
		}
	}
	return out, m
}

// Options tunes Run.
type Options struct {
	Size    int                       // image side (default 64)
	NTrain  int                       // normal training images (default 24)
	NoMap   bool                      // the method gives image scores only
	Setup   func(d detector.Detector) // called on every detector made (e.g. to inject a backbone)
	MinHits int                       // defects whose map maximum must fall in the planted square (default NTest-1)
	Defect  int                       // planted square side (default Size/6)
	// Progress: Fit must report progress (package progress) up to NTrain.
	Progress bool
}

const nTest = 6

// Run fits the method with the JSON config on generated textures and
// checks the contract.
func Run(t *testing.T, method, config string, opt Options) {
	t.Helper()
	if opt.Size == 0 {
		opt.Size = 64
	}
	if opt.NTrain == 0 {
		opt.NTrain = 24
	}
	if opt.MinHits == 0 {
		opt.MinHits = nTest - 1
	}
	ctx := context.Background()
	n := opt.Size
	mk := func() detector.Detector {
		d, err := detector.New(method, json.RawMessage(config))
		if err != nil {
			t.Fatal(err)
		}
		if opt.Setup != nil {
			opt.Setup(d)
		}
		return d
	}
	var train []*imageio.Image
	for i := 0; i < opt.NTrain; i++ {
		train = append(train, Texture(uint64(i), n, n))
	}
	d := mk()
	lastDone, lastTotal := 0, 0
	fitCtx := progress.With(ctx, func(done, total int) { lastDone, lastTotal = done, total })
	if err := d.Fit(fitCtx, train); err != nil {
		t.Fatalf("fit: %v", err)
	}
	if opt.Progress && (lastDone != len(train) || lastTotal != len(train)) {
		t.Errorf("fit reported progress %d/%d at the end, want %d/%d", lastDone, lastTotal, len(train), len(train))
	}
	var test []*imageio.Image
	var masks []*imageio.Map
	for i := 0; i < nTest; i++ {
		test = append(test, Texture(uint64(1000+i), n, n))
	}
	s := opt.Defect
	if s == 0 {
		s = n / 6
	}
	for i := 0; i < nTest; i++ {
		y := s + (i*7)%(n-3*s)
		x := s + (i*13)%(n-3*s)
		img, m := Plant(Texture(uint64(2000+i), n, n), y, x, s)
		test = append(test, img)
		masks = append(masks, m)
	}
	res, err := d.Score(ctx, test)
	if err != nil {
		t.Fatalf("score: %v", err)
	}
	if len(res) != len(test) {
		t.Fatalf("%d results for %d images", len(res), len(test))
	}
	maxNormal := math.Inf(-1)
	for _, r := range res[:nTest] {
		maxNormal = math.Max(maxNormal, r.Score)
	}
	hits := 0
	for i, r := range res[nTest:] {
		if !(r.Score > maxNormal) {
			t.Errorf("defect %d scores %.5g, not above the highest normal score %.5g", i, r.Score, maxNormal)
		}
		if opt.NoMap {
			continue
		}
		if r.Map == nil || r.Map.H != n || r.Map.W != n {
			t.Fatalf("defect %d: map missing or not %dx%d", i, n, n)
		}
		best := 0
		for p, v := range r.Map.Pix {
			if v > r.Map.Pix[best] {
				best = p
			}
		}
		by, bx := best/n, best%n
		// Within the square or a few pixels of it: maps come from coarse grids.
		if inSquare(masks[i], by, bx, max(2, n/16)) {
			hits++
		}
	}
	if !opt.NoMap && hits < opt.MinHits {
		t.Errorf("map maximum inside the planted square for %d of %d defects, want >= %d", hits, nTest, opt.MinHits)
	}

	// Maps come back at the input's size, whatever it is.
	if !opt.NoMap {
		odd := []*imageio.Image{Texture(7, n/2+3, n+17)}
		r, err := d.Score(ctx, odd)
		if err != nil {
			t.Fatalf("score %dx%d image: %v", odd[0].W, odd[0].H, err)
		}
		if r[0].Map == nil || r[0].Map.H != odd[0].H || r[0].Map.W != odd[0].W {
			t.Fatalf("map for a %dx%d image has the wrong size", odd[0].W, odd[0].H)
		}
	}

	// Save and load: identical scores.
	path := filepath.Join(t.TempDir(), method+".safetensors")
	if err := detector.Save(path, d, detector.Meta{}); err != nil {
		t.Fatalf("save: %v", err)
	}
	d2, _, err := detector.Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if opt.Setup != nil {
		opt.Setup(d2)
	}
	res2, err := d2.Score(ctx, test)
	if err != nil {
		t.Fatalf("score after load: %v", err)
	}
	for i := range res {
		if res[i].Score != res2[i].Score {
			t.Fatalf("image %d: score %v before save, %v after load", i, res[i].Score, res2[i].Score)
		}
	}

	// Same seed, same model, same scores.
	d3 := mk()
	if err := d3.Fit(ctx, train); err != nil {
		t.Fatal(err)
	}
	res3, err := d3.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res {
		if res[i].Score != res3[i].Score {
			t.Fatalf("image %d: refit with the same seed scores %v, first fit %v", i, res3[i].Score, res[i].Score)
		}
	}
}

func inSquare(m *imageio.Map, y, x, slack int) bool {
	for yy := max(0, y-slack); yy <= min(m.H-1, y+slack); yy++ {
		for xx := max(0, x-slack); xx <= min(m.W-1, x+slack); xx++ {
			if m.At(yy, xx) > 0 {
				return true
			}
		}
	}
	return false
}
