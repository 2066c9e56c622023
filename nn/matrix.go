package nn

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// Small dense matrix ops with gradients, for models that need a density
// inside the loss (DAGMM's Gaussian mixture energy). They are meant for
// matrices of a few dozen rows: the work is done in float64 with no
// blocking.

// square returns n for an [n,n] var and panics otherwise.
func square(op string, a *Var) int {
	s := a.Value.Shape
	if len(s) != 2 || s[0] != s[1] || s[0] < 1 {
		panic(fmt.Sprintf("nn.%s: want a square [n,n] matrix, got %v", op, s))
	}
	return s[0]
}

// luDecompose factors a row-major n×n matrix as P·A = L·U by Gaussian
// elimination with partial pivoting, in place (L below the diagonal with
// unit diagonal, U on and above), returning the row permutation and its
// sign; ok is false when a pivot is zero (singular matrix).
func luDecompose(m []float64, n int) (perm []int, sign float64, ok bool) {
	perm = make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	sign = 1
	for k := 0; k < n; k++ {
		p := k
		for i := k + 1; i < n; i++ {
			if math.Abs(m[i*n+k]) > math.Abs(m[p*n+k]) {
				p = i
			}
		}
		if m[p*n+k] == 0 {
			return perm, sign, false
		}
		if p != k {
			for j := 0; j < n; j++ {
				m[k*n+j], m[p*n+j] = m[p*n+j], m[k*n+j]
			}
			perm[k], perm[p] = perm[p], perm[k]
			sign = -sign
		}
		for i := k + 1; i < n; i++ {
			f := m[i*n+k] / m[k*n+k]
			m[i*n+k] = f
			for j := k + 1; j < n; j++ {
				m[i*n+j] -= f * m[k*n+j]
			}
		}
	}
	return perm, sign, true
}

// inverse64 returns A⁻¹ of the row-major float32 matrix a (n×n) in float64
// and the LU factors' log|det| and sign; ok is false for a singular matrix.
func inverse64(a []float32, n int) (inv []float64, logAbsDet, sign float64, ok bool) {
	lu := make([]float64, n*n)
	for i, v := range a {
		lu[i] = float64(v)
	}
	perm, sign, ok := luDecompose(lu, n)
	if !ok {
		return nil, math.Inf(-1), 0, false
	}
	for k := 0; k < n; k++ {
		d := lu[k*n+k]
		logAbsDet += math.Log(math.Abs(d))
		if d < 0 {
			sign = -sign
		}
	}
	// Solve L·U·x = P·e_j for every column j.
	inv = make([]float64, n*n)
	col := make([]float64, n)
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			col[i] = 0
			if perm[i] == j {
				col[i] = 1
			}
		}
		for i := 0; i < n; i++ {
			for k := 0; k < i; k++ {
				col[i] -= lu[i*n+k] * col[k]
			}
		}
		for i := n - 1; i >= 0; i-- {
			for k := i + 1; k < n; k++ {
				col[i] -= lu[i*n+k] * col[k]
			}
			col[i] /= lu[i*n+i]
		}
		for i := 0; i < n; i++ {
			inv[i*n+j] = col[i]
		}
	}
	return inv, logAbsDet, sign, true
}

// Inverse returns A⁻¹ of a square matrix a [n,n]. A singular matrix gives
// an all-NaN result (so a training loss built on it reports NaN instead
// of crashing). Gradient: dA = −A⁻ᵀ·G·A⁻ᵀ.
func Inverse(a *Var) *Var {
	n := square("Inverse", a)
	inv, _, _, ok := inverse64(a.Value.Data, n)
	y := tensor.New(n, n)
	for i := range y.Data {
		if ok {
			y.Data[i] = float32(inv[i])
		} else {
			y.Data[i] = float32(math.NaN())
		}
	}
	var res *Var
	res = result(y, []*Var{a}, func() {
		g := res.Grad.Data
		da := tensor.New(n, n)
		if !ok {
			da.Fill(float32(math.NaN()))
			a.accum(da)
			return
		}
		// t = G·A⁻ᵀ, then da = −A⁻ᵀ·t.
		t := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for k := 0; k < n; k++ {
					s += float64(g[i*n+k]) * inv[j*n+k]
				}
				t[i*n+j] = s
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for k := 0; k < n; k++ {
					s += inv[k*n+i] * t[k*n+j]
				}
				da.Data[i*n+j] = float32(-s)
			}
		}
		a.accum(da)
	})
	return res
}

// LogDet returns log det A of a square matrix a [n,n] as a one-element
// var; a matrix whose determinant is not positive gives NaN (a covariance
// that lost definiteness must not pass silently). Gradient: g·A⁻ᵀ.
func LogDet(a *Var) *Var {
	n := square("LogDet", a)
	inv, logAbs, sign, ok := inverse64(a.Value.Data, n)
	v := logAbs
	if !ok || sign <= 0 {
		v = math.NaN()
	}
	var res *Var
	res = result(tensor.From([]float32{float32(v)}, 1), []*Var{a}, func() {
		g := float64(res.Grad.Data[0])
		da := tensor.New(n, n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if math.IsNaN(v) {
					da.Data[i*n+j] = float32(math.NaN())
				} else {
					da.Data[i*n+j] = float32(g * inv[j*n+i])
				}
			}
		}
		a.accum(da)
	})
	return res
}

// LogSumExp returns log Σ exp(x) along axis (negative counts from the
// end), computed stably (the maximum is factored out); the axis is
// removed from the shape. Gradient: softmax(x)·g along the axis.
func LogSumExp(x *Var, axis int) *Var {
	outer, dim, inner, ax := axisSplit(x.Value.Shape, axis)
	shape := append(append([]int(nil), x.Value.Shape[:ax]...), x.Value.Shape[ax+1:]...)
	if len(shape) == 0 {
		shape = []int{1}
	}
	y := tensor.New(shape...)
	xd := x.Value.Data
	for o := 0; o < outer; o++ {
		for in := 0; in < inner; in++ {
			base := o*dim*inner + in
			m := math.Inf(-1)
			for j := 0; j < dim; j++ {
				m = math.Max(m, float64(xd[base+j*inner]))
			}
			var s float64
			for j := 0; j < dim; j++ {
				s += math.Exp(float64(xd[base+j*inner]) - m)
			}
			y.Data[o*inner+in] = float32(m + math.Log(s))
		}
	}
	var res *Var
	res = result(y, []*Var{x}, func() {
		g := like(x.Value)
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				base := o*dim*inner + in
				lse, dy := float64(y.Data[o*inner+in]), res.Grad.Data[o*inner+in]
				for j := 0; j < dim; j++ {
					i := base + j*inner
					g.Data[i] = dy * float32(math.Exp(float64(xd[i])-lse))
				}
			}
		}
		x.accum(g)
	})
	return res
}
