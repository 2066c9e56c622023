package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

func randImages(n, c, h, w int) []*imageio.Image {
	imgs := make([]*imageio.Image, n)
	for i := range imgs {
		imgs[i] = randImage(uint64(100+i), c, h, w)
	}
	return imgs
}

func TestNewSet(t *testing.T) {
	imgs := randImages(3, 3, 6, 8)
	s, err := NewSet(imgs, SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Channels() != 3 {
		t.Fatalf("len %d channels %d", s.Len(), s.Channels())
	}
	x := s.Image(1)
	if !slices.Equal(x.Shape, []int{1, 3, 6, 8}) || !slices.Equal(x.Data, imgs[1].Pix) {
		t.Fatalf("Image(1) shape %v or values differ", x.Shape)
	}
	g, err := NewSet(imgs, SetOptions{Channels: 1, Width: 4, Height: 3})
	if err != nil {
		t.Fatal(err)
	}
	if g.Channels() != 1 || !slices.Equal(g.Image(2).Shape, []int{1, 1, 3, 4}) {
		t.Fatalf("converted shape %v", g.Image(2).Shape)
	}

	bad := randImages(3, 1, 4, 4)
	bad[2].Set(0, 1, 3, float32(math.NaN()))
	for _, c := range []struct {
		imgs []*imageio.Image
		o    SetOptions
		want string
	}{
		{nil, SetOptions{}, "no images"},
		{bad, SetOptions{}, "image 2 has a non-finite value NaN at channel 0, y 1, x 3"},
		{append(randImages(1, 1, 4, 4), randImage(7, 3, 4, 4)), SetOptions{}, "image 1 has 3 channels"},
		{randImages(2, 1, 4, 4), SetOptions{Labels: []int{1}}, "1 labels for 2 images"},
		{randImages(2, 1, 4, 4), SetOptions{Channels: 2}, "channels must be"},
		{randImages(2, 1, 4, 4), SetOptions{Width: 3}, "both"},
	} {
		if _, err := NewSet(c.imgs, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestSplit(t *testing.T) {
	labels := make([]int, 20)
	for i := range labels {
		labels[i] = 1000 + i
	}
	s, err := NewSet(randImages(20, 1, 4, 4), SetOptions{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	sources := func(s *Set) []int {
		var o []int
		for i := range s.Len() {
			o = append(o, s.Source(i))
			if s.Label(i) != 1000+s.Source(i) {
				t.Fatalf("label of source %d is %d", s.Source(i), s.Label(i))
			}
		}
		return o
	}
	tr, va := s.Split(0.25, 7)
	ts, vs := sources(tr), sources(va)
	if len(vs) != 5 || len(ts) != 15 {
		t.Fatalf("split %d/%d, want 15/5", len(ts), len(vs))
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(ts), vs...)))
	for i, v := range all {
		if v != i {
			t.Fatalf("train ∪ val is not every image once: %v", all)
		}
	}
	if !slices.IsSorted(ts) || !slices.IsSorted(vs) {
		t.Fatal("split does not keep the parent's order")
	}
	_, va2 := s.Split(0.25, 7)
	if !slices.Equal(sources(va2), vs) {
		t.Fatal("same seed, different split")
	}
	_, va3 := s.Split(0.25, 8)
	if slices.Equal(sources(va3), vs) {
		t.Fatal("seeds 7 and 8 give the same split")
	}
	if tr, va := s.Split(0, 1); tr != s || va != nil {
		t.Fatal("fraction 0 must hold nothing out")
	}
	if _, va := s.Split(0.001, 1); va.Len() != 1 {
		t.Fatal("a positive fraction must hold out at least one image")
	}
	two, _ := NewSet(randImages(2, 1, 4, 4), SetOptions{})
	if tr, va := two.Split(0.9, 1); tr.Len() != 1 || va.Len() != 1 {
		t.Fatal("split must leave one training image")
	}
}

func TestSample(t *testing.T) {
	imgs := []*imageio.Image{randImage(1, 2, 8, 7), randImage(2, 2, 9, 10), randImage(3, 2, 7, 7)}
	s, err := NewSet(imgs, SetOptions{Labels: []int{5, 6, 7}})
	if err != nil {
		t.Fatal(err)
	}
	const p = 5
	var b Batch
	s.Sample(rand.New(rand.NewPCG(1, 1)), 200, p, Augment{}, &b)
	if !slices.Equal(b.X.Shape, []int{200, 2, p, p}) || b.Len() != 200 {
		t.Fatalf("batch shape %v", b.X.Shape)
	}
	seen := map[int]bool{}
	for k := range b.Len() {
		m := imgs[b.Index[k]]
		seen[b.Index[k]] = true
		if b.X0[k] < 0 || b.Y0[k] < 0 || b.X0[k]+p > m.W || b.Y0[k]+p > m.H {
			t.Fatalf("crop %d at (%d,%d) leaves the %dx%d image", k, b.X0[k], b.Y0[k], m.W, m.H)
		}
		if b.Labels[k] != 5+b.Index[k] {
			t.Fatalf("crop %d label %d from image %d", k, b.Labels[k], b.Index[k])
		}
		for c := range 2 {
			for y := range p {
				for x := range p {
					if b.X.Data[((k*2+c)*p+y)*p+x] != m.At(c, b.Y0[k]+y, b.X0[k]+x) {
						t.Fatalf("crop %d is not the image window at its origin", k)
					}
				}
			}
		}
	}
	if len(seen) != 3 {
		t.Fatalf("200 draws hit images %v", seen)
	}

	aug := Augment{HFlip: true, VFlip: true, Rot90: true, Rotate: 10, Shift: 0.1, Scale: 0.1, Brightness: 0.1, Contrast: 0.1, Noise: 0.01}
	var b1, b2, b3 Batch
	s.Sample(rand.New(rand.NewPCG(3, 4)), 16, p, aug, &b1)
	s.Sample(rand.New(rand.NewPCG(3, 4)), 16, p, aug, &b2)
	s.Sample(rand.New(rand.NewPCG(3, 5)), 16, p, aug, &b3)
	if !slices.Equal(b1.X.Data, b2.X.Data) || !slices.Equal(b1.Index, b2.Index) || !slices.Equal(b1.X0, b2.X0) || !slices.Equal(b1.Y0, b2.Y0) {
		t.Fatal("same seed, different batch")
	}
	if slices.Equal(b1.X.Data, b3.X.Data) {
		t.Fatal("different seeds, same batch")
	}
	// Reusing dst for a smaller batch reshapes it.
	s.Sample(rand.New(rand.NewPCG(3, 4)), 4, 3, Augment{}, &b1)
	if !slices.Equal(b1.X.Shape, []int{4, 2, 3, 3}) || len(b1.X.Data) != 4*2*9 || b1.Len() != 4 {
		t.Fatalf("reused batch shape %v", b1.X.Shape)
	}
	// Whole images.
	same, _ := NewSet(randImages(3, 1, 6, 4), SetOptions{})
	same.Sample(rand.New(rand.NewPCG(1, 1)), 2, 0, Augment{}, &b1)
	if !slices.Equal(b1.X.Shape, []int{2, 1, 6, 4}) || b1.Labels != nil || !slices.Equal(b1.X.Data[:24], same.Image(b1.Index[0]).Data) {
		t.Fatalf("whole-image batch shape %v", b1.X.Shape)
	}
}

func TestTiles(t *testing.T) {
	for _, c := range []struct {
		h, w, p int
		ys, xs  []int
	}{
		{8, 8, 4, []int{0, 4}, []int{0, 4}},
		{9, 5, 4, []int{0, 4, 5}, []int{0, 1}},
		{6, 7, 0, []int{0}, []int{0}},
	} {
		ys, xs := tiles(c.h, c.w, c.p)
		if !slices.Equal(ys, c.ys) || !slices.Equal(xs, c.xs) {
			t.Errorf("tiles(%d,%d,%d) = %v %v, want %v %v", c.h, c.w, c.p, ys, xs, c.ys, c.xs)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		key string
		mod func(*Config)
	}{
		{"train.epochs", func(c *Config) { c.Epochs = 0 }},
		{"train.batch_size", func(c *Config) { c.BatchSize = 0 }},
		{"train.patch", func(c *Config) { c.Patch = -1 }},
		{"train.steps_per_epoch", func(c *Config) { c.StepsPerEpoch = -2 }},
		{"train.lr", func(c *Config) { c.LR = 0 }},
		{"train.lr", func(c *Config) { c.LR = math.NaN() }},
		{"train.schedule", func(c *Config) { c.Schedule = "linear" }},
		{"train.step_epochs", func(c *Config) { c.StepEpochs = -1 }},
		{"train.gamma", func(c *Config) { c.Gamma = 0 }},
		{"train.weight_decay", func(c *Config) { c.WeightDecay = -1e-4 }},
		{"train.optimizer", func(c *Config) { c.Optimizer = "lbfgs" }},
		{"train.momentum", func(c *Config) { c.Momentum = 1 }},
		{"train.patience", func(c *Config) { c.Patience = -1 }},
		{"train.val_fraction", func(c *Config) { c.ValFraction = 1 }},
		{"train.augment.rotate", func(c *Config) { c.Augment.Rotate = 190 }},
		{"train.augment.shift", func(c *Config) { c.Augment.Shift = -0.1 }},
		{"train.augment.scale", func(c *Config) { c.Augment.Scale = 1 }},
		{"train.augment.brightness", func(c *Config) { c.Augment.Brightness = math.Inf(1) }},
		{"train.augment.contrast", func(c *Config) { c.Augment.Contrast = 1.5 }},
		{"train.augment.noise", func(c *Config) { c.Augment.Noise = -1 }},
	} {
		cfg := Defaults()
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.key+":") {
			t.Errorf("want an error naming %s, got %v", c.key, err)
		}
	}
}

// BenchmarkCrops: one batch of 32 RGB 64×64 crops from 256×256 images,
// with and without every augmentation.
func BenchmarkCrops(b *testing.B) {
	s, err := NewSet(randImages(8, 3, 256, 256), SetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}
	for _, c := range []struct {
		name string
		aug  Augment
	}{
		{"plain", Augment{}},
		{"all", Augment{HFlip: true, VFlip: true, Rot90: true, Rotate: 10, Shift: 0.1, Scale: 0.1, Brightness: 0.1, Contrast: 0.1, Noise: 0.02}},
	} {
		b.Run(c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			var batch Batch
			for b.Loop() {
				s.Crops(rng, idx, 64, c.aug, &batch)
			}
		})
	}
}
