package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/tensor"
)

func mustSame(op string, a, b *Var) {
	if !sameShape(a.Value.Shape, b.Value.Shape) {
		panic(fmt.Sprintf("nn.%s: shapes %v and %v differ", op, a.Value.Shape, b.Value.Shape))
	}
}

// MSELoss returns mean((pred - target)²).
func MSELoss(pred, target *Var) *Var {
	mustSame("MSELoss", pred, target)
	n := len(pred.Value.Data)
	var s float64
	pd, td := pred.Value.Data, target.Value.Data
	for i, p := range pd {
		d := float64(p - td[i])
		s += d * d
	}
	var res *Var
	res = result(tensor.From([]float32{float32(s / float64(n))}, 1), []*Var{pred, target}, func() {
		k := 2 * res.Grad.Data[0] / float32(n)
		g := like(pred.Value)
		for i, p := range pd {
			g.Data[i] = k * (p - td[i])
		}
		if needs(target) {
			ng := like(g)
			for i, v := range g.Data {
				ng.Data[i] = -v
			}
			target.accum(ng)
		}
		pred.accum(g)
	})
	return res
}

// L1Loss returns mean(|pred - target|); the subgradient at 0 is 0.
func L1Loss(pred, target *Var) *Var {
	mustSame("L1Loss", pred, target)
	n := len(pred.Value.Data)
	var s float64
	pd, td := pred.Value.Data, target.Value.Data
	for i, p := range pd {
		s += math.Abs(float64(p - td[i]))
	}
	var res *Var
	res = result(tensor.From([]float32{float32(s / float64(n))}, 1), []*Var{pred, target}, func() {
		k := res.Grad.Data[0] / float32(n)
		g := like(pred.Value)
		for i, p := range pd {
			switch d := p - td[i]; {
			case d > 0:
				g.Data[i] = k
			case d < 0:
				g.Data[i] = -k
			}
		}
		if needs(target) {
			ng := like(g)
			for i, v := range g.Data {
				ng.Data[i] = -v
			}
			target.accum(ng)
		}
		pred.accum(g)
	})
	return res
}

// CrossEntropy returns the mean over the batch of −log softmax(logits)[target]
// for logits [N,K] and integer class targets in [0,K).
func CrossEntropy(logits *Var, targets []int) *Var {
	s := logits.Value.Shape
	if len(s) != 2 || s[0] != len(targets) {
		panic(fmt.Sprintf("nn.CrossEntropy: logits %v for %d targets (want [N,K])", s, len(targets)))
	}
	n, k := s[0], s[1]
	logp := ops.LogSoftmax(logits.Value, 1)
	var sum float64
	for i, c := range targets {
		if c < 0 || c >= k {
			panic(fmt.Sprintf("nn.CrossEntropy: target %d of item %d outside [0,%d)", c, i, k))
		}
		sum -= float64(logp.Data[i*k+c])
	}
	var res *Var
	res = result(tensor.From([]float32{float32(sum / float64(n))}, 1), []*Var{logits}, func() {
		// d/dlogits = (softmax − onehot) / N
		scale := res.Grad.Data[0] / float32(n)
		g := like(logits.Value)
		for i, c := range targets {
			row := g.Data[i*k : (i+1)*k]
			lp := logp.Data[i*k : (i+1)*k]
			for j := range row {
				row[j] = scale * float32(math.Exp(float64(lp[j])))
			}
			row[c] -= scale
		}
		logits.accum(g)
	})
	return res
}

// TripletMarginLoss returns mean over the batch of
// max(0, ‖a−p‖₂ − ‖a−n‖₂ + margin) for embeddings [N,D], with PyTorch's
// ε = 1e-6 added to the differences.
func TripletMarginLoss(anchor, positive, negative *Var, margin float32) *Var {
	mustSame("TripletMarginLoss", anchor, positive)
	mustSame("TripletMarginLoss", anchor, negative)
	s := anchor.Value.Shape
	if len(s) != 2 {
		panic(fmt.Sprintf("nn.TripletMarginLoss: want [N,D] embeddings, got %v", s))
	}
	const eps = 1e-6
	n, d := s[0], s[1]
	a, p, ng := anchor.Value.Data, positive.Value.Data, negative.Value.Data
	dp := make([]float64, n)
	dn := make([]float64, n)
	var sum float64
	for i := 0; i < n; i++ {
		var sp, sn float64
		for j := i * d; j < (i+1)*d; j++ {
			x := float64(a[j]-p[j]) + eps
			y := float64(a[j]-ng[j]) + eps
			sp += x * x
			sn += y * y
		}
		dp[i], dn[i] = math.Sqrt(sp), math.Sqrt(sn)
		sum += max(0, dp[i]-dn[i]+float64(margin))
	}
	var res *Var
	res = result(tensor.From([]float32{float32(sum / float64(n))}, 1), []*Var{anchor, positive, negative}, func() {
		k := float64(res.Grad.Data[0]) / float64(n)
		ga, gp, gn := like(anchor.Value), like(anchor.Value), like(anchor.Value)
		for i := 0; i < n; i++ {
			if dp[i]-dn[i]+float64(margin) <= 0 {
				continue
			}
			cp := k / max(dp[i], 1e-12)
			cn := k / max(dn[i], 1e-12)
			for j := i * d; j < (i+1)*d; j++ {
				x := float32(cp * (float64(a[j]-p[j]) + eps))
				y := float32(cn * (float64(a[j]-ng[j]) + eps))
				ga.Data[j] = x - y
				gp.Data[j] = -x
				gn.Data[j] = y
			}
		}
		anchor.accum(ga)
		positive.accum(gp)
		negative.accum(gn)
	})
	return res
}
