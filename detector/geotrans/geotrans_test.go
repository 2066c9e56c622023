package geotrans

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/safetensors"
)

const side = 16

// glyph draws an "L" (a shape whose flips, shifts and quarter turns all
// look different) jittered by a pixel and with a little noise.
func glyph(r *rand.Rand) *imageio.Image {
	img := &imageio.Image{C: 1, H: side, W: side, Pix: make([]float32, side*side)}
	oy, ox := r.IntN(3)-1, r.IntN(3)-1
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			yy, xx := y-oy, x-ox
			v := float32(0.05 * r.Float64())
			if (xx >= 3 && xx <= 5 && yy >= 2 && yy <= 12) || (yy >= 10 && yy <= 12 && xx >= 3 && xx <= 11) {
				v += 0.9
			}
			img.Pix[y*side+x] = v
		}
	}
	return img
}

// disc draws a centred disc: flips and quarter turns leave it unchanged, so
// the classifier cannot tell them apart.
func disc(r *rand.Rand) *imageio.Image {
	img := &imageio.Image{C: 1, H: side, W: side, Pix: make([]float32, side*side)}
	rad := 3 + 2*r.Float64()
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			v := float32(0.05 * r.Float64())
			if dy, dx := float64(y)-7.5, float64(x)-7.5; dy*dy+dx*dx < rad*rad {
				v += 0.9
			}
			img.Pix[y*side+x] = v
		}
	}
	return img
}

const tinyConfig = `{"size":0,"depth":10,"widen":1,"dirichlet_images":0,
	"seed":3,"train":{"epochs":10,"batch_size":32,"steps_per_epoch":12,"lr":0.005}}`

var tiny struct {
	once        sync.Once
	d           *Detector
	normal, odd []*imageio.Image
	err         error
}

// sharedTiny fits the tiny model once for the tests that only read it.
func sharedTiny(t *testing.T) (*Detector, []*imageio.Image, []*imageio.Image) {
	tiny.once.Do(func() { tiny.d, tiny.normal, tiny.odd, tiny.err = fitTiny() })
	if tiny.err != nil {
		t.Fatal(tiny.err)
	}
	return tiny.d, tiny.normal, tiny.odd
}

func fitTiny() (*Detector, []*imageio.Image, []*imageio.Image, error) {
	r := rand.New(rand.NewPCG(1, 2))
	var tr, normal, odd []*imageio.Image
	for i := 0; i < 80; i++ {
		tr = append(tr, glyph(r))
	}
	for i := 0; i < 6; i++ {
		normal = append(normal, glyph(r))
		odd = append(odd, disc(r))
	}
	d, err := New(json.RawMessage(tinyConfig))
	if err != nil {
		return nil, nil, nil, err
	}
	return d, normal, odd, d.Fit(context.Background(), tr)
}

// Trained on L glyphs, the classifier names their transformations well,
// and a disc (invariant to flips and quarter turns) scores above every
// normal glyph with both scores; a saved and reloaded model gives
// identical scores; refitting with the same seed gives the same scores.
func TestGeoTransScoresAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	d, normal, odd := sharedTiny(t)
	test := append(append([]*imageio.Image{}, normal...), odd...)
	dir, prob, err := d.Scores(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	n := len(normal)
	for name, s := range map[string][]float64{"dirichlet": dir, "mean_prob": prob} {
		maxNormal := math.Inf(-1)
		for _, v := range s[:n] {
			maxNormal = max(maxNormal, v)
		}
		for i, v := range s[n:] {
			if !(v > maxNormal) {
				t.Errorf("%s: disc %d scores %.4g, not above the highest glyph %.4g", name, i, v, maxNormal)
			}
		}
	}
	for i, p := range prob[:n] {
		// chance is 1/72 ≈ 0.014; ten times that shows learning
		if p > 0.85 {
			t.Errorf("glyph %d: mean probability of the right transformation %.3f: the classifier did not learn", i, 1-p)
		}
	}
	res, err := d.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res {
		if res[i].Score != dir[i] || res[i].Map != nil {
			t.Fatalf("image %d: Score %v, Scores' dirichlet %v", i, res[i].Score, dir[i])
		}
	}

	path := filepath.Join(t.TempDir(), "g.safetensors")
	if err := detector.Save(path, d, detector.Meta{}); err != nil {
		t.Fatal(err)
	}
	d2, _, err := detector.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := d2.Score(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range res {
		if res2[i].Score != res[i].Score {
			t.Fatalf("image %d: %v before save, %v after load", i, res[i].Score, res2[i].Score)
		}
	}

	d3, _, _, err := fitTiny()
	if err != nil {
		t.Fatal(err)
	}
	dir3, prob3, err := d3.Scores(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dir {
		if dir3[i] != dir[i] || prob3[i] != prob[i] {
			t.Fatalf("image %d: refit with the same seed scores %v/%v, first fit %v/%v", i, dir3[i], prob3[i], dir[i], prob[i])
		}
	}
}

func TestGeoTransRejectsBadInput(t *testing.T) {
	for _, raw := range []string{`{"depth":12}`, `{"score":"max"}`, `{"size":5}`, `{"train":{"patch":8}}`, `{"widen":0}`} {
		if _, err := New(json.RawMessage(raw)); err == nil {
			t.Errorf("config %s accepted", raw)
		}
	}
	d, _ := New(json.RawMessage(`{"size":0}`))
	rect := &imageio.Image{C: 1, H: 16, W: 20, Pix: make([]float32, 320)}
	sq := &imageio.Image{C: 1, H: 16, W: 16, Pix: make([]float32, 256)}
	if err := d.Fit(context.Background(), []*imageio.Image{sq, rect}); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Errorf("non-square native-size image: %v", err)
	}
	nan := &imageio.Image{C: 1, H: 16, W: 16, Pix: make([]float32, 256)}
	nan.Pix[17] = float32(math.NaN())
	if err := d.Fit(context.Background(), []*imageio.Image{sq, nan}); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Errorf("NaN pixel: %v", err)
	}
	if _, err := d.Score(context.Background(), []*imageio.Image{sq}); err == nil {
		t.Error("unfitted detector scored")
	}
}

// A model file with a non-positive Dirichlet parameter or a missing
// network tensor is refused by name.
func TestGeoTransRestoreChecksTensors(t *testing.T) {
	d, _, _ := sharedTiny(t)
	cfg, _ := json.Marshal(d.Config())
	base := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		base[ts.Name] = ts
	}
	bad := map[string]safetensors.Tensor{}
	for k, v := range base {
		bad[k] = v
	}
	a, _ := base["alpha"].Float32s()
	a = append([]float32(nil), a...)
	a[5] = 0
	bad["alpha"] = safetensors.F32("alpha", []int{NumTransforms, NumTransforms}, a)
	if err := new(Detector).Restore(cfg, bad); err == nil || !strings.Contains(err.Error(), `"alpha"`) {
		t.Errorf("zero alpha: %v", err)
	}
	delete(bad, "alpha")
	bad["alpha"] = base["alpha"]
	delete(bad, "net.fc.weight")
	if err := new(Detector).Restore(cfg, bad); err == nil || !strings.Contains(err.Error(), "net.fc.weight") {
		t.Errorf("missing fc weight: %v", err)
	}
	if err := new(Detector).Restore(cfg, base); err != nil {
		t.Errorf("intact tensors: %v", err)
	}
}
