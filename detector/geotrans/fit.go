package geotrans

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/train"
)

// fitTask trains tk on trainSet with cfg: seeded shuffled epochs of
// whole-image batches, the configured optimiser and schedule, the
// validation loss (a fixed-seed draw of transformations, so epochs
// compare) and progress after every epoch. It stands in for train.Fit
// until that lands; it keeps no checkpoints.
func fitTask(ctx context.Context, stage string, tk *task, trainSet, valSet *train.Set, cfg train.Config, sess train.Session) error {
	m := tk.Module()
	var opt optim.Optimizer
	switch cfg.Optimizer {
	case "sgd":
		opt = optim.NewSGD(m.Params(), cfg.LR, cfg.Momentum, cfg.WeightDecay, false)
	case "adamw":
		opt = optim.NewAdamW(m.Params(), cfg.LR, cfg.WeightDecay)
	default:
		opt = optim.NewAdam(m.Params(), cfg.LR, cfg.WeightDecay)
	}
	steps := cfg.StepsPerEpoch
	if steps == 0 {
		steps = max(1, trainSet.Len()/cfg.BatchSize)
	}
	total := steps * cfg.Epochs
	var sched optim.Schedule
	switch cfg.Schedule {
	case "cosine":
		sched = optim.Cosine{Base: cfg.LR, Total: total}
	case "step":
		se := cfg.StepEpochs
		if se == 0 {
			se = max(1, cfg.Epochs/3)
		}
		sched = optim.StepLR{Base: cfg.LR, StepSize: se * steps, Gamma: cfg.Gamma}
	default:
		sched = optim.StepLR{Base: cfg.LR}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6765_6f74))
	var b train.Batch
	start := time.Now()
	step := 0
	for ep := 1; ep <= cfg.Epochs; ep++ {
		m.Train(true)
		var sum float64
		perm := rng.Perm(trainSet.Len())
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			idx := make([]int, cfg.BatchSize)
			for i := range idx {
				idx[i] = perm[(s*cfg.BatchSize+i)%len(perm)]
			}
			trainSet.Crops(rng, idx, 0, cfg.Augment, &b)
			optim.Apply(opt, sched, step)
			opt.ZeroGrad()
			loss := tk.Loss(&b, rng)
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return fmt.Errorf("%s: training loss is %v at epoch %d step %d (lower train.lr)", stage, l, ep, s+1)
			}
			nn.Backward(loss)
			opt.Step()
			sum += l
			step++
		}
		val := math.NaN()
		if valSet != nil {
			m.Train(false)
			vr := rand.New(rand.NewPCG(cfg.Seed, 0x76616c))
			var vs float64
			for lo := 0; lo < valSet.Len(); lo += cfg.BatchSize {
				idx := make([]int, 0, cfg.BatchSize)
				for i := lo; i < min(lo+cfg.BatchSize, valSet.Len()); i++ {
					idx = append(idx, i)
				}
				valSet.Crops(vr, idx, 0, train.Augment{}, &b)
				nn.NoGrad(func() { vs += float64(tk.Loss(&b, vr).Item()) * float64(len(idx)) })
			}
			val = vs / float64(valSet.Len())
		}
		if sess.Progress != nil {
			el := time.Since(start)
			sess.Progress(train.Epoch{Stage: stage, Epoch: ep, Epochs: cfg.Epochs, Loss: sum / float64(steps), ValLoss: val,
				LR: opt.LR(), Elapsed: el, ETA: el / time.Duration(ep) * time.Duration(cfg.Epochs-ep)})
		}
	}
	m.Train(false)
	return nil
}
