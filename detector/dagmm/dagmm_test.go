package dagmm

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// det3 and inv3 are the 3×3 determinant and inverse by cofactors: an
// evaluation that shares nothing with the LU of nn.Inverse and nn.LogDet.
func det3(a [9]float64) float64 {
	return a[0]*(a[4]*a[8]-a[5]*a[7]) - a[1]*(a[3]*a[8]-a[5]*a[6]) + a[2]*(a[3]*a[7]-a[4]*a[6])
}

func inv3(a [9]float64) [9]float64 {
	d := det3(a)
	return [9]float64{
		(a[4]*a[8] - a[5]*a[7]) / d, (a[2]*a[7] - a[1]*a[8]) / d, (a[1]*a[5] - a[2]*a[4]) / d,
		(a[5]*a[6] - a[3]*a[8]) / d, (a[0]*a[8] - a[2]*a[6]) / d, (a[2]*a[3] - a[0]*a[5]) / d,
		(a[3]*a[7] - a[4]*a[6]) / d, (a[1]*a[6] - a[0]*a[7]) / d, (a[0]*a[4] - a[1]*a[3]) / d,
	}
}

func randomBatch(seed uint64, n, d, k int) (z, gamma *tensor.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 9))
	z, gamma = tensor.New(n, d), tensor.New(n, k)
	for i := range z.Data {
		z.Data[i] = float32(rng.NormFloat64())
	}
	for i := 0; i < n; i++ {
		var s float64
		row := make([]float64, k)
		for j := range row {
			row[j] = math.Exp(2 * rng.NormFloat64())
			s += row[j]
		}
		for j := range row {
			gamma.Data[i*k+j] = float32(row[j] / s)
		}
	}
	return z, gamma
}

// The energy built from nn ops equals the mixture density evaluated by
// brute force in float64: weights, means and covariances as weighted sums,
// −log Σ_k φ_k N(z; μ_k, Σ_k + eps·I) with cofactor inverses; so does the
// penalty Σ_k Σ_j 1/Σ_k[j,j].
func TestEnergyMatchesBruteForce(t *testing.T) {
	const n, d, k, eps = 30, 3, 3, 1e-3
	z, gamma := randomBatch(1, n, d, k)
	energy, pen := mixtureEnergy(nn.NewVar(z), nn.NewVar(gamma), eps)
	if s := energy.Shape(); len(s) != 1 || s[0] != n {
		t.Fatalf("energy shape %v", s)
	}
	phi := make([]float64, k)
	mu := make([][3]float64, k)
	cov := make([][9]float64, k)
	var wantPen float64
	for c := 0; c < k; c++ {
		var s float64
		for i := 0; i < n; i++ {
			g := float64(gamma.Data[i*k+c])
			s += g
			for a := 0; a < d; a++ {
				mu[c][a] += g * float64(z.Data[i*d+a])
			}
		}
		phi[c] = s / n
		for a := range mu[c] {
			mu[c][a] /= s
		}
		for i := 0; i < n; i++ {
			g := float64(gamma.Data[i*k+c])
			for a := 0; a < d; a++ {
				for b := 0; b < d; b++ {
					cov[c][a*d+b] += g * (float64(z.Data[i*d+a]) - mu[c][a]) * (float64(z.Data[i*d+b]) - mu[c][b]) / s
				}
			}
		}
		for a := 0; a < d; a++ {
			cov[c][a*d+a] += eps
			wantPen += 1 / cov[c][a*d+a]
		}
	}
	for i := 0; i < n; i++ {
		var p float64
		for c := 0; c < k; c++ {
			inv := inv3(cov[c])
			var q float64
			for a := 0; a < d; a++ {
				for b := 0; b < d; b++ {
					q += (float64(z.Data[i*d+a]) - mu[c][a]) * inv[a*d+b] * (float64(z.Data[i*d+b]) - mu[c][b])
				}
			}
			p += phi[c] * math.Exp(-q/2) / math.Sqrt(math.Pow(2*math.Pi, d)*det3(cov[c]))
		}
		want := -math.Log(p)
		if got := float64(energy.Value.Data[i]); math.Abs(got-want) > 1e-4*max(1, math.Abs(want)) {
			t.Errorf("sample %d: energy %.6f, brute force %.6f", i, got, want)
		}
	}
	if got := float64(pen.Item()); math.Abs(got-wantPen) > 1e-4*wantPen {
		t.Errorf("penalty %.6f, brute force %.6f", got, wantPen)
	}
}

// The gradient of the energy with respect to z and the memberships
// matches central differences (float64 sums of float32 evaluations).
func TestEnergyGradient(t *testing.T) {
	const n, d, k, eps = 10, 3, 2, 1e-2
	z, gamma := randomBatch(2, n, d, k)
	rng := rand.New(rand.NewPCG(3, 3))
	r := make([]float64, n)
	for i := range r {
		r[i] = rng.Float64()*2 - 1
	}
	f := func() float64 {
		var s float64
		nn.NoGrad(func() {
			e, p := mixtureEnergy(nn.NewVar(z), nn.NewVar(gamma), eps)
			for i, v := range e.Value.Data {
				s += r[i] * float64(v)
			}
			s += 0.1 * float64(p.Item())
		})
		return s
	}
	zv, gv := nn.NewParamVar(z), nn.NewParamVar(gamma)
	e, p := mixtureEnergy(zv, gv, eps)
	rt := tensor.New(n)
	for i := range rt.Data {
		rt.Data[i] = float32(r[i])
	}
	nn.Backward(nn.Add(nn.Sum(nn.Mul(e, nn.NewVar(rt))), nn.Scale(p, 0.1)))
	for _, in := range []struct {
		name string
		v    *nn.Var
	}{{"z", zv}, {"gamma", gv}} {
		for i := range in.v.Value.Data {
			old := in.v.Value.Data[i]
			h := float32(1e-2)
			in.v.Value.Data[i] = old + h
			up := f()
			in.v.Value.Data[i] = old - h
			down := f()
			in.v.Value.Data[i] = old
			num := (up - down) / float64(2*h)
			got := float64(in.v.Grad.Data[i])
			if math.Abs(got-num) > 2e-2*max(1, math.Abs(num)) {
				t.Errorf("d/d%s[%d]: analytic %.5f, numeric %.5f", in.name, i, got, num)
			}
		}
	}
}

// small trains fast: 32x32 working images, 4x4 patches.
const small = `{"size":32,"patch":4,"stride":2,"hidden":[16],"latent":2,"components":2,"smooth":1,"cov_eps":0.001,
	"train":{"epochs":15,"batch_size":4,"lr":0.01,"val_fraction":0},"seed":3}`

// The contract on generated textures: planted defects found at the right
// place, maps at the input's size (odd sizes too), identical scores after
// save/load and after a refit with the same seed.
func TestContract(t *testing.T) {
	detectortest.Run(t, Name, small, detectortest.Options{Size: 64, NTrain: 16})
}

func TestPatchesAndOrigins(t *testing.T) {
	if got := origins(10, 4, 3); len(got) != 3 || got[0] != 0 || got[1] != 3 || got[2] != 6 {
		t.Errorf("origins(10,4,3) = %v, want [0 3 6]", got)
	}
	if got := origins(11, 4, 3); len(got) != 4 || got[3] != 7 {
		t.Errorf("origins(11,4,3) = %v, want [0 3 6 7]", got)
	}
	c := Config{Patch: 2, Stride: 2, Normalize: "none"}
	x := tensor.New(1, 2, 4, 4)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	p := c.patches(x)
	if s := p.Shape; s[0] != 4 || s[1] != 8 {
		t.Fatalf("patches shape %v", s)
	}
	// Standardised: each channel plane has mean 0 and deviation 1.
	z := Config{Patch: 2, Stride: 2, Normalize: "image"}.patches(x.Clone())
	for ch := 0; ch < 2; ch++ {
		var s, ss float64
		for r := 0; r < 4; r++ {
			for _, v := range z.Data[r*8+ch*4 : r*8+ch*4+4] {
				s += float64(v)
				ss += float64(v) * float64(v)
			}
		}
		if math.Abs(s/16) > 1e-6 || math.Abs(ss/16-1) > 1e-5 {
			t.Errorf("channel %d standardised to mean %g, mean square %g", ch, s/16, ss/16)
		}
	}
	// Patch 3 (origin y 2, x 2): channel 0 rows 2,3 cols 2,3; then channel 1.
	want := []float32{10, 11, 14, 15, 26, 27, 30, 31}
	for i, v := range p.Data[3*8 : 4*8] {
		if v != want[i] {
			t.Fatalf("patch 3 = %v, want %v", p.Data[24:32], want)
		}
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`{"patch":0}`, "patch 0"},
		{`{"normalize":"batch"}`, "normalize"},
		{`{"size":4}`, "size 4 is smaller than patch 8"},
		{`{"dropout":1}`, "dropout"},
		{`{"cov_eps":0}`, "cov_eps"},
		{`{"hidden":[4,0]}`, "hidden[1]"},
		{`{"components":0}`, "components 0"},
		{`{"seed":3,"train":{"seed":4}}`, "train.seed 4 differs from seed 3"},
		{`{"train":{"patch":4}}`, "train.patch 4"},
	} {
		_, err := detector.New(Name, json.RawMessage(c.raw))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.raw, err, c.want)
		}
	}
}

// A model refuses to score before it is fitted, and a gray model refuses
// colour images by name.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	d, _ := New(json.RawMessage(small))
	if _, err := d.Score(ctx, []*imageio.Image{imageio.New(1, 32, 32)}); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Errorf("unfitted score: %v", err)
	}
	gray := make([]*imageio.Image, 4)
	for i := range gray {
		gray[i] = imageio.New(1, 32, 32)
		for j := range gray[i].Pix {
			gray[i].Pix[j] = float32((i*7+j*j)%11) / 11
		}
	}
	d, _ = New(json.RawMessage(strings.Replace(small, `"epochs":15`, `"epochs":1`, 1)))
	if err := d.Fit(ctx, gray); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Score(ctx, []*imageio.Image{imageio.New(3, 32, 32)}); err == nil || !strings.Contains(err.Error(), "image 0 has 3 channels") {
		t.Errorf("colour image on a gray model: %v", err)
	}
}

// End-to-end training lowers the objective (reconstruction + energy +
// penalty) on textures: the networks do learn.
func TestTrainingLowersTheLoss(t *testing.T) {
	cfg, err := ParseConfig(json.RawMessage(small))
	if err != nil {
		t.Fatal(err)
	}
	var imgs []*imageio.Image
	for i := 0; i < 8; i++ {
		imgs = append(imgs, detectortest.Texture(uint64(i), 32, 32))
	}
	cfg.Channels = 3
	set, err := cfg.workSet(imgs, 3)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := train.Fit(context.Background(), "dagmm", &task{net: cfg.newNet(), cfg: cfg}, set, nil, cfg.Train, train.Session{})
	if err != nil {
		t.Fatal(err)
	}
	first, last := rep.History[0].Loss, rep.History[len(rep.History)-1].Loss
	if !(last < first-0.5*math.Abs(first)) {
		t.Errorf("loss %.4f in epoch 1, %.4f in epoch %d: want a clear decrease", first, last, len(rep.History))
	}
}
