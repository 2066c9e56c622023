package svdd

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// gauss2D returns n seeded 2-D points: a standard normal blob.
func gauss2D(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, 2*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func rbfMatrix(x []float32, n, dim int, gamma float64) []float32 {
	k := sqDists(nil, x, n, x, n, dim)
	kernel(k, gamma)
	for i := 0; i < n; i++ {
		k[i*n+i] = 1
	}
	return k
}

// bruteForceQP solves min αᵀKα − Σαᵢ Kᵢᵢ s.t. Σα = 1, 0 ≤ α ≤ C by trying
// every assignment of the points to {α = 0, α = C, free}: for each, the
// equality-constrained QP on the free set is one linear solve (its KKT
// system), and the assignment is kept when the free α are inside the box
// and the bound points satisfy KKT with the multiplier. A convex QP's KKT
// points are its minimisers, so every assignment kept gives the optimum.
func bruteForceQP(t *testing.T, k []float32, n int, c float64) []float64 {
	t.Helper()
	K := func(i, j int) float64 { return float64(k[i*n+j]) }
	code := make([]int, n) // 0: α=0, 1: α=C, 2: free
	var best []float64
	bestObj := math.Inf(1)
	for {
		var free, atC []int
		for i, s := range code {
			switch s {
			case 1:
				atC = append(atC, i)
			case 2:
				free = append(free, i)
			}
		}
		rest := 1 - float64(len(atC))*c
		if len(free) == 0 && math.Abs(rest) < 1e-12 {
			// No free point: α is fixed, and KKT asks for a multiplier λ
			// with gᵢ ≤ λ at C and gᵢ ≥ λ at 0.
			alpha := make([]float64, n)
			for _, i := range atC {
				alpha[i] = c
			}
			lo, hi := math.Inf(-1), math.Inf(1)
			for i := 0; i < n; i++ {
				g := -K(i, i)
				for j := 0; j < n; j++ {
					g += 2 * K(i, j) * alpha[j]
				}
				if code[i] == 1 {
					lo = max(lo, g)
				} else {
					hi = min(hi, g)
				}
			}
			if lo <= hi+1e-9 {
				best, bestObj = alpha, math.Inf(-1)
			}
		}
		if len(free) > 0 && rest > 0 {
			// Stationarity on the free set: 2K_FF α_F − λ1 = diag_F − 2C K_FB 1;
			// feasibility: 1ᵀα_F = rest.
			f := len(free)
			a := mat.NewDense(f+1, f+1, nil)
			b := mat.NewVecDense(f+1, nil)
			for r, i := range free {
				for s, j := range free {
					a.Set(r, s, 2*K(i, j))
				}
				a.Set(r, f, -1)
				a.Set(f, r, 1)
				v := K(i, i)
				for _, j := range atC {
					v -= 2 * c * K(i, j)
				}
				b.SetVec(r, v)
			}
			b.SetVec(f, rest)
			var sol mat.VecDense
			if err := sol.SolveVec(a, b); err == nil {
				alpha := make([]float64, n)
				ok := true
				for r, i := range free {
					alpha[i] = sol.AtVec(r)
					if !(alpha[i] > 1e-9 && alpha[i] < c-1e-9) {
						ok = false
					}
				}
				for _, i := range atC {
					alpha[i] = c
				}
				lambda := sol.AtVec(f)
				for i := 0; ok && i < n; i++ {
					g := -K(i, i) // ∂/∂αᵢ of the objective
					for j := 0; j < n; j++ {
						g += 2 * K(i, j) * alpha[j]
					}
					switch code[i] {
					case 0:
						ok = g-lambda >= -1e-9
					case 1:
						ok = g-lambda <= 1e-9
					}
				}
				if ok {
					obj := 0.0
					for i := 0; i < n; i++ {
						obj -= alpha[i] * K(i, i)
						for j := 0; j < n; j++ {
							obj += alpha[i] * alpha[j] * K(i, j)
						}
					}
					if obj < bestObj {
						best, bestObj = alpha, obj
					}
				}
			}
		}
		// Next assignment (base-3 counter).
		i := 0
		for i < n && code[i] == 2 {
			code[i] = 0
			i++
		}
		if i == n {
			break
		}
		code[i]++
	}
	if best == nil {
		t.Fatal("brute force found no KKT point")
	}
	return best
}

func TestSMOMatchesBruteForceQP(t *testing.T) {
	for _, tc := range []struct {
		n     int
		nu    float64
		gamma float64
		seed  uint64
	}{
		{9, 0.3, 0.5, 1},  // C = 1/2.7: two points at C at most
		{8, 0.5, 1.0, 2},  // C = 1/4
		{9, 0.15, 0.2, 3}, // C = 1/1.35: almost a hard sphere
		{7, 1.0, 0.7, 4},  // C = 1/n: every α = 1/n, the centre is the mean
	} {
		x := gauss2D(tc.n, tc.seed)
		k := rbfMatrix(x, tc.n, 2, tc.gamma)
		c := 1 / (tc.nu * float64(tc.n))
		want := bruteForceQP(t, k, tc.n, c)
		got, err := solveSMO(k, tc.n, c, smoOptions{tol: 1e-9, maxIter: 100000})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got.alpha[i]-want[i]) > 1e-5 {
				t.Errorf("n=%d nu=%g: alpha[%d] = %.7f, brute force %.7f", tc.n, tc.nu, i, got.alpha[i], want[i])
			}
			if (got.alpha[i] > 1e-7) != (want[i] > 1e-7) {
				t.Errorf("n=%d nu=%g: point %d support vector %v, brute force %v", tc.n, tc.nu, i, got.alpha[i] > 0, want[i] > 0)
			}
		}
		// R² from the brute-force solution: the distance of a free support
		// vector (all free ones agree), or for ν = 1 any point's bound.
		dist2 := func(alpha []float64, t0 int) float64 {
			d := float64(k[t0*tc.n+t0])
			for i := range alpha {
				d -= 2 * alpha[i] * float64(k[i*tc.n+t0])
				for j := range alpha {
					d += alpha[i] * alpha[j] * float64(k[i*tc.n+j])
				}
			}
			return d
		}
		var r2 float64
		nfree := 0
		for i, a := range want {
			if a > 1e-7 && a < c-1e-7 {
				r2 += dist2(want, i)
				nfree++
			}
		}
		if nfree == 0 {
			continue // R² is only bounded, not determined
		}
		r2 /= float64(nfree)
		if math.Abs(got.r2-r2) > 1e-5 {
			t.Errorf("n=%d nu=%g: R² = %.7f, brute force %.7f", tc.n, tc.nu, got.r2, r2)
		}
		var aKa float64
		for i := range want {
			for j := range want {
				aKa += want[i] * want[j] * float64(k[i*tc.n+j])
			}
		}
		if math.Abs(got.aKa-aKa) > 1e-5 {
			t.Errorf("n=%d nu=%g: αᵀKα = %.7f, brute force %.7f", tc.n, tc.nu, got.aKa, aKa)
		}
	}
}

// TestNuProperty checks Schölkopf's ν-property, which SVDD with C = 1/(νN)
// shares: (points with α = C)/N ≤ ν ≤ (support vectors)/N, and the
// fraction of training points outside the sphere is close to ν.
func TestNuProperty(t *testing.T) {
	const n = 400
	x := gauss2D(n, 7)
	k := rbfMatrix(x, n, 2, 0.5)
	for _, nu := range []float64{0.05, 0.1, 0.3} {
		c := 1 / (nu * n)
		sol, err := solveSMO(k, n, c, smoOptions{tol: 1e-6, maxIter: 1000000})
		if err != nil {
			t.Fatal(err)
		}
		atC, sv, outside := 0, 0, 0
		var sum float64
		for i, a := range sol.alpha {
			sum += a
			if a < 0 || a > c+1e-12 {
				t.Fatalf("nu=%g: alpha[%d] = %g outside [0, C=%g]", nu, i, a, c)
			}
			if a > 0 {
				sv++
			}
			if a >= c {
				atC++
			}
			var ka float64
			for j, b := range sol.alpha {
				ka += b * float64(k[i*n+j])
			}
			if d2 := 1 - 2*ka + sol.aKa; d2 > sol.r2+1e-6 {
				outside++
			}
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("nu=%g: alphas sum to %v", nu, sum)
		}
		if float64(atC)/n > nu+1e-9 || float64(sv)/n < nu-1e-9 {
			t.Errorf("nu=%g: %d at C and %d support vectors of %d break the nu-property", nu, atC, sv, n)
		}
		if f := float64(outside) / n; math.Abs(f-nu) > 0.02+nu/5 {
			t.Errorf("nu=%g: %.3f of the training points are outside the sphere", nu, f)
		}
	}
}

func TestSMOErrors(t *testing.T) {
	x := gauss2D(50, 3)
	k := rbfMatrix(x, 50, 2, 0.5)
	_, err := solveSMO(k, 50, 1/(0.1*50), smoOptions{tol: 1e-9, maxIter: 2})
	if err == nil || !strings.Contains(err.Error(), "did not converge in 2 iterations") {
		t.Errorf("iteration bound: got %v", err)
	}
	if _, err := solveSMO(k, 50, 0.01, smoOptions{tol: 1e-3, maxIter: 100}); err == nil || !strings.Contains(err.Error(), "infeasible") {
		t.Errorf("C < 1/n: got %v", err)
	}
}
