package dagmm

import (
	"math"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// constant wraps a tensor filled with v as a var without a gradient.
func constant(v float32, shape ...int) *nn.Var {
	t := tensor.New(shape...)
	t.Fill(v)
	return nn.NewVar(t)
}

// column returns column k of x [N,K] as [N,1] (a product with a one-hot
// vector, so the gradient flows).
func column(x *nn.Var, k int) *nn.Var {
	kk := x.Shape()[1]
	e := tensor.New(kk, 1)
	e.Data[k] = 1
	return nn.MatMul(x, nn.NewVar(e))
}

// rowSum returns Σ_j x[i,j] of x [N,D] as [N,1].
func rowSum(x *nn.Var) *nn.Var { return nn.MatMul(x, constant(1, x.Shape()[1], 1)) }

// mixtureEnergy returns DAGMM's sample energy (Zong et al. 2018, eq. 6)
// for z [N,D] with memberships gamma [N,K], the mixture being estimated
// from the batch itself (eq. 5):
//
//	φ_k = Σ_i γ_ik / N,  μ_k = Σ_i γ_ik z_i / Σ_i γ_ik,
//	Σ_k = Σ_i γ_ik (z_i − μ_k)(z_i − μ_k)ᵀ / Σ_i γ_ik  (+ eps·I),
//	E(z) = −log Σ_k φ_k exp(−½ (z − μ_k)ᵀ Σ_k⁻¹ (z − μ_k)) / sqrt(det(2π Σ_k)),
//
// as energy [N], and P(Σ) = Σ_k Σ_j 1/Σ_k[j,j], the penalty on small
// variances that keeps the covariances invertible. Everything is built
// from differentiable nn ops, so the loss trains both networks.
func mixtureEnergy(z, gamma *nn.Var, eps float32) (energy, penalty *nn.Var) {
	n, d := z.Shape()[0], z.Shape()[1]
	k := gamma.Shape()[1]
	eye := tensor.New(d, d)
	for i := 0; i < d; i++ {
		eye.Data[i*d+i] = 1
	}
	epsI := nn.NewVar(eye.Clone())
	for i := range epsI.Value.Data {
		epsI.Value.Data[i] *= eps
	}
	logits := make([]*nn.Var, k)
	var pen *nn.Var
	for c := 0; c < k; c++ {
		g := column(gamma, c)                       // [N,1]
		s := nn.Sum(g)                              // Σ_i γ_ic
		logPhi := nn.Log(nn.Scale(s, 1/float32(n))) // log φ_c
		mu := nn.Div(nn.MatMul(nn.Transpose(g), z), s)
		dz := nn.Sub(z, mu) // [N,D], μ broadcast over rows
		wdz := nn.Mul(dz, nn.MatMul(g, constant(1, 1, d)))
		cov := nn.Add(nn.Div(nn.MatMul(nn.Transpose(wdz), dz), s), epsI)
		prec := nn.Inverse(cov)
		maha := rowSum(nn.Mul(nn.MatMul(dz, prec), dz)) // [N,1]
		// log det(2πΣ) = D log 2π + log det Σ
		norm := nn.AddScalar(nn.LogDet(cov), float32(float64(d)*math.Log(2*math.Pi)))
		logits[c] = nn.Add(nn.Sub(nn.Scale(maha, -0.5), nn.Scale(norm, 0.5)), logPhi)
		diag := rowSum(nn.Mul(cov, nn.NewVar(eye))) // [D,1]: Σ_c[j,j]
		p := nn.Sum(nn.Div(constant(1, d, 1), diag))
		if pen == nil {
			pen = p
		} else {
			pen = nn.Add(pen, p)
		}
	}
	return nn.Scale(nn.LogSumExp(nn.Concat(logits...), 1), -1), pen
}
