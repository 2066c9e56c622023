package ae

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/train"
)

// Stage is the training stage name (the checkpoint file's stem).
const Stage = "ae"

// task is the autoencoder's training objective for the train pipeline.
type task struct {
	net  *arch.FCAE
	loss lossSpec
	name string // the loss spec as configured, for the fingerprint
}

func (t task) Module() nn.Module { return t.net }

func (t task) Loss(b *train.Batch, _ *rand.Rand) *nn.Var {
	x := nn.NewVar(b.X)
	return t.loss.Loss(t.net.Forward(x), x)
}

// Fingerprint makes a checkpoint of another architecture or loss refuse
// to resume.
func (t task) Fingerprint() string {
	return fmt.Sprintf("fcae %+v loss %s", t.net.Spec, t.name)
}

// trainNet trains net on crops of the working images with the train
// pipeline (validation split, schedule, checkpoints, resume).
func trainNet(ctx context.Context, net *arch.FCAE, loss lossSpec, lossName string, work []*imageio.Image, cfg train.Config, sess train.Session) (train.Report, error) {
	set, err := train.NewSet(work, train.SetOptions{})
	if err != nil {
		return train.Report{}, err
	}
	trainSet, valSet := set.Split(cfg.ValFraction, cfg.Seed)
	return train.Fit(ctx, Stage, task{net: net, loss: loss, name: lossName}, trainSet, valSet, cfg, sess)
}
