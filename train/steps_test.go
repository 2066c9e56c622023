package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// regTask fits a linear map to rows of (x, y) that it draws itself, with
// noise from the step's generator added to the targets, so every step's
// batch depends on the generator it is given.
type regTask struct {
	lin   *nn.LinearLayer
	x, y  *tensor.Tensor // [n,in], [n,out]
	noise float64
	calls int
}

func newReg(seed uint64, out int, data uint64) *regTask {
	const n, in = 40, 3
	rng := rand.New(rand.NewPCG(data, 1))
	x, y := tensor.New(n, in), tensor.New(n, out)
	for i := range n {
		for j := range in {
			x.Data[i*in+j] = float32(rng.NormFloat64())
		}
		for k := range out {
			v := 0.3 * float64(k+1)
			for j := range in {
				v += float64(j-k) * 0.5 * float64(x.Data[i*in+j])
			}
			y.Data[i*out+k] = float32(v)
		}
	}
	return &regTask{lin: nn.NewLinear(in, out, true, nn.NewRNG(seed)), x: x, y: y, noise: 0.05}
}

func (r *regTask) Module() nn.Module { return r.lin }

func (r *regTask) StepLoss(rng *rand.Rand) *nn.Var {
	r.calls++
	const b = 4
	n, in, out := r.x.Shape[0], r.x.Shape[1], r.y.Shape[1]
	xb, yb := tensor.New(b, in), tensor.New(b, out)
	for i := range b {
		k := rng.IntN(n)
		copy(xb.Data[i*in:(i+1)*in], r.x.Data[k*in:(k+1)*in])
		for j := range out {
			yb.Data[i*out+j] = r.y.Data[k*out+j] + float32(r.noise*rng.NormFloat64())
		}
	}
	return nn.MSELoss(r.lin.Forward(nn.NewVar(xb)), nn.NewVar(yb))
}

func (r *regTask) Data() []*tensor.Tensor { return []*tensor.Tensor{r.x, r.y} }

func (r *regTask) Fingerprint() string { return fmt.Sprintf("noise=%g", r.noise) }

func stepConfig() Config {
	c := Defaults()
	c.Epochs, c.StepsPerEpoch, c.LR, c.MinLR, c.Seed, c.ValFraction = 4, 6, 0.05, 0.005, 3, 0
	return c
}

// A step task learns; four epochs straight equal two epochs, a crash and
// two resumed ones, byte for byte (weights, history, checkpoint file);
// training without checkpoints takes the same steps; a finished stage is
// not retrained.
func TestFitStepsResumeBitExact(t *testing.T) {
	cfg := stepConfig()
	bare := newReg(1, 2, 7)
	if _, err := FitSteps(context.Background(), "reg", bare, cfg, Session{}); err != nil {
		t.Fatal(err)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	straight := newReg(1, 2, 7)
	var eps []Epoch
	repA, err := FitSteps(context.Background(), "reg", straight, cfg, Session{CheckpointDir: dirA, Progress: func(e Epoch) { eps = append(eps, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if straight.calls != 4*6 || len(eps) != 4 || repA.Epochs != 4 || repA.BestEpoch != 4 || repA.Stopped != "epochs" || !math.IsNaN(repA.ValLoss) {
		t.Fatalf("%d steps, %d progress calls, report %+v", straight.calls, len(eps), repA)
	}
	if !(eps[3].Loss < eps[0].Loss/3) {
		t.Fatalf("loss %v -> %v: not learning", eps[0].Loss, eps[3].Loss)
	}
	// Cosine from lr to min_lr: the last step's rate is just above min_lr.
	if lr := eps[3].LR; !(lr > cfg.MinLR && lr < cfg.MinLR*1.1) {
		t.Fatalf("last learning rate %v, want just above min_lr %v", lr, cfg.MinLR)
	}
	if !bytes.Equal(stateBytes(bare.lin), stateBytes(straight.lin)) {
		t.Fatal("checkpointing changed the training")
	}

	ctx, cancel := context.WithCancel(context.Background())
	first := newReg(1, 2, 7)
	_, err = FitSteps(ctx, "reg", first, cfg, Session{CheckpointDir: dirB, Progress: func(e Epoch) {
		if e.Epoch == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	resumed := newReg(9, 2, 7) // another init: the checkpoint must overwrite it
	var epochs []int
	repB, err := FitSteps(context.Background(), "reg", resumed, cfg, Session{CheckpointDir: dirB, Resume: true,
		Progress: func(e Epoch) { epochs = append(epochs, e.Epoch) }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(epochs, []int{3, 4}) || resumed.calls != 2*6 {
		t.Fatalf("resumed run trained epochs %v in %d steps", epochs, resumed.calls)
	}
	if !bytes.Equal(stateBytes(straight.lin), stateBytes(resumed.lin)) {
		t.Fatal("resumed weights differ from the straight run")
	}
	for i := range repA.History {
		a, b := repA.History[i], repB.History[i]
		if a.Loss != b.Loss || a.LR != b.LR || !math.IsNaN(b.ValLoss) {
			t.Fatalf("epoch %d: %+v vs %+v", i+1, a, b)
		}
	}
	ca, _ := os.ReadFile(filepath.Join(dirA, "reg.ckpt"))
	cb, _ := os.ReadFile(filepath.Join(dirB, "reg.ckpt"))
	if len(ca) == 0 || !bytes.Equal(ca, cb) {
		t.Fatalf("final checkpoints differ (%d vs %d bytes)", len(ca), len(cb))
	}

	again := newReg(5, 2, 7)
	repC, err := FitSteps(context.Background(), "reg", again, cfg, Session{CheckpointDir: dirB, Resume: true,
		Progress: func(Epoch) { t.Fatal("finished stage retrained") }})
	if err != nil || repC.Stopped != "resumed-finished" || len(repC.History) != 4 || again.calls != 0 {
		t.Fatalf("finished stage: %+v, %v", repC, err)
	}
	if !bytes.Equal(stateBytes(again.lin), stateBytes(straight.lin)) {
		t.Fatal("finished stage did not restore the final weights")
	}

	// Another stage name draws other batches.
	other := newReg(1, 2, 7)
	if _, err := FitSteps(context.Background(), "reg2", other, cfg, Session{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(stateBytes(other.lin), stateBytes(straight.lin)) {
		t.Fatal("stages reg and reg2 trained identically")
	}
}

// A checkpoint written under another config, model, task setting, data
// or stage is refused, naming what differs, and leaves the model alone.
func TestFitStepsRefusesMismatch(t *testing.T) {
	cfg := stepConfig()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := FitSteps(ctx, "a", newReg(1, 2, 7), cfg, Session{CheckpointDir: dir, Progress: func(Epoch) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	ck, err := os.ReadFile(CheckpointPath(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(CheckpointPath(dir, "b"), ck, 0o644); err != nil {
		t.Fatal(err)
	}
	lr, steps, minLR := cfg, cfg, cfg
	lr.LR = 0.02
	steps.StepsPerEpoch = 7
	minLR.MinLR = 0
	noisy := newReg(1, 2, 7)
	noisy.noise = 0.1
	for _, c := range []struct {
		stage string
		task  *regTask
		cfg   Config
		want  string
	}{
		{"a", newReg(1, 2, 7), lr, "written with train.lr = 0.05, this run has 0.02"},
		{"a", newReg(1, 2, 7), steps, "written with train.steps_per_epoch = 6, this run has 7"},
		{"a", newReg(1, 2, 7), minLR, "written with train.min_lr = 0.005, this run has (none)"},
		{"a", newReg(1, 3, 7), cfg, "written for another model: tensor 0 is weight[2 3] there, weight[3 3] here"},
		{"a", noisy, cfg, `written with method settings "noise=0.05", this run has "noise=0.1"`},
		{"a", newReg(1, 2, 8), cfg, "written for other training or validation data"},
		{"b", newReg(1, 2, 7), cfg, `written for stage "a", not "b"`},
	} {
		before := stateBytes(c.task.lin)
		_, err := FitSteps(context.Background(), c.stage, c.task, c.cfg, Session{CheckpointDir: dir, Resume: true})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("got %v, want an error naming the checkpoint and %q", err, c.want)
		}
		if !bytes.Equal(before, stateBytes(c.task.lin)) || c.task.calls != 0 {
			t.Errorf("refused checkpoint changed or trained the model (%s)", c.want)
		}
	}
}

type nanReg struct{ *regTask }

func (n nanReg) StepLoss(rng *rand.Rand) *nn.Var {
	return nn.Scale(n.regTask.StepLoss(rng), float32(math.Inf(1)))
}

func TestFitStepsErrors(t *testing.T) {
	cfg := stepConfig()
	cfg.StepsPerEpoch = 0
	if _, err := FitSteps(context.Background(), "s", newReg(1, 2, 7), cfg, Session{}); err == nil || !strings.Contains(err.Error(), "train s: train.steps_per_epoch: must be >= 1") {
		t.Fatalf("no steps per epoch: %v", err)
	}
	cfg = stepConfig()
	cfg.MinLR = 0.1
	if _, err := FitSteps(context.Background(), "s", newReg(1, 2, 7), cfg, Session{}); err == nil || !strings.Contains(err.Error(), "train.min_lr: must be in [0, lr], got 0.1") {
		t.Fatalf("min_lr above lr: %v", err)
	}
	if _, err := FitSteps(context.Background(), "s", nanReg{newReg(1, 2, 7)}, stepConfig(), Session{}); err == nil || !strings.Contains(err.Error(), "train s: epoch 1 step 1: training loss is +Inf") {
		t.Fatalf("infinite loss: %v", err)
	}
}
