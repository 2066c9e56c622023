package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// withKernel runs fn once per kernel family this CPU supports, with the
// family's default blocking and with tiny blocking (so that every
// kc/mc/nc loop and edge path runs on small matrices).
func withKernel(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	orig := active.Load()
	defer active.Store(orig)
	for _, ki := range kernels {
		for _, small := range []bool{false, true} {
			k := ki
			name := ki.name
			if small {
				cp := *ki
				cp.kc, cp.mc, cp.nc = 7, 2*ki.mr, 3*ki.nr
				k = &cp
				name += "/smallblocks"
			}
			t.Run(name, func(t *testing.T) {
				active.Store(k)
				fn(t)
			})
		}
	}
}

// gemmCase is one product with explicit strides; pad* add slack to the
// leading dimensions beyond the minimum.
type gemmCase struct {
	tA, tB         bool
	m, n, k        int
	alpha, beta    float32
	padA, padB, pC int
}

// sentinel marks C's stride padding; Sgemm must never touch it.
const sentinel = float32(-12345.5)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// checkCase runs one case through f and compares with sgemmRef, using an
// error bound proportional to k and to the magnitudes that were summed.
func checkCase(t *testing.T, r *rand.Rand, tc gemmCase, f func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.tA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.tB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.pC
	a := randSlice(r, max(0, (ar-1)*lda+ac))
	b := randSlice(r, max(0, (br-1)*ldb+bc))
	c := make([]float32, max(0, (tc.m-1)*ldc+tc.n))
	for i := range c {
		if i%ldc >= tc.n {
			c[i] = sentinel
		} else if tc.beta == 0 {
			c[i] = float32(math.NaN()) // garbage that must not leak
		} else {
			c[i] = r.Float32()*2 - 1
		}
	}
	want := append([]float32(nil), c...)
	sgemmRef(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	// Magnitude bound: sum of |alpha*a*b| plus |beta*c| for each entry.
	absA := make([]float32, len(a))
	for i, v := range a {
		absA[i] = float32(math.Abs(float64(v)))
	}
	absB := make([]float32, len(b))
	for i, v := range b {
		absB[i] = float32(math.Abs(float64(v)))
	}
	mag := make([]float32, len(c))
	sgemmRef(tc.tA, tc.tB, tc.m, tc.n, tc.k, float32(math.Abs(float64(tc.alpha))), absA, lda, absB, ldb, 0, mag, ldc)
	got := append([]float32(nil), c...)
	f(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
	const eps = 1.0 / (1 << 23)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			idx := i*ldc + j
			if j >= tc.n {
				if got[idx] != sentinel {
					t.Fatalf("%+v: padding C[%d][%d] modified: %v", tc, i, j, got[idx])
				}
				continue
			}
			bound := float64(mag[idx])
			if tc.beta != 0 {
				bound += math.Abs(float64(tc.beta * c[idx]))
			}
			tol := 2*float64(tc.k+2)*eps*bound + 1e-30
			if d := math.Abs(float64(got[idx] - want[idx])); !(d <= tol) {
				t.Fatalf("%+v: C[%d][%d] = %v, want %v (|diff| %g > tol %g)", tc, i, j, got[idx], want[idx], d, tol)
			}
		}
	}
}

var (
	sgemmFn       = Sgemm
	sgemmSerialFn = SgemmSerial
)

// TestSgemmShapes covers degenerate, odd and block-crossing sizes with
// every transpose combination, alpha, beta and stride padding; partial
// micro-panels at depths from 64 (staged, not gathered) with k tails.
func TestSgemmShapes(t *testing.T) {
	dims := [][3]int{
		{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 4, 1}, {13, 17, 19}, {14, 32, 16},
		{15, 33, 31}, {29, 65, 70}, {6, 16, 5}, {7, 17, 259}, {40, 3, 300},
		{2, 100, 64}, {43, 48, 24}, {32, 27, 1030}, {18, 48, 96}, {4, 9, 80},
	}
	betas := []float32{0, 1, 0.5}
	withKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, d := range dims {
			for tr := 0; tr < 4; tr++ {
				for bi, beta := range betas {
					tc := gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: d[0], n: d[1], k: d[2],
						alpha: []float32{1, -1.5, 0.75}[bi], beta: beta,
						padA: r.IntN(4), padB: r.IntN(4), pC: r.IntN(4)}
					checkCase(t, r, tc, sgemmSerialFn)
				}
			}
		}
	})
}

// TestSgemmRandom draws random shapes, including large enough ones for
// the parallel split along m and along n.
func TestSgemmRandom(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	withKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for it := 0; it < 24; it++ {
			// More workers than cores is fine and exercises uneven splits.
			runtime.GOMAXPROCS(1 + it%4)
			tc := gemmCase{tA: r.IntN(2) == 1, tB: r.IntN(2) == 1,
				m: 1 + r.IntN(120), n: 1 + r.IntN(120), k: 1 + r.IntN(300),
				alpha: r.Float32()*4 - 2, beta: []float32{0, 1, 0.5, -2}[r.IntN(4)],
				padA: r.IntN(3), padB: r.IntN(3), pC: r.IntN(3)}
			if it%3 == 0 { // tall and thin: split along m
				tc.m, tc.n = 300+r.IntN(100), 1+r.IntN(40)
			}
			checkCase(t, r, tc, sgemmFn)
		}
	})
}

// TestSgemmParallelSplit checks products big enough to be split, on both
// orientations of the im2col shape (scaled down).
func TestSgemmParallelSplit(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	runtime.GOMAXPROCS(4)
	withKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, d := range [][3]int{{64, 500, 130}, {500, 64, 130}, {97, 211, 61}, {200, 200, 60}} {
			for tr := 0; tr < 4; tr++ {
				tc := gemmCase{tA: tr&1 != 0, tB: tr&2 != 0, m: d[0], n: d[1], k: d[2],
					alpha: 1, beta: float32(tr % 2), pC: 1}
				if wm, wn := plan(active.Load(), d[0], d[1], d[2]); d[0]*d[1]*d[2] >= minParallelFMA && wm*wn < 2 {
					t.Fatalf("%v: expected a parallel split", d)
				}
				checkCase(t, r, tc, sgemmFn)
			}
		}
	})
}

// TestSgemmSpecial checks k == 0 and alpha == 0 (C = beta*C, zeros
// instead of NaN when beta == 0) and m or n == 0 (no-op).
func TestSgemmSpecial(t *testing.T) {
	nan := float32(math.NaN())
	c := []float32{nan, 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("k=0 beta=0: c[%d]=%v, want 0", i, v)
		}
	}
	c = []float32{1, 2, 3, 4}
	a := []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 0.5, c, 2)
	for i, v := range c {
		if v != float32(i+1)*0.5 {
			t.Fatalf("alpha=0 beta=0.5: c[%d]=%v, want %v", i, v, float32(i+1)*0.5)
		}
	}
	Sgemm(false, false, 0, 3, 2, 1, nil, 2, make([]float32, 6), 3, 0, nil, 3) // must not panic
	// Hand-computed 2×2: [1 2;3 4]·[1 2;3 4] = [7 10;15 22].
	withKernel(t, func(t *testing.T) {
		c := []float32{nan, nan, nan, nan}
		Sgemm(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2)
		if want := []float32{7, 10, 15, 22}; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", c, want)
		}
		// A^T·B with A = [1 2;3 4]: [1 3;2 4]·[1 2;3 4] = [10 14;14 20].
		Sgemm(true, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2)
		if want := []float32{10, 14, 14, 20}; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("A^T B: got %v, want %v", c, want)
		}
	})
}

func TestSgemmBadArgs(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s: no panic", name)
			}
		}()
		f()
	}
	s := make([]float32, 12)
	mustPanic("short c", func() { Sgemm(false, false, 3, 4, 3, 1, s, 3, s, 4, 0, s[:11], 4) })
	mustPanic("small lda", func() { Sgemm(false, false, 3, 4, 3, 1, s, 2, s, 4, 0, s, 4) })
	mustPanic("short b^T", func() { Sgemm(false, true, 3, 4, 3, 1, s, 3, s[:11], 3, 0, s, 4) })
	mustPanic("negative", func() { Sgemm(false, false, -1, 4, 3, 1, s, 3, s, 4, 0, s, 4) })
}

func TestKernels(t *testing.T) {
	// the fastest supported family is the default; generic is always there, last
	if Kernel() != kernels[0].name || kernels[len(kernels)-1] != genericKernel {
		t.Fatalf("Kernel() = %q with families %v", Kernel(), kernels)
	}
}

// TestSgemmNoAlloc: steady-state calls reuse pooled packing buffers and
// pool goroutines, serial and parallel.
func TestSgemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	const m, n, k = 160, 160, 160
	r := rand.New(rand.NewPCG(7, 8))
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	for _, f := range []struct {
		name string
		fn   func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)
	}{{"serial", SgemmSerial}, {"parallel", Sgemm}} {
		allocs := testing.AllocsPerRun(20, func() {
			f.fn(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		})
		if allocs > 0.5 {
			t.Errorf("%s: %v allocations per call", f.name, allocs)
		}
	}
}

// TestSgemmConcurrent: several goroutines share the worker pool and the
// workspace pool; every result must match its own reference.
func TestSgemmConcurrent(t *testing.T) {
	const m, n, k, callers = 90, 130, 70, 4
	r := rand.New(rand.NewPCG(11, 12))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	sgemmRef(false, true, m, n, k, 1, a, k, b, k, 0, want, n)
	errs := make(chan string, callers)
	for g := 0; g < callers; g++ {
		go func() {
			c := make([]float32, m*n)
			for it := 0; it < 5; it++ {
				Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
				for i := range c {
					if d := math.Abs(float64(c[i] - want[i])); d > 1e-4 {
						errs <- fmt.Sprintf("C[%d] = %v, want %v", i, c[i], want[i])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < callers; g++ {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}

// TestPlan checks the worker grid: split the long side on 2 cores, a
// square grid for a square product on 16, serial when small.
func TestPlan(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	ki := &kernelInfo{mr: 14, nr: 32}
	cases := []struct {
		procs, m, n, k int
		wm, wn         int
	}{
		{2, 64, 3136, 576, 1, 2},
		{2, 3136, 64, 576, 2, 1},
		{16, 1024, 1024, 1024, 4, 4},
		{16, 4096, 256, 512, 16, 1},
		{4, 200, 200, 60, 2, 2},
		{8, 32, 32, 32, 1, 1},
		{1, 1024, 1024, 1024, 1, 1},
		{3, 14, 4000, 4000, 1, 3},
	}
	for _, c := range cases {
		runtime.GOMAXPROCS(c.procs)
		if wm, wn := plan(ki, c.m, c.n, c.k); wm != c.wm || wn != c.wn {
			t.Errorf("plan(%d procs, %d×%d×%d) = %d×%d, want %d×%d", c.procs, c.m, c.n, c.k, wm, wn, c.wm, c.wn)
		}
	}
}

// TestKernelRowCounts runs every row-count kernel of every family (the
// row tails of a block) with k around the unroll boundaries and both
// store paths (beta == 0 overwrites, otherwise C is read).
func TestKernelRowCounts(t *testing.T) {
	withKernel(t, func(t *testing.T) {
		ki := active.Load()
		r := rand.New(rand.NewPCG(15, 16))
		for rows := 1; rows <= ki.mr; rows++ {
			for _, k := range []int{1, 3, 4, 5, 8, 13} {
				for _, beta := range []float32{0, 0.5} {
					tc := gemmCase{m: rows, n: ki.nr + 3, k: k, alpha: 1.25, beta: beta, pC: 2}
					checkCase(t, r, tc, sgemmSerialFn)
				}
			}
		}
	})
}
