package students

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/optim"
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

// loop runs steps optimiser steps of step (which returns the loss) on m
// with Adam and a cosine schedule, in ten chunks reported as epochs to
// the train session; with a checkpoint folder every chunk ends with an
// atomic checkpoint from which Resume continues bit-exactly.
func (d *Detector) loop(ctx context.Context, stage string, m nn.Module, lr float64, steps int, seed uint64, step func(rng *rand.Rand) (*nn.Var, error)) error {
	opt := optim.NewAdam(m.Params(), lr, 0)
	sched := optim.Cosine{Base: lr, Min: lr / 20, Total: steps}
	pcg := rand.NewPCG(seed, 0x7ea)
	rng := rand.New(pcg)
	ck := &optim.Checkpoint{Seed: seed, RNG: pcg}
	path := ""
	if d.sess.CheckpointDir != "" {
		path = filepath.Join(d.sess.CheckpointDir, "students-"+stage+".safetensors")
		if d.sess.Resume {
			err := optim.LoadCheckpoint(path, m, opt, ck)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("students: %s: %w", stage, err)
			}
		}
	}
	const chunks = 10
	start := time.Now()
	first := ck.Step
	for ck.Step < steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(steps, (ck.Epoch+1)*steps/chunks)
		var sum float64
		n := 0
		for ; ck.Step < end; ck.Step++ {
			optim.Apply(opt, sched, ck.Step)
			opt.ZeroGrad()
			loss, err := step(rng)
			if err != nil {
				return err
			}
			l := float64(loss.Item())
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return fmt.Errorf("students: %s: loss is %v at step %d (lower the learning rate)", stage, l, ck.Step)
			}
			nn.Backward(loss)
			opt.Step()
			sum += l
			n++
		}
		ck.Epoch++
		if path != "" {
			if err := os.MkdirAll(d.sess.CheckpointDir, 0o755); err != nil {
				return err
			}
			if err := optim.SaveCheckpoint(path, m, opt, ck); err != nil {
				return fmt.Errorf("students: %s: %w", stage, err)
			}
		}
		if d.sess.Progress != nil {
			el := time.Since(start)
			var eta time.Duration
			if done := ck.Step - first; done > 0 {
				eta = time.Duration(float64(el) / float64(done) * float64(steps-ck.Step))
			}
			d.sess.Progress(train.Epoch{Stage: stage, Epoch: ck.Epoch, Epochs: chunks, Loss: sum / float64(max(n, 1)),
				ValLoss: math.NaN(), LR: opt.LR(), Elapsed: el, ETA: eta})
		}
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
	p, half := sc.p, (sc.p-1)/2
	pool := newPatchPool(rand.New(rand.NewPCG(seed, 0x9001)), c.TeacherPool, n, h, w)
	tm := &teacherModule{net: sc.teacher}
	var targets *tensor.Tensor
	if c.Teacher == "distill" {
		var err error
		if targets, err = d.distillTargets(x, pool, p); err != nil {
			return err
		}
		tm.dec = nn.NewLinear(c.Dim, targets.Shape[1], true, nn.NewRNG(seed^0xdec))
	}
	B, sz := c.TeacherBatch, 3*p*p
	return d.loop(ctx, fmt.Sprintf("teacher-p%d", p), tm, c.TeacherLR, c.TeacherSteps, seed, func(rng *rand.Rand) (*nn.Var, error) {
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
		desc := nn.Reshape(sc.teacher.Forward(nn.NewVar(trip)), 3*B, c.Dim)
		a, ps, ng := rowsOf(desc, 0, B), rowsOf(desc, B, 2*B), rowsOf(desc, 2*B, 3*B)
		loss := nn.TripletMarginLoss(a, ps, ng, float32(c.Margin))
		if tm.dec != nil {
			k := targets.Shape[1]
			tgt := tensor.New(B, k)
			for b, j := range idx {
				copy(tgt.Data[b*k:(b+1)*k], targets.Data[j*k:(j+1)*k])
			}
			loss = nn.Add(loss, nn.MSELoss(tm.dec.Forward(a), nn.NewVar(tgt)))
			if c.Compact > 0 {
				loss = nn.Add(loss, nn.Scale(compactness(a), float32(c.Compact)))
			}
		}
		return loss, nil
	})
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
	n, _, h, w := x.Dims4("students")
	t := sc.teacher
	k := min(c.StudentCrop, h, w)
	side := t.DenseSize(k)
	half := (t.P - 1) / 2
	// A crop's k×k output window starts at a uniform position in
	// [1-k, H-1] clamped to [0, H-k], so that border locations (whose
	// patches reach into the reflect padding) are trained on as often as
	// interior ones.
	at := func(rng *rand.Rand, n int) int { return min(max(rng.IntN(n+k-1)-k+1, 0), n-k) - half }
	B, sz := c.StudentBatch, 3*side*side
	ens := ensemble(sc.students)
	return d.loop(ctx, fmt.Sprintf("students-p%d", t.P), ens, c.StudentLR, c.StudentSteps, seed^0x5707, func(rng *rand.Rand) (*nn.Var, error) {
		in := tensor.New(B, 3, side, side)
		for b := range B {
			crop(x, rng.IntN(n), at(rng, h), at(rng, w), side, side, in.Data[b*sz:(b+1)*sz])
		}
		var tgt *tensor.Tensor
		nn.NoGrad(func() { tgt = t.Dense(nn.NewVar(in)).Value })
		standardise(tgt, sc.tMean, sc.tStd)
		target := nn.NewVar(tgt)
		xv := nn.NewVar(in)
		var loss *nn.Var
		for _, s := range ens {
			l := nn.MSELoss(s.Dense(xv), target)
			if loss == nil {
				loss = l
			} else {
				loss = nn.Add(loss, l)
			}
		}
		return loss, nil
	})
}
