package gemm

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// measurePeak runs the FMA-peak loop on GOMAXPROCS goroutines for about d
// and returns GFLOP/s.
func measurePeak(loop func(int), flopsPerIter int, d time.Duration) float64 {
	w := runtime.GOMAXPROCS(0)
	const chunk = 1 << 16
	var wg sync.WaitGroup
	iters := make([]int, w)
	t0 := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(t0) < d {
				loop(chunk)
				iters[g] += chunk
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	total := 0
	for _, it := range iters {
		total += it
	}
	return float64(total) * float64(flopsPerIter) / el / 1e9
}

// BenchmarkSgemmVsPeak alternates short rounds of the FMA-peak loop and
// of Sgemm on the same cores and reports the best of each and their ratio
// (frac_of_peak). On a shared, noisy machine the interleaving keeps the
// two measurements comparable. Run with -benchtime=1x.
func BenchmarkSgemmVsPeak(b *testing.B) {
	shapes := peakShapes
	orig := active.Load()
	defer active.Store(orig)
	for _, ki := range kernels {
		loop, fpi := peakLoop(ki.name)
		if loop == nil {
			continue
		}
		for _, s := range shapes {
			b.Run(ki.name+"/"+s.name, func(b *testing.B) {
				active.Store(ki)
				r := rand.New(rand.NewPCG(13, 14))
				a, bm, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				lda, ldb := s.k, s.n
				if s.tA {
					lda = s.m
				}
				if s.tB {
					ldb = s.k
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
				var bestPeak, bestGemm float64
				for i := 0; i < b.N; i++ {
					for round := 0; round < 10; round++ {
						bestPeak = max(bestPeak, measurePeak(loop, fpi, 40*time.Millisecond))
						calls := 0
						t0 := time.Now()
						for time.Since(t0) < 40*time.Millisecond {
							Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
							calls++
						}
						bestGemm = max(bestGemm, flops*float64(calls)/time.Since(t0).Seconds()/1e9)
					}
				}
				b.ReportMetric(bestGemm, "GFLOP/s")
				b.ReportMetric(bestPeak, "peak_GFLOP/s")
				b.ReportMetric(bestGemm/bestPeak, "frac_of_peak")
			})
		}
	}
}

// peakShapes are the products the peak-relative benchmarks measure: the
// issue's 1024³ and im2col shapes and the transposed back-propagation forms.
var peakShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"1024", false, false, 1024, 1024, 1024},
	{"M64_N3136_K576", false, false, 64, 3136, 576},
	{"M3136_N64_K576", false, false, 3136, 64, 576},
	{"AtB_M64_N3136_K576", true, false, 64, 3136, 576},
	{"ABt_M64_N576_K3136", false, true, 64, 576, 3136},
}
