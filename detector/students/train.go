package students

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// crop writes the ch×cw window of image i of x whose top-left corner is
// (y0, x0), reflecting about the image edges where the window leaves it,
// to dst ([C,ch,cw]).
func crop(x *tensor.Tensor, i, y0, x0, ch, cw int, dst []float32) {
	_, c, h, w := x.Dims4("students.crop")
	for k := 0; k < c; k++ {
		src := x.Data[(i*c+k)*h*w : (i*c+k+1)*h*w]
		for y := 0; y < ch; y++ {
			row := src[imageio.Reflect(y0+y, h)*w:]
			out := dst[(k*ch+y)*cw : (k*ch+y+1)*cw]
			for j := range out {
				out[j] = row[imageio.Reflect(x0+j, w)]
			}
		}
	}
}

// stageConfig maps a stage's settings onto the shared training pipeline
// (train.FitSteps): Adam, a cosine schedule from lr down to lr/20, and
// the steps in ten epochs (fewer when there are fewer than ten steps), so
// that progress and checkpoints come every tenth of the stage; the step
// count is rounded up to a multiple of the epochs.
func stageConfig(steps, batch int, lr float64, seed uint64) train.Config {
	epochs := min(10, steps)
	return train.Config{
		Epochs: epochs, StepsPerEpoch: (steps + epochs - 1) / epochs, BatchSize: batch,
		LR: lr, MinLR: lr / 20, Schedule: "cosine", Gamma: 1, Optimizer: "adam", Seed: seed,
	}
}

// fitStage runs one stage through train.FitSteps; keys says which
// students keys the train.* keys of an error stand for.
func (d *Detector) fitStage(ctx context.Context, stage string, task train.StepTask, cfg train.Config, keys string) error {
	if _, err := train.FitSteps(ctx, stage, task, cfg, d.sess); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return err
		}
		return fmt.Errorf("students: %w (here train.lr is %s_lr, train.batch_size %s_batch, train.steps_per_epoch a tenth of %s_steps)", err, keys, keys, keys)
	}
	return nil
}

// teacherModule is the teacher with its distillation decoder, trained and
// checkpointed together.
type teacherModule struct {
	net *arch.PatchNet
	dec *nn.LinearLayer // nil for the self-supervised teacher
}

func (t *teacherModule) Forward(x *nn.Var) *nn.Var { return t.net.Forward(x) }
func (t *teacherModule) Train(bool)                {}
func (t *teacherModule) Params() []*nn.Param {
	ps := nn.Prefix("net", t.net.Params())
	if t.dec != nil {
		ps = append(ps, nn.Prefix("dec", t.dec.Params())...)
	}
	return ps
}

// ensemble is the M students as one module: the loss is the sum of their
// losses, so one Adam over all parameters is M independent Adams.
type ensemble []*arch.PatchNet

func (e ensemble) Forward(x *nn.Var) *nn.Var { return x }
func (e ensemble) Train(bool)                {}
func (e ensemble) Params() []*nn.Param {
	var ps []*nn.Param
	for i, s := range e {
		ps = append(ps, nn.Prefix(fmt.Sprintf("student%d", i), s.Params())...)
	}
	return ps
}

// patchPool is the fixed set of teacher training patches: image and
// centre of each.
type patchPool struct {
	img, cy, cx []int
}

func newPatchPool(rng *rand.Rand, n, images, h, w int) patchPool {
	p := patchPool{make([]int, n), make([]int, n), make([]int, n)}
	for i := range n {
		p.img[i], p.cy[i], p.cx[i] = rng.IntN(images), rng.IntN(h), rng.IntN(w)
	}
	return p
}

// trainTeacher pre-trains sc.teacher on patches of x: triplet loss
// (positives: the anchor translated by up to shift pixels, with a
// luminance change and noise; negatives: a patch of another image), plus
// for distill the decoder's regression of the backbone's standardised
// patch features and the compactness loss.
func (d *Detector) trainTeacher(ctx context.Context, sc *scale, x *tensor.Tensor, seed uint64) error {
	c := d.cfg
	n, _, h, w := x.Dims4("students")
	t := &teacherTask{c: c, x: x, p: sc.p, tm: &teacherModule{net: sc.teacher},
		pool: newPatchPool(rand.New(rand.NewPCG(seed, 0x9001)), c.TeacherPool, n, h, w)}
	if c.Teacher == "distill" {
		var err error
		if t.targets, err = d.distillTargets(x, t.pool, sc.p); err != nil {
			return err
		}
		t.tm.dec = nn.NewLinear(c.Dim, t.targets.Shape[1], true, nn.NewRNG(seed^0xdec))
	}
	return d.fitStage(ctx, fmt.Sprintf("teacher-p%d", sc.p), t, stageConfig(c.TeacherSteps, c.TeacherBatch, c.TeacherLR, seed), "teacher")
}

// teacherTask is a teacher's pre-training: each step draws teacher_batch
// triplets of patches around pool centres.
type teacherTask struct {
	c       Config
	x       *tensor.Tensor // the images, [N,3,H,W]
	p       int
	tm      *teacherModule
	pool    patchPool
	targets *tensor.Tensor // distill: the backbone's standardised features of the pool patches [pool, D]; nil for triplet
}

func (t *teacherTask) Module() nn.Module { return t.tm }

// Data is what the batches come from (the pool is drawn from the seed).
func (t *teacherTask) Data() []*tensor.Tensor { return []*tensor.Tensor{t.x, t.targets} }

// Fingerprint holds the settings that shape the batches and the loss.
func (t *teacherTask) Fingerprint() string {
	return fmt.Sprintf("teacher=%s teacher_pool=%d margin=%g compact=%g shift=%d", t.c.Teacher, t.c.TeacherPool, t.c.Margin, t.c.Compact, t.c.Shift)
}

func (t *teacherTask) StepLoss(rng *rand.Rand) *nn.Var {
	c, x, p, pool := t.c, t.x, t.p, t.pool
	n, _, h, w := x.Dims4("students")
	half, B, sz := (p-1)/2, c.TeacherBatch, 3*p*p
	trip := tensor.New(3*B, 3, p, p) // anchors, positives, negatives
	idx := make([]int, B)
	for b := range B {
		k := rng.IntN(len(pool.img))
		idx[b] = k
		i, cy, cx := pool.img[k], pool.cy[k], pool.cx[k]
		crop(x, i, cy-half, cx-half, p, p, trip.Data[b*sz:(b+1)*sz])
		dy, dx := rng.IntN(2*c.Shift+1)-c.Shift, rng.IntN(2*c.Shift+1)-c.Shift
		pos := trip.Data[(B+b)*sz : (B+b+1)*sz]
		crop(x, i, cy-half+dy, cx-half+dx, p, p, pos)
		gain, bias := float32(1+0.2*(rng.Float64()-0.5)), float32(0.4*(rng.Float64()-0.5))
		for j, v := range pos {
			pos[j] = v*gain + bias + float32(0.1*rng.NormFloat64())
		}
		ni := i
		if n > 1 {
			ni = (i + 1 + rng.IntN(n-1)) % n
		}
		crop(x, ni, rng.IntN(h)-half, rng.IntN(w)-half, p, p, trip.Data[(2*B+b)*sz:(2*B+b+1)*sz])
	}
	desc := nn.Reshape(t.tm.net.Forward(nn.NewVar(trip)), 3*B, c.Dim)
	a, ps, ng := rowsOf(desc, 0, B), rowsOf(desc, B, 2*B), rowsOf(desc, 2*B, 3*B)
	loss := nn.TripletMarginLoss(a, ps, ng, float32(c.Margin))
	if t.tm.dec != nil {
		k := t.targets.Shape[1]
		tgt := tensor.New(B, k)
		for b, j := range idx {
			copy(tgt.Data[b*k:(b+1)*k], t.targets.Data[j*k:(j+1)*k])
		}
		loss = nn.Add(loss, nn.MSELoss(t.tm.dec.Forward(a), nn.NewVar(tgt)))
		if c.Compact > 0 {
			loss = nn.Add(loss, nn.Scale(compactness(a), float32(c.Compact)))
		}
	}
	return loss
}

// rowsOf returns rows lo..hi-1 of a matrix var, through a constant
// selection matrix so the gradient flows back.
func rowsOf(x *nn.Var, lo, hi int) *nn.Var {
	n := x.Value.Shape[0]
	sel := tensor.New(hi-lo, n)
	for i := lo; i < hi; i++ {
		sel.Data[(i-lo)*n+i] = 1
	}
	return nn.MatMul(nn.NewVar(sel), x)
}

// compactness is the paper's compactness loss: the squared correlations
// between different descriptor dimensions over the batch x [B,d], summed
// over the pairs and divided by their number, so correlated (wasted)
// dimensions are penalised.
func compactness(x *nn.Var) *nn.Var {
	b, k := x.Value.Shape[0], x.Value.Shape[1]
	avg := tensor.New(1, b)
	avg.Fill(1 / float32(b))
	a := nn.NewVar(avg)
	cen := nn.Sub(x, nn.MatMul(a, x))
	std := nn.Sqrt(nn.AddScalar(nn.MatMul(a, nn.Square(cen)), 1e-6))
	z := nn.Div(cen, std)
	corr := nn.Scale(nn.MatMul(nn.Transpose(z), z), 1/float32(b))
	off := tensor.New(k, k)
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			off.Data[i*k+j] = 1
		}
	}
	return nn.Scale(nn.Sum(nn.Mul(nn.Square(corr), nn.NewVar(off))), 2/float32(k*(k-1)))
}

// distillTargets runs the backbone on every pool patch (resized to
// distill_size) and returns its taps' channel means, concatenated and
// standardised per dimension over the pool: [pool, D].
func (d *Detector) distillTargets(x *tensor.Tensor, pool patchPool, p int) (*tensor.Tensor, error) {
	ex, err := d.Extractor(d.cfg.Source)
	if err != nil {
		return nil, err
	}
	half, S := (p-1)/2, d.cfg.DistillSize
	n := len(pool.img)
	var out *tensor.Tensor
	const batch = 32
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		in := tensor.New(hi-lo, 3, S, S)
		patch := imageio.New(3, p, p)
		for k := lo; k < hi; k++ {
			crop(x, pool.img[k], pool.cy[k]-half, pool.cx[k]-half, p, p, patch.Pix)
			for j, v := range patch.Pix {
				patch.Pix[j] = v/4 + 0.5 // back to [0,1], the backbone's input range
			}
			copy(in.Data[(k-lo)*3*S*S:], imageio.Resize(patch, S, S).Pix)
		}
		fs, err := ex.Features(in)
		if err != nil {
			return nil, fmt.Errorf("students: backbone %s: %w", ex.Name(), err)
		}
		D := 0
		for _, f := range fs {
			D += f.Shape[1]
		}
		if out == nil {
			out = tensor.New(n, D)
		}
		for i := 0; i < hi-lo; i++ {
			o := 0
			for _, f := range fs {
				_, fc, fh, fw := f.Dims4("students")
				for ch := 0; ch < fc; ch++ {
					var s float32
					for _, v := range f.Data[(i*fc+ch)*fh*fw : (i*fc+ch+1)*fh*fw] {
						s += v
					}
					out.Data[(lo+i)*D+o+ch] = s / float32(fh*fw)
				}
				o += fc
			}
		}
	}
	D := out.Shape[1]
	for j := 0; j < D; j++ {
		var s, q float64
		for i := 0; i < n; i++ {
			s += float64(out.Data[i*D+j])
		}
		m := s / float64(n)
		for i := 0; i < n; i++ {
			v := float64(out.Data[i*D+j]) - m
			q += v * v
		}
		sd := math.Sqrt(q/float64(n)) + 1e-6
		for i := 0; i < n; i++ {
			out.Data[i*D+j] = float32((float64(out.Data[i*D+j]) - m) / sd)
		}
	}
	return out, nil
}

// trainStudents trains the M students together to regress the teacher's
// standardised descriptors densely on random crops of x: each crop yields
// a student_crop² grid (or a little more) of descriptors at once.
func (d *Detector) trainStudents(ctx context.Context, sc *scale, x *tensor.Tensor, seed uint64) error {
	c := d.cfg
	_, _, h, w := x.Dims4("students")
	t := &studentTask{sc: sc, x: x, k: min(c.StudentCrop, h, w), batch: c.StudentBatch}
	return d.fitStage(ctx, fmt.Sprintf("students-p%d", sc.p), t, stageConfig(c.StudentSteps, c.StudentBatch, c.StudentLR, seed^0x5707), "student")
}

// studentTask trains the students of one receptive field: each step
// draws student_batch crops, the frozen teacher's standardised dense
// descriptors on them the targets.
type studentTask struct {
	sc    *scale
	x     *tensor.Tensor // the training images, [N,3,H,W]
	k     int            // side of a crop's descriptor grid
	batch int
}

func (t *studentTask) Module() nn.Module { return ensemble(t.sc.students) }

// Data is what the batches and their targets come from: the images, the
// teacher's weights and its descriptor statistics.
func (t *studentTask) Data() []*tensor.Tensor {
	ts := []*tensor.Tensor{t.x, tensor.From(t.sc.tMean, len(t.sc.tMean)), tensor.From(t.sc.tStd, len(t.sc.tStd))}
	for _, p := range t.sc.teacher.Params() {
		ts = append(ts, p.Value)
	}
	return ts
}

// Fingerprint holds the crop size (student_crop, bounded by the images).
func (t *studentTask) Fingerprint() string { return fmt.Sprintf("student_crop=%d", t.k) }

func (t *studentTask) StepLoss(rng *rand.Rand) *nn.Var {
	x, k, tn := t.x, t.k, t.sc.teacher
	n, _, h, w := x.Dims4("students")
	side := tn.DenseSize(k)
	half := (tn.P - 1) / 2
	// A crop's k×k output window starts at a uniform position in
	// [1-k, H-1] clamped to [0, H-k], so that border locations (whose
	// patches reach into the reflect padding) are trained on as often as
	// interior ones.
	at := func(n int) int { return min(max(rng.IntN(n+k-1)-k+1, 0), n-k) - half }
	sz := 3 * side * side
	in := tensor.New(t.batch, 3, side, side)
	for b := range t.batch {
		crop(x, rng.IntN(n), at(h), at(w), side, side, in.Data[b*sz:(b+1)*sz])
	}
	var tgt *tensor.Tensor
	nn.NoGrad(func() { tgt = tn.Dense(nn.NewVar(in)).Value })
	standardise(tgt, t.sc.tMean, t.sc.tStd)
	target := nn.NewVar(tgt)
	xv := nn.NewVar(in)
	var loss *nn.Var
	for _, s := range t.sc.students {
		l := nn.MSELoss(s.Dense(xv), target)
		if loss == nil {
			loss = l
		} else {
			loss = nn.Add(loss, l)
		}
	}
	return loss
}
