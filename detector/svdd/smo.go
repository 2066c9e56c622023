package svdd

import (
	"fmt"
	"math"
)

// dual is the solution of the SVDD dual problem (Tax & Duin 2004, eq. 7,
// written as a minimisation)
//
//	min_α  αᵀKα − Σᵢ αᵢ Kᵢᵢ   subject to  Σᵢ αᵢ = 1,  0 ≤ αᵢ ≤ C.
//
// The centre in feature space is a = Σᵢ αᵢ φ(xᵢ); ‖φ(x) − a‖² =
// k(x,x) − 2 Σᵢ αᵢ k(xᵢ,x) + αᵀKα.
type dual struct {
	alpha []float64
	aKa   float64 // αᵀKα, the centre's squared norm
	r2    float64 // R², the squared radius
	iters int
}

// smoOptions bounds the solver.
type smoOptions struct {
	tol     float64 // stop when the maximal KKT violation m(α) − M(α) is below tol
	maxIter int     // error out beyond this many pair updates
}

// tau replaces a non-positive curvature in the pair's 1-D subproblem, as in
// LIBSVM (it only happens for duplicate points, where K is singular).
const tau = 1e-12

// solveSMO solves the dual by sequential minimal optimisation with the
// second-order working-set selection of Fan, Chen & Lin (JMLR 2005,
// "WSS2"), as LIBSVM does for the one-class SVM, which has the same
// constraint structure (all labels +1). k is the n×n kernel matrix,
// row-major; c = 1/(νn) is the upper bound.
//
// In LIBSVM's notation Q = 2K, p = −diag(K) and the gradient is
// G = Qα + p. With all labels +1, I_up = {t : αₜ < C}, I_low = {t : αₜ > 0};
// i maximises −Gₜ over I_up, j minimises −(Gᵢ−Gₜ)²/aᵢₜ over the t in I_low
// that violate KKT with i, and the pair moves along αᵢ += δ, αⱼ −= δ.
func solveSMO(k []float32, n int, c float64, opt smoOptions) (*dual, error) {
	if n < 1 || len(k) != n*n {
		return nil, fmt.Errorf("svdd: kernel matrix has %d values for %d points", len(k), n)
	}
	if !(c > 0) || c*float64(n) < 1-1e-12 {
		return nil, fmt.Errorf("svdd: upper bound C = %g is infeasible for %d points (need C >= 1/n, i.e. nu <= 1)", c, n)
	}
	c = min(c, 1) // α ≤ 1 anyway since Σα = 1
	alpha := make([]float64, n)
	// Feasible start: as many points at C as fit, the remainder on the next
	// one (LIBSVM's one-class initialisation).
	rest := 1.0
	for i := 0; i < n && rest > 0; i++ {
		alpha[i] = min(c, rest)
		rest -= alpha[i]
	}
	// G = 2Kα − diag(K), accumulated from the nonzero α only.
	g := make([]float64, n)
	for t := 0; t < n; t++ {
		g[t] = -float64(k[t*n+t])
	}
	for i, a := range alpha {
		if a == 0 {
			continue
		}
		row := k[i*n : (i+1)*n]
		for t, v := range row {
			g[t] += 2 * a * float64(v)
		}
	}
	iters := 0
	for {
		// i: the most violating index in I_up.
		i, gmax := -1, math.Inf(-1)
		for t := 0; t < n; t++ {
			if alpha[t] < c && -g[t] >= gmax {
				i, gmax = t, -g[t]
			}
		}
		// j: second-order choice in I_low; gmax2 = max over I_low of Gₜ
		// gives the stopping criterion m(α) − M(α) = gmax + gmax2.
		j, gmax2, best := -1, math.Inf(-1), math.Inf(1)
		var kii float64
		var ki []float32
		if i >= 0 {
			ki = k[i*n : (i+1)*n]
			kii = float64(ki[i])
		}
		for t := 0; t < n; t++ {
			if alpha[t] <= 0 {
				continue
			}
			gmax2 = max(gmax2, g[t])
			if i < 0 {
				continue
			}
			b := gmax + g[t]
			if b <= 0 {
				continue
			}
			a := 2 * (kii + float64(k[t*n+t]) - 2*float64(ki[t]))
			if a <= 0 {
				a = tau
			}
			if obj := -b * b / a; obj <= best {
				j, best = t, obj
			}
		}
		if i < 0 || j < 0 || gmax+gmax2 < opt.tol {
			break
		}
		if iters >= opt.maxIter {
			return nil, fmt.Errorf("svdd: SMO did not converge in %d iterations (KKT violation %.3g > tol %.3g); raise max_iter or tol", opt.maxIter, gmax+gmax2, opt.tol)
		}
		iters++
		kj := k[j*n : (j+1)*n]
		a := 2 * (kii + float64(kj[j]) - 2*float64(ki[j]))
		if a <= 0 {
			a = tau
		}
		// Unconstrained step along (+1 on i, −1 on j), then clipped to the box.
		delta := (g[j] - g[i]) / a
		up, down := c-alpha[i], alpha[j]
		switch {
		case delta < min(up, down):
			alpha[i] += delta
			alpha[j] -= delta
		case up <= down: // αᵢ reaches C first
			delta = up
			alpha[i] = c
			alpha[j] = max(0, alpha[j]-delta)
		default: // αⱼ reaches 0 first
			delta = down
			alpha[i] += delta
			alpha[j] = 0
		}
		for t := 0; t < n; t++ {
			g[t] += 2 * delta * (float64(ki[t]) - float64(kj[t]))
		}
	}
	d := &dual{alpha: alpha, iters: iters}
	for t, a := range alpha {
		d.aKa += a * (g[t] + float64(k[t*n+t])) / 2
	}
	// ‖φ(xₜ) − a‖² = aKa − Gₜ. Free support vectors lie on the sphere;
	// without any, R² is the middle of the interval the bounds allow
	// (points with α = 0 inside, points at C outside).
	var sum float64
	free := 0
	lo, hi := math.Inf(-1), math.Inf(1)
	for t, a := range alpha {
		d2 := d.aKa - g[t]
		switch {
		case a > 0 && a < c:
			sum += d2
			free++
		case a == 0:
			lo = max(lo, d2)
		default:
			hi = min(hi, d2)
		}
	}
	switch {
	case free > 0:
		d.r2 = sum / float64(free)
	case !math.IsInf(lo, 0) && !math.IsInf(hi, 0):
		d.r2 = (lo + hi) / 2
	case !math.IsInf(lo, 0):
		d.r2 = lo
	default:
		d.r2 = hi
	}
	return d, nil
}
