package optim

import "math"

// Schedule maps a step (or epoch) index, counted from 0, to a learning rate.
type Schedule interface {
	LR(step int) float64
}

// StepLR multiplies the base rate by Gamma every StepSize steps.
type StepLR struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns Base·Gamma^⌊step/StepSize⌋.
func (s StepLR) LR(step int) float64 {
	if s.StepSize <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// Cosine anneals from Base to Min over Total steps along a half cosine,
// after an optional linear warmup of Warmup steps from Base/Warmup up to Base.
type Cosine struct {
	Base, Min     float64
	Total, Warmup int
}

// LR returns the rate at step.
func (c Cosine) LR(step int) float64 {
	if step < c.Warmup {
		return c.Base * float64(step+1) / float64(c.Warmup)
	}
	span := c.Total - c.Warmup
	if span <= 0 || step >= c.Total {
		return c.Min
	}
	p := float64(step-c.Warmup) / float64(span)
	return c.Min + (c.Base-c.Min)*0.5*(1+math.Cos(math.Pi*p))
}

// Apply sets opt's learning rate from s at step.
func Apply(opt Optimizer, s Schedule, step int) { opt.SetLR(s.LR(step)) }
