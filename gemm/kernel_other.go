//go:build !amd64 || purego

package gemm

// platformKernels: no assembly kernels on this architecture or in the
// purego build; only the generic Go kernel runs.
func platformKernels() []*kernelInfo { return nil }

