package deepsvdd

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// small is a configuration that trains in well under a second on tiny
// images.
const small = `{"size":12,"net":"lenet","ae":{"epochs":2,"batch_size":32,"lr":0.003},"train":{"epochs":6,"batch_size":32,"lr":0.003}`

// blobs returns n gray 12×12 images of one bright spot near the centre
// (seeded jitter of position and brightness).
func blobs(n int, seed uint64) []*imageio.Image {
	r := rand.New(rand.NewPCG(seed, 2))
	var out []*imageio.Image
	for i := 0; i < n; i++ {
		cy, cx := 6+r.NormFloat64()*0.7, 6+r.NormFloat64()*0.7
		a := 0.8 + 0.2*r.Float64()
		out = append(out, spot(cy, cx, a))
	}
	return out
}

func spot(cy, cx, a float64) *imageio.Image {
	img := imageio.New(1, 12, 12)
	for y := 0; y < 12; y++ {
		for x := 0; x < 12; x++ {
			d2 := (float64(y)-cy)*(float64(y)-cy) + (float64(x)-cx)*(float64(x)-cx)
			img.Set(0, y, x, float32(a*math.Exp(-d2/6)))
		}
	}
	return img
}

func fit(t *testing.T, cfg string, imgs []*imageio.Image) *Detector {
	t.Helper()
	d, err := New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestContract(t *testing.T) {
	detectortest.Run(t, Name, `{"size":16,"gray":false,"net":"lenet","ae":{"epochs":10,"batch_size":8,"lr":0.003},"train":{"epochs":20,"batch_size":8,"lr":0.003}}`,
		detectortest.Options{NoMap: true, NTrain: 64, Size: 32})
}

// TestObjectiveDecreases trains the one-class objective and checks that
// the epoch loss goes down, and that a spot far from the training
// positions scores above every training image.
func TestObjectiveDecreases(t *testing.T) {
	train := blobs(96, 1)
	d := fit(t, small+`,"pretrain":false}`, train)
	h := d.TrainReport().History
	if len(h) != 6 {
		t.Fatalf("%d epochs in the history, want 6", len(h))
	}
	if !(h[len(h)-1].Loss < 0.5*h[0].Loss) {
		t.Errorf("loss went from %g (epoch 1) to %g (epoch %d): not halved", h[0].Loss, h[len(h)-1].Loss, len(h))
	}
	for i := 1; i < len(h); i++ {
		if h[i].Loss > h[i-1].Loss*1.05 {
			t.Errorf("loss rose from %g to %g at epoch %d", h[i-1].Loss, h[i].Loss, i+1)
		}
	}
	res, err := d.Score(context.Background(), append(train, spot(2, 10, 1), spot(10, 2, 1)))
	if err != nil {
		t.Fatal(err)
	}
	maxTrain := math.Inf(-1)
	for _, r := range res[:len(train)] {
		maxTrain = max(maxTrain, r.Score)
	}
	for _, r := range res[len(train):] {
		if !(r.Score > maxTrain) {
			t.Errorf("a far spot scores %g, not above the training maximum %g", r.Score, maxTrain)
		}
	}
}

// TestSoftBoundaryFraction trains the soft-boundary objective with R last
// set two epochs before the end and checks that the fraction of training
// images outside the sphere (score > 0) is still close to ν.
func TestSoftBoundaryFraction(t *testing.T) {
	train := blobs(200, 3)
	for _, nu := range []float64{0.1, 0.3} {
		d := fit(t, `{"size":12,"net":"lenet","objective":"soft-boundary","nu":`+jsonNum(nu)+`,"warmup":2,"r_every":3,"pretrain":false,"train":{"epochs":7,"batch_size":32,"lr":0.001}}`, train)
		if !(d.Radius() > 0) {
			t.Fatalf("nu=%g: radius %g, want > 0", nu, d.Radius())
		}
		res, err := d.Score(context.Background(), train)
		if err != nil {
			t.Fatal(err)
		}
		out := 0
		for _, r := range res {
			if r.Score > 0 {
				out++
			}
		}
		f := float64(out) / float64(len(train))
		t.Logf("nu=%g: %.3f of the training images outside R = %.4g", nu, f, d.Radius())
		if math.Abs(f-nu) > 0.05+nu/4 {
			t.Errorf("nu=%g: %.3f of the training images are outside R", nu, f)
		}
	}
}

func jsonNum(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLossValues checks both objectives against a direct computation.
func TestLossValues(t *testing.T) {
	spec, err := specFor("lenet", 1, 12)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(spec, 5)
	imgs := blobs(5, 9)
	x := tensor.New(5, 1, 12, 12)
	for i, m := range imgs {
		copy(x.Data[i*144:(i+1)*144], m.Pix)
	}
	c := make([]float32, spec.Rep)
	for j := range c {
		c[j] = 0.1 * float32(j%3-1)
	}
	enc.Train(false) // same network output in Loss and below
	var z []float32
	nn.NoGrad(func() { z = enc.Forward(nn.NewVar(x)).Value.Data })
	dist := make([]float64, 5)
	for i := range dist {
		for j := 0; j < spec.Rep; j++ {
			v := float64(z[i*spec.Rep+j]) - float64(c[j])
			dist[i] += v * v
		}
	}
	b := &train.Batch{X: x}
	cfg := DefaultConfig()
	oc := &svddTask{enc: enc, c: c, cfg: cfg}
	want := (dist[0] + dist[1] + dist[2] + dist[3] + dist[4]) / 5
	if got := float64(oc.Loss(b, nil).Item()); math.Abs(got-want) > 1e-5*math.Max(1, want) {
		t.Errorf("one-class loss %g, want %g", got, want)
	}
	cfg.Objective, cfg.Nu = "soft-boundary", 0.4
	r := float32(math.Sqrt(dist[2])) // dist[2] is on the boundary
	sb := &svddTask{enc: enc, c: c, cfg: cfg, r: r}
	r2 := float64(r) * float64(r)
	var hinge float64
	for _, v := range dist {
		hinge += max(0, v-r2)
	}
	want = r2 + hinge/5/0.4
	if got := float64(sb.Loss(b, nil).Item()); math.Abs(got-want) > 1e-4*math.Max(1, want) {
		t.Errorf("soft-boundary loss %g, want %g", got, want)
	}
}

func TestBiasFree(t *testing.T) {
	for _, tc := range []struct {
		net        string
		size, reps int
		blocks     int
	}{{"lenet", 28, 32, 2}, {"deep", 32, 128, 3}, {"deep", 128, 128, 4}, {"auto", 28, 32, 2}, {"auto", 64, 128, 3}} {
		s, err := specFor(tc.net, 3, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Widths) != tc.blocks || s.Rep != tc.reps {
			t.Errorf("%s at %d: %d blocks, %d-d; want %d, %d", tc.net, tc.size, len(s.Widths), s.Rep, tc.blocks, tc.reps)
		}
		e := newEncoder(s, 1)
		ps := e.Params()
		if len(ps) != len(s.Widths)+1 {
			t.Errorf("%s: %d parameters, want one weight per conv and the linear map", tc.net, len(ps))
		}
		for _, p := range ps {
			if !strings.HasSuffix(p.Name, "weight") {
				t.Errorf("%s: parameter %q is not a weight (no biases, no affine batch norm)", tc.net, p.Name)
			}
		}
	}
	if _, err := specFor("lenet", 1, 30); err == nil {
		t.Error("lenet at 30 pixels: no error")
	}
}

func TestCentreGuard(t *testing.T) {
	spec, _ := specFor("lenet", 1, 12)
	enc := newEncoder(spec, 2)
	c := centre(enc, blobs(20, 4), 0.1)
	for j, v := range c {
		if math.Abs(float64(v)) < 0.1-1e-7 {
			t.Errorf("centre coordinate %d is %g, inside (-eps, eps)", j, v)
		}
	}
	// eps 0 leaves the mean as it is.
	c0 := centre(enc, blobs(20, 4), 0)
	for j := range c {
		if math.Abs(float64(c0[j])) >= 0.1 && c0[j] != c[j] {
			t.Errorf("coordinate %d: %g moved to %g though outside eps", j, c0[j], c[j])
		}
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{4, 1, 3, 2, 5}
	for q, want := range map[float64]float64{0: 1, 1: 5, 0.5: 3, 0.9: 4.6, 0.125: 1.5} {
		if got := quantile(v, q); math.Abs(got-want) > 1e-12 {
			t.Errorf("quantile %g = %g, want %g", q, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"nu":0}`:                   "nu 0",
		`{"objective":"hard"}`:       "objective",
		`{"net":"vgg"}`:              "\"vgg\" is not one of",
		`{"size":30}`:                "size 30",
		`{"r_every":0}`:              "r_every 0",
		`{"train":{"patch":8}}`:      "train.patch 8",
		`{"train":{"lr":0}}`:         "lr",
		`{"ae":{"epochs":0}}`:        "ae: train.epochs",
		`{"centre":1}`:               "centre",
		`{"gray":true,"channels":3}`: "channels 3",
	} {
		_, err := detector.New(Name, json.RawMessage(cfg))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", cfg, err, want)
		}
	}
}

func TestRestoreRefusesBadTensors(t *testing.T) {
	d := fit(t, small+`,"objective":"soft-boundary","warmup":1}`, blobs(40, 5))
	cfg, _ := json.Marshal(d.Config())
	base := map[string]safetensors.Tensor{}
	for _, ts := range d.Tensors() {
		base[ts.Name] = ts
	}
	if err := new(Detector).Restore(cfg, base); err != nil {
		t.Fatalf("restore of a good model: %v", err)
	}
	with := func(name string, v []float32, shape ...int) map[string]safetensors.Tensor {
		m := map[string]safetensors.Tensor{}
		for k, t := range base {
			m[k] = t
		}
		if v == nil {
			delete(m, name)
		} else {
			m[name] = safetensors.F32(name, shape, v)
		}
		return m
	}
	nanW := make([]float32, 8*1*5*5)
	nanW[3] = float32(math.Inf(1))
	negVar := []float32{1, 1, -1, 1}
	for what, ts := range map[string]map[string]safetensors.Tensor{
		`"enc.conv0.weight"`:    with("enc.conv0.weight", nil),
		`non-finite`:            with("enc.conv0.weight", nanW, 8, 1, 5, 5),
		`"enc.bn1.running_var"`: with("enc.bn1.running_var", negVar, 4),
		`"center"`:              with("center", make([]float32, 3), 3),
		`"radius"`:              with("radius", []float32{-1}, 1),
	} {
		err := new(Detector).Restore(cfg, ts)
		if err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("want an error mentioning %s, got %v", what, err)
		}
	}
}

// TestResume interrupts nothing but checks the checkpoint contract: a
// second Fit resuming from the first one's finished checkpoints trains
// nothing and gives the same scores.
func TestResume(t *testing.T) {
	imgs := blobs(40, 6)
	dir := t.TempDir()
	d1, _ := New(json.RawMessage(small + `}`))
	d1.SetTrainSession(train.Session{CheckpointDir: dir})
	if err := d1.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	d2, _ := New(json.RawMessage(small + `}`))
	d2.SetTrainSession(train.Session{CheckpointDir: dir, Resume: true})
	if err := d2.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	if s := d2.TrainReport().Stopped; s != "resumed-finished" {
		t.Errorf("resumed fit stopped by %q, want resumed-finished", s)
	}
	r1, _ := d1.Score(context.Background(), imgs[:5])
	r2, _ := d2.Score(context.Background(), imgs[:5])
	for i := range r1 {
		if r1[i].Score != r2[i].Score {
			t.Errorf("image %d: %v fitted, %v resumed", i, r1[i].Score, r2[i].Score)
		}
	}
}

// TestConcurrentScore scores from several goroutines at once (run with
// -race): a fitted model is only read.
func TestConcurrentScore(t *testing.T) {
	imgs := blobs(40, 8)
	d := fit(t, small+`}`, imgs)
	want, err := d.Score(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got, err := d.Score(context.Background(), imgs)
			if err == nil {
				for i := range got {
					if got[i].Score != want[i].Score {
						err = fmt.Errorf("image %d: %v concurrently, %v alone", i, got[i].Score, want[i].Score)
						break
					}
				}
			}
			errs <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestExport runs the exported graph with Vigil's executor against Score:
// the gray one-class lenet with gcn, and the colour soft-boundary deep net
// without normalisation, whose R > 0 tests the R² term.
func TestExport(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		size      int
		soft      bool
	}{
		{"lenet-gray-gcn", `{"size":12,"gray":true,"norm":"gcn","net":"lenet","pretrain":false,"train":{"epochs":3,"batch_size":4,"lr":0.003}}`, 12, false},
		{"deep-rgb-soft", `{"size":8,"gray":false,"net":"deep","objective":"soft-boundary","warmup":1,"nu":0.2,"ae":{"epochs":1,"batch_size":4,"lr":0.003},"train":{"epochs":3,"batch_size":4,"lr":0.003}}`, 8, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := detectortest.CheckExport(t, Name, c.cfg, c.size, 1e-4)
			var r2 float32 = -1
			for _, in := range rep.Model.Graph.Initializers {
				if in.Name == "deepsvdd/score/r2" {
					r2 = in.Float[0]
				}
			}
			if c.soft != (r2 > 0) || r2 < 0 {
				t.Errorf("exported R² = %g; want > 0 for soft-boundary, 0 for one-class", r2)
			}
		})
	}
}
