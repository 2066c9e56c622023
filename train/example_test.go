package train_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/train"
)

// denoiser learns to remove the noise augmentation adds: a Task is a
// module plus the loss of one batch.
type denoiser struct{ net *nn.Sequential }

func (d *denoiser) Module() nn.Module { return d.net }

func (d *denoiser) Loss(b *train.Batch, rng *rand.Rand) *nn.Var {
	noisy := b.X.Clone()
	for i := range noisy.Data {
		noisy.Data[i] += float32(rng.NormFloat64() * 0.05)
	}
	return nn.MSELoss(d.net.Forward(nn.NewVar(noisy)), nn.NewVar(b.X))
}

func Example() {
	// Images decoded once (here: generated gradients).
	imgs := make([]*imageio.Image, 20)
	for i := range imgs {
		m := imageio.New(1, 16, 16)
		for j := range m.Pix {
			m.Pix[j] = float32(j%16+i) / 40
		}
		imgs[i] = m
	}
	cfg := train.Defaults()
	cfg.Epochs, cfg.BatchSize, cfg.Patch, cfg.LR, cfg.Seed = 5, 8, 8, 0.01, 1
	cfg.Augment = train.Augment{HFlip: true, Rot90: true}
	set, err := train.NewSet(imgs, train.SetOptions{Channels: 1})
	if err != nil {
		panic(err)
	}
	trainSet, valSet := set.Split(cfg.ValFraction, cfg.Seed)

	rng := nn.NewRNG(cfg.Seed)
	task := &denoiser{nn.NewSequential(
		nn.NewConv2d(nn.ConvSpec{In: 1, Out: 4, Kernel: 3, Pad: 1}, rng),
		nn.Func(nn.ReLU),
		nn.NewConv2d(nn.ConvSpec{In: 4, Out: 1, Kernel: 3, Pad: 1}, rng),
	)}
	// A Session with CheckpointDir and Resume makes the run resumable.
	rep, err := train.Fit(context.Background(), "denoiser", task, trainSet, valSet, cfg, train.Session{})
	if err != nil {
		panic(err)
	}
	first := rep.History[0].ValLoss
	fmt.Println(rep.Stopped, rep.Epochs, rep.ValLoss < first/2)
	// Output: epochs 5 true
}

// A method config holding train.Config under "train" registers, lists
// its keys dotted and decodes nested JSON over the defaults.
func TestConfigRegisters(t *testing.T) {
	type methodConfig struct {
		Hidden int          `json:"hidden" help:"hidden channels"`
		Train  train.Config `json:"train" help:"training pipeline settings"`
	}
	detector.RegisterMethod(detector.Method{
		Name: "train-config-test", Summary: "test double",
		New:      func(json.RawMessage) (detector.Detector, error) { return nil, errors.New("not a detector") },
		Defaults: func() any { return &methodConfig{Hidden: 4, Train: train.Defaults()} },
	})
	ps, err := detector.Params("train-config-test")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]detector.Param{}
	for _, p := range ps {
		keys[p.Key] = p
	}
	for _, k := range []string{"train.epochs", "train.lr", "train.schedule", "train.augment.noise", "train.augment.hflip"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %s not listed", k)
		}
	}
	if p := keys["train.optimizer"]; p.Type != "adam|adamw|sgd" || p.Default != "adam" {
		t.Errorf("train.optimizer listed as %+v", p)
	}
	c := &methodConfig{Train: train.Defaults()}
	if err := detector.DecodeConfig("train-config-test", json.RawMessage(`{"train":{"lr":0.5,"augment":{"noise":0.1}}}`), c); err != nil {
		t.Fatal(err)
	}
	if c.Train.LR != 0.5 || c.Train.Augment.Noise != 0.1 || c.Train.Epochs != 50 {
		t.Fatalf("decoded %+v", c.Train)
	}
	err = detector.DecodeConfig("train-config-test", json.RawMessage(`{"train":{"schedule":"linear"}}`), c)
	if err == nil || !strings.Contains(err.Error(), "train.schedule") {
		t.Fatalf("bad enum: %v", err)
	}
}
