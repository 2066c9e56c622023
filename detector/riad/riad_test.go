package riad

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Every pixel is hidden by exactly one of the n masks, each mask hides
// whole k×k tiles (cut at the border), and the tiles are dealt evenly.
func TestMasksPartitionTheImage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ h, w, k, n int }{{16, 16, 2, 3}, {16, 16, 16, 1}, {13, 21, 4, 3}, {32, 24, 8, 3}, {9, 7, 16, 1}, {64, 64, 16, 5}} {
		owner := partition(c.h, c.w, c.k, c.n, rng)
		x := tensor.New(2, 3, c.h, c.w)
		for i := range x.Data {
			x.Data[i] = 1 + float32(i%7)
		}
		inputs, hidden := masked(x, owner, c.n)
		hw := c.h * c.w
		per := len(x.Data)
		tiles := make([]map[int]bool, c.n)
		for j := range tiles {
			tiles[j] = map[int]bool{}
		}
		for i := range per {
			p := i % hw
			y, xx := p/c.w, p%c.w
			count := 0
			for j := 0; j < c.n; j++ {
				h, in := hidden.Data[j*per+i], inputs.Data[j*per+i]
				switch {
				case h == 1 && in == 0:
					count++
					if int(owner[p]) != j {
						t.Fatalf("%+v: pixel %d hidden by mask %d, owner %d", c, p, j, owner[p])
					}
					tiles[j][(y/c.k)*1000+xx/c.k] = true
				case h == 0 && in == x.Data[i]:
				default:
					t.Fatalf("%+v: mask %d pixel %d: hidden %v, input %v of %v", c, j, i, h, in, x.Data[i])
				}
			}
			if count != 1 {
				t.Fatalf("%+v: pixel %d hidden %d times", c, i, count)
			}
			// Whole tiles: every pixel of a tile has the tile's first pixel's owner.
			if o := owner[(y/c.k*c.k)*c.w+xx/c.k*c.k]; o != owner[p] {
				t.Fatalf("%+v: tile at (%d,%d) split between masks %d and %d", c, y/c.k, xx/c.k, o, owner[p])
			}
		}
		lo, hi := 1<<30, 0
		for _, ts := range tiles {
			lo, hi = min(lo, len(ts)), max(hi, len(ts))
		}
		if hi-lo > 1 {
			t.Errorf("%+v: masks hide between %d and %d tiles", c, lo, hi)
		}
	}
}

// The merge takes each pixel from the inpainting whose mask hid it, and
// the gradient reaches exactly those pixels.
func TestMergeTakesEachPixelFromItsMask(t *testing.T) {
	const n, b, c, h, w = 3, 2, 2, 10, 12
	owner := partition(h, w, 4, n, rand.New(rand.NewPCG(3, 4)))
	_, hidden := masked(tensor.New(b, c, h, w), owner, n)
	out := tensor.New(n*b, c, h, w)
	for i := range out.Data {
		out.Data[i] = float32(i)
	}
	v := nn.NewParamVar(out)
	merged := merge(v, hidden, n)
	if s := merged.Shape(); len(s) != 4 || s[0] != b || s[1] != c || s[2] != h || s[3] != w {
		t.Fatalf("merged shape %v", s)
	}
	per := b * c * h * w
	for i, got := range merged.Value.Data {
		j := int(owner[i%(h*w)])
		if want := out.Data[j*per+i]; got != want {
			t.Fatalf("pixel %d: merged %v, want %v from mask %d", i, got, want, j)
		}
	}
	nn.Backward(nn.Sum(merged))
	for i, g := range v.Grad.Data {
		if want := hidden.Data[i]; g != want {
			t.Fatalf("gradient %v at %d, want %v", g, i, want)
		}
	}
}

// small trains fast: 32x32 working images, a two-level U-Net.
const small = `{"size":32,"ks":[2,4,8],"width":8,"depth":2,"smooth":1,
	"train":{"epochs":12,"steps_per_epoch":0,"batch_size":8,"patch":0,"lr":0.005,"val_fraction":0},"seed":5}`

// The contract on generated textures: planted defects found at the right
// place, maps at the input's size (odd sizes too), identical scores after
// save/load and after a refit with the same seed.
func TestContract(t *testing.T) {
	detectortest.Run(t, Name, small, detectortest.Options{Size: 64, NTrain: 16})
}

func TestConfigRefusals(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`{"size":100}`, "size 100"},
		{`{"ks":[]}`, "ks is empty"},
		{`{"ks":[4,4]}`, "repeated"},
		{`{"ks":[64]}`, "fewer than masks"},
		{`{"masks":1}`, "masks 1"},
		{`{"depth":0}`, "depth 0"},
		{`{"train":{"patch":20}}`, "train.patch 20"},
		{`{"smooth":-1}`, "smooth"},
		{`{"train":{"lr":0}}`, "train.lr"},
		{`{"seed":3,"train":{"seed":4}}`, "train.seed 4 differs from seed 3"},
	} {
		_, err := detector.New(Name, json.RawMessage(c.raw))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.raw, err, c.want)
		}
	}
}

// A gray model refuses colour images by name instead of guessing, and a
// model scores nothing before it is fitted.
func TestBadInput(t *testing.T) {
	d, err := New(json.RawMessage(small))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Score(ctx, []*imageio.Image{imageio.New(1, 32, 32)}); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Errorf("unfitted score: %v", err)
	}
	gray := make([]*imageio.Image, 4)
	for i := range gray {
		gray[i] = imageio.New(1, 32, 32)
		for j := range gray[i].Pix {
			gray[i].Pix[j] = float32((i+j)%5) / 5
		}
	}
	quick := `{"size":32,"ks":[4],"width":4,"depth":2,"train":{"epochs":1,"steps_per_epoch":0,"patch":0,"batch_size":4,"val_fraction":0}}`
	d, _ = New(json.RawMessage(quick))
	if err := d.Fit(ctx, gray); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Score(ctx, []*imageio.Image{imageio.New(3, 32, 32)}); err == nil || !strings.Contains(err.Error(), "image 0 has 3 channels") {
		t.Errorf("colour image on a gray model: %v", err)
	}
	var sess []train.Epoch
	d.SetTrainSession(train.Session{Progress: func(e train.Epoch) { sess = append(sess, e) }})
	if err := d.Fit(ctx, gray); err != nil || len(sess) != 1 {
		t.Errorf("fit with a session: %v, %d progress reports, want 1", err, len(sess))
	}
}

// Training is what finds the defect: a square of stripes half a period
// out of phase (same texture statistics, wrong content) is located by the trained
// inpainter, and normal images inpaint far better after training than
// before it.
func TestTrainingLearnsTheTexture(t *testing.T) {
	ctx := context.Background()
	const n = 64
	var train []*imageio.Image
	for i := 0; i < 16; i++ {
		train = append(train, detectortest.Texture(uint64(i), n, n))
	}
	var normal, defects []*imageio.Image
	var masks []*imageio.Map
	for i := 0; i < 4; i++ {
		normal = append(normal, detectortest.Texture(uint64(100+i), n, n))
		img := detectortest.Texture(uint64(200+i), n, n)
		m := imageio.NewMap(n, n)
		y0, x0 := 8+10*i, 40-9*i
		for y := y0; y < y0+14; y++ {
			for x := x0; x < x0+14; x++ {
				for c := 0; c < 3; c++ {
					// 5 pixels across is half a stripe period.
					img.Set(c, y, x, img.At(c, y, x+5))
				}
				m.Set(y, x, 1)
			}
		}
		defects = append(defects, img)
		masks = append(masks, m)
	}
	meanScore := func(d *Detector) float64 {
		res, err := d.Score(ctx, normal)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, r := range res {
			s += r.Score
		}
		return s / float64(len(res))
	}
	untrained, _ := New(json.RawMessage(strings.Replace(small, `"epochs":12`, `"epochs":1`, 1)))
	untrained.cfg.Train.LR = 1e-9 // one step of nothing: the initial network
	if err := untrained.Fit(ctx, train); err != nil {
		t.Fatal(err)
	}
	d, _ := New(json.RawMessage(small))
	if err := d.Fit(ctx, train); err != nil {
		t.Fatal(err)
	}
	before, after := meanScore(untrained), meanScore(d)
	if !(after < before/2) {
		t.Errorf("normal images score %.4f after training, %.4f before: want less than half", after, before)
	}
	res, err := d.Score(ctx, append(defects, normal...))
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for i, r := range res[:len(defects)] {
		best := 0
		for p, v := range r.Map.Pix {
			if v > r.Map.Pix[best] {
				best = p
			}
		}
		// Within 4 pixels of the square, as detectortest allows: the
		// smoothed map of a 32x32 working image is coarse.
		by, bx := best/n, best%n
		near := false
		for y := max(0, by-4); y <= min(n-1, by+4); y++ {
			for x := max(0, bx-4); x <= min(n-1, bx+4); x++ {
				near = near || masks[i].At(y, x) > 0
			}
		}
		if near {
			hits++
		} else {
			t.Logf("image %d: peak at (%d,%d)", i, by, bx)
		}
		for _, nr := range res[len(defects):] {
			if !(r.Score > nr.Score) {
				t.Errorf("out-of-phase square %d scores %.4f, normal %.4f", i, r.Score, nr.Score)
			}
		}
	}
	if hits < len(defects) {
		t.Errorf("map peak inside the out-of-phase square for %d of %d images", hits, len(defects))
	}
}

// BenchmarkTrainStep is one default training step: 8 crops of 64x64 gray,
// 3 masks, U-Net width 16 depth 3 with batch norm, MSE+SSIM+MSGMS.
func BenchmarkTrainStep(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Channels = 1
	net, _ := arch.NewUNet(cfg.spec(), 1)
	tk := &task{net: net, cfg: cfg}
	opt := optim.NewAdam(net.Params(), 1e-3, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	batch := &train.Batch{X: tensor.New(cfg.Train.BatchSize, 1, cfg.Train.Patch, cfg.Train.Patch)}
	for i := range batch.X.Data {
		batch.X.Data[i] = rng.Float32()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nn.ZeroGrad(net.Params())
		nn.Backward(tk.Loss(batch, rng))
		opt.Step()
	}
}
