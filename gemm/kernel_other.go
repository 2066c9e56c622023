//go:build !amd64 || purego

package gemm

// platformKernels: no assembly kernels on this architecture or in the
// purego build; only the generic Go kernel runs.
func platformKernels() []*kernelInfo { return nil }

// peakLoop: no FMA-peak loop without assembly.
func peakLoop(name string) (loop func(n int), flopsPerIter int) { return nil, 0 }
