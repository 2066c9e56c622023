//go:build linux && amd64 && !purego

package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time consumed by the calling OS thread.
func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

// processCPU is the CPU time consumed by all threads of the process.
func processCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSgemmThreadCPU measures single-thread efficiency on a busy,
// shared machine: SgemmSerial and the FMA-peak loop are both timed in
// thread CPU time (time the thread was descheduled does not count; cache
// pollution by other processes still does), interleaved, best of 8, and
// the ratio is reported as frac_of_peak. par_frac_of_peak does the same
// for the parallel Sgemm in process CPU time per core (idle waiting for
// a slower worker is not counted there). Run with -benchtime=1x.
func BenchmarkSgemmThreadCPU(b *testing.B) {
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
				// Thread CPU time is only meaningful if the goroutine
				// stays on one OS thread.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				active.Store(ki)
				r := rand.New(rand.NewPCG(17, 18))
				a, bm, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				lda, ldb := s.k, s.n
				if s.tA {
					lda = s.m
				}
				if s.tB {
					ldb = s.k
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
				var bestPeak, bestGemm, bestPar float64
				for i := 0; i < b.N; i++ {
					for round := 0; round < 8; round++ {
						const iters = 1 << 22
						t0 := threadCPU()
						loop(iters)
						if d := (threadCPU() - t0).Seconds(); d > 0 {
							bestPeak = max(bestPeak, float64(fpi)*iters/d/1e9)
						}
						calls := 0
						t0, w0 := threadCPU(), time.Now()
						for time.Since(w0) < 100*time.Millisecond {
							SgemmSerial(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
							calls++
						}
						if d := (threadCPU() - t0).Seconds(); d > 0 {
							bestGemm = max(bestGemm, flops*float64(calls)/d/1e9)
						}
						calls = 0
						t0, w0 = processCPU(), time.Now()
						for time.Since(w0) < 100*time.Millisecond {
							Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
							calls++
						}
						if d := (processCPU() - t0).Seconds(); d > 0 {
							bestPar = max(bestPar, flops*float64(calls)/d/1e9)
						}
					}
				}
				b.ReportMetric(bestGemm, "GFLOP/s")
				b.ReportMetric(bestPeak, "peak_GFLOP/s")
				b.ReportMetric(bestGemm/bestPeak, "frac_of_peak")
				b.ReportMetric(bestPar/bestPeak, "par_frac_of_peak")
			})
		}
	}
}
