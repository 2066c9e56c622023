package deepsvdd

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigil-ad/vigil/detector/internal/modelcheck"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// Stage names (checkpoint file stems).
const (
	StageAE   = "deepsvdd-ae"
	StageSVDD = "deepsvdd"
)

// aeTask pre-trains the encoder inside an autoencoder (mean squared
// reconstruction error).
type aeTask struct{ ae *autoencoder }

func (t aeTask) Module() nn.Module { return t.ae }

func (t aeTask) Loss(b *train.Batch, _ *rand.Rand) *nn.Var {
	x := nn.NewVar(b.X)
	return nn.MSELoss(t.ae.Forward(x), x)
}

func (t aeTask) Fingerprint() string {
	return fmt.Sprintf("deepsvdd-ae %+v sigmoid %v", t.ae.enc.spec, t.ae.dec.sigmoid)
}

// svddTask is the Deep SVDD objective. The centre is fixed; the radius
// (soft-boundary) is set at the end of epochs, never by gradient.
type svddTask struct {
	enc    *Encoder
	c      []float32
	r      float32
	cfg    Config
	images []*imageio.Image // the training images, for the radius update
}

func (t *svddTask) Module() nn.Module { return t.enc }

// Loss is mean ‖φ(x) − c‖² (one-class) or R² + (1/ν) mean max(0,
// ‖φ(x) − c‖² − R²) (soft-boundary) over the batch. Weight decay comes from
// the optimiser (train.weight_decay).
func (t *svddTask) Loss(b *train.Batch, _ *rand.Rand) *nn.Var {
	z := t.enc.Forward(nn.NewVar(b.X))
	n, rep := z.Value.Shape[0], z.Value.Shape[1]
	sq := nn.Square(nn.Sub(z, nn.NewVar(tensor.From(t.c, rep))))
	if t.cfg.Objective == "one-class" {
		return nn.Scale(nn.Sum(sq), 1/float32(n))
	}
	ones := tensor.New(rep, 1)
	ones.Fill(1)
	dist := nn.MatMul(sq, nn.NewVar(ones)) // [N,1]
	r2 := t.r * t.r
	hinge := nn.ReLU(nn.AddScalar(dist, -r2))
	return nn.AddScalar(nn.Scale(nn.Mean(hinge), float32(1/t.cfg.Nu)), r2)
}

// EndEpoch sets R to the (1−ν) quantile of the training distances once
// warm-up is over, every REvery epochs (soft-boundary only).
func (t *svddTask) EndEpoch(epoch int) error {
	if t.cfg.Objective != "soft-boundary" || epoch < max(t.cfg.Warmup, 1) || (epoch-t.cfg.Warmup)%t.cfg.REvery != 0 {
		return nil
	}
	t.enc.Train(false)
	defer t.enc.Train(true)
	d := sqDists(t.enc, t.c, t.images)
	r := make([]float64, len(d))
	for i, v := range d {
		r[i] = math.Sqrt(v)
	}
	q := quantile(r, 1-t.cfg.Nu)
	if math.IsNaN(q) || math.IsInf(q, 0) {
		return fmt.Errorf("radius update: quantile of the distances is %v", q)
	}
	t.r = float32(q)
	return nil
}

// quantile is the q-quantile of v with linear interpolation between order
// statistics (NumPy's default, as the paper's code uses).
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(lo)
	return s[lo] + f*(s[lo+1]-s[lo])
}

func (t *svddTask) TrainState() []safetensors.Tensor {
	return []safetensors.Tensor{
		safetensors.F32("center", []int{len(t.c)}, t.c),
		safetensors.F32("radius", []int{1}, []float32{t.r}),
	}
}

func (t *svddTask) LoadTrainState(ts map[string]safetensors.Tensor) error {
	c, err := modelcheck.Float32s(ts, "center", len(t.c))
	if err != nil {
		return err
	}
	r, err := modelcheck.Float32s(ts, "radius", 1)
	if err != nil {
		return err
	}
	copy(t.c, c)
	t.r = r[0]
	return nil
}

func (t *svddTask) Fingerprint() string {
	c := t.cfg
	return fmt.Sprintf("deepsvdd %+v %s nu %g warmup %d r_every %d eps %g pretrain %v", t.enc.spec, c.Objective, c.Nu, c.Warmup, c.REvery, c.Eps, c.Pretrain)
}

// centre is the mean network output over imgs (evaluation mode), with
// coordinates within eps of zero pushed to ±eps (+eps for an exact zero).
func centre(enc *Encoder, imgs []*imageio.Image, eps float64) []float32 {
	rep := enc.spec.Rep
	sum := make([]float64, rep)
	enc.Train(false)
	outputs(enc, imgs, func(_ int, z []float32) {
		for i, v := range z {
			sum[i%rep] += float64(v)
		}
	})
	enc.Train(true)
	c := make([]float32, rep)
	for j, s := range sum {
		v := s / float64(len(imgs))
		switch {
		case v >= 0 && v < eps:
			v = eps
		case v < 0 && v > -eps:
			v = -eps
		}
		c[j] = float32(v)
	}
	return c
}

// fitNet builds the encoder, pre-trains it (optionally), fixes the centre
// and trains the Deep SVDD objective with the train pipeline.
func fitNet(ctx context.Context, cfg Config, work []*imageio.Image, sess train.Session) (*Encoder, []float32, float32, train.Report, error) {
	var rep train.Report
	spec, err := specFor(cfg.Net, cfg.Channels, cfg.Size)
	if err != nil {
		return nil, nil, 0, rep, fmt.Errorf("deepsvdd config: %v", err)
	}
	enc := newEncoder(spec, cfg.Seed)
	set, err := train.NewSet(work, train.SetOptions{})
	if err != nil {
		return nil, nil, 0, rep, err
	}
	if cfg.Pretrain {
		ae := &autoencoder{enc: enc, dec: newDecoder(spec, cfg.Norm == "none", cfg.Seed)}
		tr, val := set.Split(cfg.AE.ValFraction, cfg.Seed)
		if _, err := train.Fit(ctx, StageAE, aeTask{ae}, tr, val, cfg.AE, sess); err != nil {
			return nil, nil, 0, rep, err
		}
	}
	tr, val := set.Split(cfg.Train.ValFraction, cfg.Seed)
	imgs := make([]*imageio.Image, tr.Len())
	for i := range imgs {
		imgs[i] = work[tr.Source(i)]
	}
	task := &svddTask{enc: enc, c: centre(enc, imgs, cfg.Eps), cfg: cfg, images: imgs}
	if rep, err = train.Fit(ctx, StageSVDD, task, tr, val, cfg.Train, sess); err != nil {
		return nil, nil, 0, rep, err
	}
	enc.Train(false)
	return enc, task.c, task.r, rep, nil
}
