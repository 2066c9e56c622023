package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// reconTask reconstructs its input through a tiny conv net with batch
// norm (so buffers matter), plus a centre updated after every epoch from
// the weights (so Stateful and EpochEnder matter).
type reconTask struct {
	net    *nn.Sequential
	centre []float32
	calls  int
	onLoss func(n int) // called before each training loss, with the count so far
	val    []valDraw   // every validation batch seen
}

// valDraw records a validation batch: the task's first random draw, the
// sum of its pixels and its size.
type valDraw struct {
	draw uint64
	sum  float64
	n    int
}

func newRecon(seed uint64, hidden int) *reconTask {
	rng := nn.NewRNG(seed)
	return &reconTask{
		net: nn.NewSequential(
			nn.NewConv2d(nn.ConvSpec{In: 1, Out: hidden, Kernel: 3, Pad: 1}, rng),
			nn.NewBatchNorm2d(hidden),
			nn.Func(nn.ReLU),
			nn.NewConv2d(nn.ConvSpec{In: hidden, Out: 1, Kernel: 3, Pad: 1}, rng),
		),
		centre: []float32{0},
	}
}

func (r *reconTask) Module() nn.Module { return r.net }

func (r *reconTask) Loss(b *Batch, rng *rand.Rand) *nn.Var {
	if nn.GradEnabled() {
		r.calls++
		if r.onLoss != nil {
			r.onLoss(r.calls)
		}
		if !r.net.Layers[1].(*nn.BatchNorm2dLayer).Training {
			panic("training step in evaluation mode")
		}
	} else {
		if r.net.Layers[1].(*nn.BatchNorm2dLayer).Training {
			panic("validation in training mode")
		}
		var s float64
		for _, v := range b.X.Data {
			s += float64(v)
		}
		r.val = append(r.val, valDraw{rng.Uint64(), s, b.Len()})
	}
	x := nn.NewVar(b.X)
	target := b.X.Clone()
	for i := range target.Data {
		target.Data[i] += 0.01 * r.centre[0]
	}
	return nn.MSELoss(r.net.Forward(x), nn.NewVar(target))
}

func (r *reconTask) EndEpoch(int) error {
	var s float64
	for _, v := range r.net.Params()[0].Value.Data {
		s += float64(v)
	}
	r.centre[0] = float32(s)
	return nil
}

func (r *reconTask) TrainState() []safetensors.Tensor {
	return []safetensors.Tensor{safetensors.F32("centre", []int{1}, r.centre)}
}

func (r *reconTask) LoadTrainState(m map[string]safetensors.Tensor) error {
	t, ok := m["centre"]
	if !ok {
		return errors.New("missing centre")
	}
	v, err := t.Float32s()
	if err != nil {
		return err
	}
	r.centre = v
	return nil
}

// smoothImages are 8×8 gray images of random low-frequency patterns,
// which a 3×3 conv net learns to reproduce.
func smoothImages(n int, seed uint64) []*imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 3))
	imgs := make([]*imageio.Image, n)
	for i := range imgs {
		m := imageio.New(1, 8, 8)
		a, b, ph := rng.Float64()*2, rng.Float64()*2, rng.Float64()*6
		for y := range 8 {
			for x := range 8 {
				m.Set(0, y, x, float32(0.5+0.4*math.Sin(a*float64(x)+b*float64(y)+ph)))
			}
		}
		imgs[i] = m
	}
	return imgs
}

func toySets(t *testing.T) (trainSet, valSet *Set) {
	t.Helper()
	s, err := NewSet(smoothImages(14, 1), SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Split(0.2, 5)
}

func toyConfig() Config {
	c := Defaults()
	c.Epochs, c.BatchSize, c.Patch, c.LR, c.Seed = 4, 8, 4, 0.01, 11
	return c
}

func stateBytes(m nn.Module) []byte {
	var b bytes.Buffer
	for _, t := range nn.StateTensors(m) {
		b.WriteString(t.Name)
		b.Write(t.Data)
	}
	return b.Bytes()
}

func TestFitLearns(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Epochs = 8
	task := newRecon(1, 4)
	var eps []Epoch
	rep, err := Fit(context.Background(), "recon", task, tr, va, cfg, Session{Progress: func(e Epoch) { eps = append(eps, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Epochs != 8 || rep.Stopped != "epochs" || len(eps) != 8 || len(rep.History) != 8 {
		t.Fatalf("report %+v, %d progress calls", rep, len(eps))
	}
	first, last := eps[0], eps[7]
	if !(last.Loss < first.Loss/3) || !(rep.ValLoss < eps[0].ValLoss/3) {
		t.Fatalf("loss %v -> %v, val %v -> %v: not learning", first.Loss, last.Loss, first.ValLoss, rep.ValLoss)
	}
	// 11 training images × 4 tiles of 4×4 / batch 8 = 6 steps per epoch.
	if task.calls != 8*6 {
		t.Fatalf("%d training steps, want 48", task.calls)
	}
	for i, e := range eps {
		if e.Stage != "recon" || e.Epoch != i+1 || e.Epochs != 8 || math.IsNaN(e.ValLoss) || e.Elapsed <= 0 {
			t.Fatalf("progress %d: %+v", i, e)
		}
		if (i < 7) != (e.ETA > 0) {
			t.Fatalf("progress %d: ETA %v", i, e.ETA)
		}
		if rep.History[i].Loss != e.Loss || rep.History[i].ValLoss != e.ValLoss {
			t.Fatalf("history %d differs from progress", i)
		}
	}
	// Validation: 3 images × 4 tiles in batches of 8 and 4, the same
	// batches and the same generator every epoch.
	if len(task.val) != 8*2 || task.val[0].n != 8 || task.val[1].n != 4 {
		t.Fatalf("validation batches %+v", task.val[:2])
	}
	for i, v := range task.val {
		if v != task.val[i%2] {
			t.Fatalf("validation batch %d differs from the first epoch's: %+v vs %+v", i, v, task.val[i%2])
		}
	}
	if task.net.Layers[1].(*nn.BatchNorm2dLayer).Training {
		t.Fatal("Fit left the module in training mode")
	}
	// The cosine schedule anneals: the last epoch ends near zero.
	if !(eps[0].LR < cfg.LR && eps[7].LR < cfg.LR*0.01) {
		t.Fatalf("learning rates %v ... %v", eps[0].LR, eps[7].LR)
	}
	best := slices.MinFunc(eps, func(a, b Epoch) int { return cmpF(a.ValLoss, b.ValLoss) })
	if rep.BestEpoch != best.Epoch || rep.ValLoss != best.ValLoss || rep.Loss != best.Loss {
		t.Fatalf("best epoch %d (val %v), want %d (val %v)", rep.BestEpoch, rep.ValLoss, best.Epoch, best.ValLoss)
	}
	// Without validation, the last weights are kept and ValLoss is NaN.
	rep, err = Fit(context.Background(), "recon", newRecon(1, 4), tr, nil, toyConfig(), Session{})
	if err != nil || rep.BestEpoch != 4 || !math.IsNaN(rep.ValLoss) || !math.IsNaN(rep.History[0].ValLoss) {
		t.Fatalf("without validation: %+v, %v", rep, err)
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Same seed, same model; another seed, another model.
func TestFitDeterministic(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Epochs = 2
	cfg.Augment = Augment{HFlip: true, Rot90: true, Rotate: 15, Noise: 0.02}
	run := func(seed uint64) []byte {
		c := cfg
		c.Seed = seed
		task := newRecon(3, 4)
		if _, err := Fit(context.Background(), "d", task, tr, va, c, Session{}); err != nil {
			t.Fatal(err)
		}
		return stateBytes(task.net)
	}
	a, b, c := run(1), run(1), run(2)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different weights")
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 1 and 2 give the same weights")
	}
}

// Four epochs straight equal two epochs, a crash, and two resumed ones,
// byte for byte: weights, batch-norm buffers, task state, validation
// losses and the final checkpoint file.
func TestResumeBitExact(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Augment = Augment{HFlip: true, VFlip: true, Rot90: true, Rotate: 10, Shift: 0.1, Scale: 0.1, Brightness: 0.05, Contrast: 0.1, Noise: 0.01}
	for _, opt := range []string{"adam", "sgd"} {
		cfg.Optimizer = opt
		cfg.Schedule = map[string]string{"adam": "cosine", "sgd": "step"}[opt]
		dirA, dirB := t.TempDir(), t.TempDir()
		straight := newRecon(2, 4)
		repA, err := Fit(context.Background(), "ae", straight, tr, va, cfg, Session{CheckpointDir: dirA})
		if err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		first := newRecon(2, 4)
		_, err = Fit(ctx, "ae", first, tr, va, cfg, Session{CheckpointDir: dirB, Progress: func(e Epoch) {
			if e.Epoch == 2 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: interrupted run returned %v", opt, err)
		}
		resumed := newRecon(2, 4) // a fresh process: same init, then the checkpoint
		resumed.centre[0] = 123
		var epochs []int
		repB, err := Fit(context.Background(), "ae", resumed, tr, va, cfg, Session{CheckpointDir: dirB, Resume: true,
			Progress: func(e Epoch) { epochs = append(epochs, e.Epoch) }})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(epochs, []int{3, 4}) {
			t.Fatalf("%s: resumed run trained epochs %v", opt, epochs)
		}
		if !bytes.Equal(stateBytes(straight.net), stateBytes(resumed.net)) {
			t.Fatalf("%s: resumed weights differ from the straight run", opt)
		}
		if straight.centre[0] != resumed.centre[0] {
			t.Fatalf("%s: task state %v vs %v", opt, straight.centre, resumed.centre)
		}
		for i := range repA.History {
			a, b := repA.History[i], repB.History[i]
			if a.Loss != b.Loss || a.ValLoss != b.ValLoss || a.LR != b.LR {
				t.Fatalf("%s: epoch %d: %+v vs %+v", opt, i+1, a, b)
			}
		}
		if repA.BestEpoch != repB.BestEpoch || repA.ValLoss != repB.ValLoss || repB.Epochs != 4 {
			t.Fatalf("%s: reports %+v vs %+v", opt, repA, repB)
		}
		ca, _ := os.ReadFile(filepath.Join(dirA, "ae.ckpt"))
		cb, _ := os.ReadFile(filepath.Join(dirB, "ae.ckpt"))
		if len(ca) == 0 || !bytes.Equal(ca, cb) {
			t.Fatalf("%s: final checkpoints differ (%d vs %d bytes)", opt, len(ca), len(cb))
		}
		// Only the checkpoint is left: no temporary files.
		if ents, _ := os.ReadDir(dirB); len(ents) != 1 {
			t.Fatalf("%s: checkpoint dir holds %d entries", opt, len(ents))
		}

		// A finished stage is not retrained.
		again := newRecon(99, 4)
		repC, err := Fit(context.Background(), "ae", again, tr, va, cfg, Session{CheckpointDir: dirB, Resume: true,
			Progress: func(Epoch) { t.Fatal("finished stage retrained") }})
		if err != nil {
			t.Fatal(err)
		}
		if repC.Stopped != "resumed-finished" || repC.BestEpoch != repA.BestEpoch || repC.ValLoss != repA.ValLoss || len(repC.History) != 4 {
			t.Fatalf("%s: finished report %+v", opt, repC)
		}
		if !bytes.Equal(stateBytes(again.net), stateBytes(straight.net)) || again.centre[0] != straight.centre[0] {
			t.Fatalf("%s: finished stage did not restore the final weights", opt)
		}
	}
}

func TestResumeRefusesMismatch(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Epochs = 2
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Fit(ctx, "a", newRecon(1, 4), tr, va, cfg, Session{CheckpointDir: dir, Progress: func(Epoch) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	ck, err := os.ReadFile(filepath.Join(dir, "a.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(CheckpointPath(dir, "b 2/3"), ck, 0o644); err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.LR = 0.02
	aug := cfg
	aug.Augment.Noise = 0.1
	otherSet, _ := NewSet(smoothImages(14, 2), SetOptions{})
	otherTrain, otherVal := otherSet.Split(0.2, 5)
	for _, c := range []struct {
		stage      string
		task       Task
		trainSet   *Set
		valSet     *Set
		cfg        Config
		want       string
		wantStatus bool
	}{
		{"a", newRecon(1, 4), tr, va, other, "written with train.lr = 0.01, this run has 0.02", false},
		{"a", newRecon(1, 4), tr, va, aug, "train.augment.noise = 0, this run has 0.1", false},
		{"a", newRecon(1, 5), tr, va, cfg, "written for another model: tensor 0 is 0.weight[4 1 3 3] there, 0.weight[5 1 3 3] here", false},
		{"a", newRecon(1, 4), otherTrain, otherVal, cfg, "other training or validation data", false},
		{"a", newRecon(1, 4), tr, nil, cfg, "other training or validation data", false},
		{"b 2/3", newRecon(1, 4), tr, va, cfg, `written for stage "a", not "b 2/3"`, false},
	} {
		task := c.task.(*reconTask)
		before := stateBytes(task.net)
		_, err := Fit(context.Background(), c.stage, task, c.trainSet, c.valSet, c.cfg, Session{CheckpointDir: dir, Resume: true})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("got %v, want an error naming the checkpoint and %q", err, c.want)
		}
		if !bytes.Equal(before, stateBytes(task.net)) {
			t.Errorf("refused checkpoint changed the model (%s)", c.want)
		}
	}
	// Without Resume an old checkpoint is simply replaced.
	if _, err := Fit(context.Background(), "a", newRecon(1, 4), tr, va, other, Session{CheckpointDir: dir}); err != nil {
		t.Fatal(err)
	}
}

// paramTask has one parameter pulled toward 1 by training; its
// validation loss is scripted per epoch, to drive early stopping.
type paramTask struct {
	lin   *nn.LinearLayer
	val   []float64 // validation loss of epoch i+1
	epoch int
}

func (p *paramTask) Module() nn.Module { return p.lin }

func (p *paramTask) Loss(b *Batch, _ *rand.Rand) *nn.Var {
	if !nn.GradEnabled() {
		return nn.NewVar(tensor.From([]float32{float32(p.val[p.epoch-1])}, 1))
	}
	one := nn.NewVar(tensor.From([]float32{1}, 1, 1))
	return nn.MSELoss(p.lin.Weight.Var, one)
}

func (p *paramTask) EndEpoch(e int) error { p.epoch = e; return nil }

func TestEarlyStopping(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Epochs, cfg.Patience, cfg.Optimizer, cfg.Schedule, cfg.LR = 10, 2, "sgd", "constant", 0.1
	task := &paramTask{lin: nn.NewLinear(1, 1, false, nn.NewRNG(1)), val: []float64{5, 3, 4, 3, 6, 1, 1}}
	weights := map[int]float32{}
	var last int
	rep, err := Fit(context.Background(), "es", task, tr, va, cfg, Session{Progress: func(e Epoch) {
		weights[e.Epoch] = task.lin.Weight.Value.Data[0]
		last = e.Epoch
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 2 is best (3); epochs 3 (4) and 4 (3, not better) exhaust patience 2.
	if rep.Stopped != "early-stopping" || rep.Epochs != 4 || last != 4 || rep.BestEpoch != 2 || rep.ValLoss != 3 {
		t.Fatalf("report %+v", rep)
	}
	if got := task.lin.Weight.Value.Data[0]; got != weights[2] || got == weights[3] {
		t.Fatalf("module holds weight %v, best epoch's was %v", got, weights[2])
	}
	// Patience 0 trains every epoch, still keeping the best weights.
	cfg.Patience, cfg.Epochs = 0, 7
	task = &paramTask{lin: nn.NewLinear(1, 1, false, nn.NewRNG(1)), val: []float64{5, 3, 4, 3, 6, 1, 2}}
	rep, err = Fit(context.Background(), "es", task, tr, va, cfg, Session{Progress: func(e Epoch) { weights[e.Epoch] = task.lin.Weight.Value.Data[0] }})
	if err != nil || rep.Stopped != "epochs" || rep.Epochs != 7 || rep.BestEpoch != 6 || task.lin.Weight.Value.Data[0] != weights[6] {
		t.Fatalf("patience 0: %+v, %v", rep, err)
	}
}

func TestCancel(t *testing.T) {
	tr, va := toySets(t)
	ctx, cancel := context.WithCancel(context.Background())
	task := newRecon(1, 4)
	task.onLoss = func(n int) {
		if n == 3 {
			cancel()
		}
	}
	start := time.Now()
	_, err := Fit(ctx, "c", task, tr, va, toyConfig(), Session{})
	if !errors.Is(err, context.Canceled) || task.calls != 3 {
		t.Fatalf("err %v after %d steps, want context.Canceled after 3", err, task.calls)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancellation was slow")
	}
}

type nanTask struct{ *reconTask }

func (n nanTask) Loss(b *Batch, rng *rand.Rand) *nn.Var {
	l := n.reconTask.Loss(b, rng)
	return nn.Scale(l, float32(math.NaN()))
}

func TestFitErrors(t *testing.T) {
	tr, va := toySets(t)
	_, err := Fit(context.Background(), "n", nanTask{newRecon(1, 4)}, tr, va, toyConfig(), Session{})
	if err == nil || !strings.Contains(err.Error(), "train n: epoch 1 step 1: training loss is NaN") {
		t.Fatalf("NaN loss: %v", err)
	}
	cfg := toyConfig()
	cfg.LR = -1
	if _, err := Fit(context.Background(), "n", newRecon(1, 4), tr, va, cfg, Session{}); err == nil || !strings.Contains(err.Error(), "train.lr") {
		t.Fatalf("bad config: %v", err)
	}
	cfg = toyConfig()
	cfg.Patch = 9
	if _, err := Fit(context.Background(), "n", newRecon(1, 4), tr, va, cfg, Session{}); err == nil || !strings.Contains(err.Error(), "train.patch 9 is larger than the smallest training image (8x8)") {
		t.Fatalf("big patch: %v", err)
	}
	mixed, _ := NewSet([]*imageio.Image{randImage(1, 1, 8, 8), randImage(2, 1, 8, 9)}, SetOptions{})
	cfg.Patch = 0
	if _, err := Fit(context.Background(), "n", newRecon(1, 4), mixed, nil, cfg, Session{}); err == nil || !strings.Contains(err.Error(), "needs one image size") {
		t.Fatalf("mixed sizes with patch 0: %v", err)
	}
	rgb, _ := NewSet(randImages(2, 3, 8, 8), SetOptions{})
	if _, err := Fit(context.Background(), "n", newRecon(1, 4), tr, rgb, toyConfig(), Session{}); err == nil || !strings.Contains(err.Error(), "validation images have 3 channels") {
		t.Fatalf("channel mismatch: %v", err)
	}
}

func TestStepsAndSchedules(t *testing.T) {
	tr, _ := toySets(t)
	cfg := toyConfig()
	cfg.Patch, cfg.BatchSize, cfg.StepsPerEpoch, cfg.Epochs = 0, 4, 0, 1
	task := newRecon(1, 4)
	if _, err := Fit(context.Background(), "s", task, tr, nil, cfg, Session{}); err != nil {
		t.Fatal(err)
	}
	if task.calls != 3 { // ceil(11 whole images / 4)
		t.Fatalf("%d steps, want 3", task.calls)
	}
	cfg.StepsPerEpoch = 5
	task = newRecon(1, 4)
	if _, err := Fit(context.Background(), "s", task, tr, nil, cfg, Session{}); err != nil || task.calls != 5 {
		t.Fatalf("%d steps, want 5 (%v)", task.calls, err)
	}

	c := Config{LR: 1, Epochs: 9, Schedule: "step", Gamma: 0.5}
	var got []float64
	for e := 1; e <= 9; e++ {
		got = append(got, learningRate(c, e, 0, 10))
	}
	if want := []float64{1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25}; !slices.Equal(got, want) {
		t.Fatalf("step schedule %v, want %v", got, want)
	}
	c.Schedule = "cosine"
	if lr := learningRate(c, 5, 45, 10); math.Abs(lr-0.5) > 1e-12 {
		t.Fatalf("cosine at mid-run %v, want 0.5", lr)
	}
	c.Schedule = "constant"
	if lr := learningRate(c, 9, 89, 10); lr != 1 {
		t.Fatalf("constant %v", lr)
	}
}

func TestCheckpointPath(t *testing.T) {
	if got := CheckpointPath("d", "student 2/5"); got != filepath.Join("d", "student_2_5.ckpt") {
		t.Fatal(got)
	}
}

// Early stopping survives a crash: the counter and the best weights come
// back from the checkpoint.
func TestEarlyStoppingResume(t *testing.T) {
	tr, va := toySets(t)
	cfg := toyConfig()
	cfg.Epochs, cfg.Patience, cfg.Optimizer, cfg.Schedule, cfg.LR = 10, 2, "sgd", "constant", 0.1
	val := []float64{5, 3, 4, 3.5, 6, 1, 1}
	straight := &paramTask{lin: nn.NewLinear(1, 1, false, nn.NewRNG(1)), val: val}
	repA, err := Fit(context.Background(), "es", straight, tr, va, cfg, Session{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	first := &paramTask{lin: nn.NewLinear(1, 1, false, nn.NewRNG(1)), val: val}
	if _, err := Fit(ctx, "es", first, tr, va, cfg, Session{CheckpointDir: dir, Progress: func(e Epoch) {
		if e.Epoch == 3 {
			cancel()
		}
	}}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	resumed := &paramTask{lin: nn.NewLinear(1, 1, false, nn.NewRNG(7)), val: val}
	repB, err := Fit(context.Background(), "es", resumed, tr, va, cfg, Session{CheckpointDir: dir, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if repA.Stopped != "early-stopping" || repA.Epochs != 4 || repA.BestEpoch != 2 {
		t.Fatalf("straight run %+v", repA)
	}
	if repB.Stopped != repA.Stopped || repB.Epochs != repA.Epochs || repB.BestEpoch != repA.BestEpoch ||
		resumed.lin.Weight.Value.Data[0] != straight.lin.Weight.Value.Data[0] {
		t.Fatalf("resumed %+v weight %v, straight %+v weight %v", repB, resumed.lin.Weight.Value.Data[0], repA, straight.lin.Weight.Value.Data[0])
	}
}
