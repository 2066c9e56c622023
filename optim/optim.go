// Package optim holds the optimisers (SGD with momentum, Adam, AdamW),
// learning-rate schedules and training checkpoints for package nn models.
package optim

import (
	"fmt"
	"math"
	"strconv"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// Optimizer updates parameters from their accumulated gradients.
type Optimizer interface {
	// Step applies one update; params without a gradient are left alone.
	Step()
	// ZeroGrad clears all parameter gradients.
	ZeroGrad()
	// LR and SetLR read and change the learning rate (for schedules).
	LR() float64
	SetLR(lr float64)
	// State returns the optimiser's internal state as named tensors plus
	// scalar metadata, for checkpoints.
	State() ([]safetensors.Tensor, map[string]string)
	// LoadState restores what State returned.
	LoadState(f *safetensors.File) error
}

// grain is the number of elements one parallel task updates.
const grain = 1 << 14

// SGD is stochastic gradient descent with optional momentum (PyTorch
// semantics, no dampening), Nesterov momentum and L2 weight decay.
type SGD struct {
	Params      []*nn.Param
	Rate        float64
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	buf         [][]float32 // momentum buffers, nil until first use
}

// NewSGD returns an SGD optimiser.
func NewSGD(params []*nn.Param, lr, momentum, weightDecay float64, nesterov bool) *SGD {
	return &SGD{Params: params, Rate: lr, Momentum: momentum, WeightDecay: weightDecay, Nesterov: nesterov,
		buf: make([][]float32, len(params))}
}

// Step applies p ← p − lr·(g + wd·p) with momentum.
func (o *SGD) Step() {
	lr, mom, wd := float32(o.Rate), float32(o.Momentum), float32(o.WeightDecay)
	for i, p := range o.Params {
		if p.Grad == nil {
			continue
		}
		if mom != 0 && o.buf[i] == nil {
			o.buf[i] = make([]float32, len(p.Value.Data))
		}
		w, g, b := p.Value.Data, p.Grad.Data, o.buf[i]
		tensor.ParallelChunks(len(w), grain, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				d := g[j] + wd*w[j]
				if mom != 0 {
					b[j] = mom*b[j] + d
					if o.Nesterov {
						d += mom * b[j]
					} else {
						d = b[j]
					}
				}
				w[j] -= lr * d
			}
		})
	}
}

// ZeroGrad clears the gradients.
func (o *SGD) ZeroGrad() { nn.ZeroGrad(o.Params) }

// LR returns the learning rate.
func (o *SGD) LR() float64 { return o.Rate }

// SetLR sets the learning rate.
func (o *SGD) SetLR(lr float64) { o.Rate = lr }

// State returns the momentum buffers ("momentum.<param>").
func (o *SGD) State() ([]safetensors.Tensor, map[string]string) {
	var ts []safetensors.Tensor
	for i, p := range o.Params {
		if o.buf[i] != nil {
			ts = append(ts, safetensors.F32("momentum."+p.Name, p.Value.Shape, o.buf[i]))
		}
	}
	return ts, map[string]string{"optimizer": "sgd", "lr": fmtF(o.Rate)}
}

// LoadState restores momentum buffers and the learning rate.
func (o *SGD) LoadState(f *safetensors.File) error {
	if k := f.Metadata["optimizer"]; k != "sgd" {
		return fmt.Errorf("optimizer state is %q, not sgd", k)
	}
	lr, err := parseF(f.Metadata, "lr")
	if err != nil {
		return err
	}
	bufs := make([][]float32, len(o.Params))
	for i, p := range o.Params {
		if _, ok := f.Tensors["momentum."+p.Name]; !ok {
			continue
		}
		if bufs[i], err = readLike(f, "momentum."+p.Name, p); err != nil {
			return err
		}
	}
	o.buf, o.Rate = bufs, lr
	return nil
}

// Adam is the Adam optimiser; with Decoupled it is AdamW (weight decay
// applied to the weights directly rather than added to the gradient).
type Adam struct {
	Params       []*nn.Param
	Rate         float64
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	Decoupled    bool
	T            int // steps taken
	m, v         [][]float32
}

// NewAdam returns Adam with betas (0.9, 0.999), eps 1e-8 and L2 weight decay wd.
func NewAdam(params []*nn.Param, lr, wd float64) *Adam {
	return &Adam{Params: params, Rate: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: wd,
		m: make([][]float32, len(params)), v: make([][]float32, len(params))}
}

// NewAdamW returns AdamW (decoupled weight decay wd; PyTorch's default is 0.01).
func NewAdamW(params []*nn.Param, lr, wd float64) *Adam {
	a := NewAdam(params, lr, wd)
	a.Decoupled = true
	return a
}

// Step applies one bias-corrected Adam update.
func (o *Adam) Step() {
	o.T++
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	bc1 := 1 - math.Pow(o.Beta1, float64(o.T))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.T))
	// p −= lr/bc1 · m / (√v/√bc2 + eps)
	stepSize := float32(o.Rate / bc1)
	invSqrtBc2 := float32(1 / math.Sqrt(bc2))
	eps := float32(o.Eps)
	wd := float32(o.WeightDecay)
	decay := float32(1 - o.Rate*o.WeightDecay)
	for i, p := range o.Params {
		if p.Grad == nil {
			continue
		}
		if o.m[i] == nil {
			o.m[i] = make([]float32, len(p.Value.Data))
			o.v[i] = make([]float32, len(p.Value.Data))
		}
		w, g, m, v := p.Value.Data, p.Grad.Data, o.m[i], o.v[i]
		tensor.ParallelChunks(len(w), grain, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				gj := g[j]
				if o.Decoupled {
					w[j] *= decay
				} else {
					gj += wd * w[j]
				}
				mj := b1*m[j] + (1-b1)*gj
				vj := b2*v[j] + (1-b2)*gj*gj
				m[j], v[j] = mj, vj
				w[j] -= stepSize * mj / (float32(math.Sqrt(float64(vj)))*invSqrtBc2 + eps)
			}
		})
	}
}

// ZeroGrad clears the gradients.
func (o *Adam) ZeroGrad() { nn.ZeroGrad(o.Params) }

// LR returns the learning rate.
func (o *Adam) LR() float64 { return o.Rate }

// SetLR sets the learning rate.
func (o *Adam) SetLR(lr float64) { o.Rate = lr }

func (o *Adam) kind() string {
	if o.Decoupled {
		return "adamw"
	}
	return "adam"
}

// State returns the moments ("exp_avg.<param>", "exp_avg_sq.<param>") and
// the step count.
func (o *Adam) State() ([]safetensors.Tensor, map[string]string) {
	var ts []safetensors.Tensor
	for i, p := range o.Params {
		if o.m[i] != nil {
			ts = append(ts, safetensors.F32("exp_avg."+p.Name, p.Value.Shape, o.m[i]),
				safetensors.F32("exp_avg_sq."+p.Name, p.Value.Shape, o.v[i]))
		}
	}
	return ts, map[string]string{"optimizer": o.kind(), "lr": fmtF(o.Rate), "step": strconv.Itoa(o.T)}
}

// LoadState restores the moments, step count and learning rate.
func (o *Adam) LoadState(f *safetensors.File) error {
	if k := f.Metadata["optimizer"]; k != o.kind() {
		return fmt.Errorf("optimizer state is %q, not %s", k, o.kind())
	}
	lr, err := parseF(f.Metadata, "lr")
	if err != nil {
		return err
	}
	t, err := strconv.Atoi(f.Metadata["step"])
	if err != nil || t < 0 {
		return fmt.Errorf("optimizer state: bad step %q", f.Metadata["step"])
	}
	m := make([][]float32, len(o.Params))
	v := make([][]float32, len(o.Params))
	for i, p := range o.Params {
		if _, ok := f.Tensors["exp_avg."+p.Name]; !ok {
			continue
		}
		if m[i], err = readLike(f, "exp_avg."+p.Name, p); err != nil {
			return err
		}
		if v[i], err = readLike(f, "exp_avg_sq."+p.Name, p); err != nil {
			return err
		}
	}
	o.m, o.v, o.T, o.Rate = m, v, t, lr
	return nil
}

func readLike(f *safetensors.File, name string, p *nn.Param) ([]float32, error) {
	st, ok := f.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("optimizer state: missing tensor %q", name)
	}
	if !tensor.SameShape(st.Shape, p.Value.Shape) {
		return nil, fmt.Errorf("optimizer state: tensor %q has shape %v, parameter has %v", name, st.Shape, p.Value.Shape)
	}
	return st.Float32s()
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func parseF(meta map[string]string, key string) (float64, error) {
	v, err := strconv.ParseFloat(meta[key], 64)
	if err != nil {
		return 0, fmt.Errorf("optimizer state: bad %s %q", key, meta[key])
	}
	return v, nil
}
