// Package ops holds the engine's low-level float32 kernels on NCHW
// tensors: convolution (direct, im2col+GEMM, depthwise), transposed
// convolution, pooling, batch normalisation, resampling and small
// elementwise helpers, each with its backward pass. There is no autodiff
// here; package nn builds on these kernels.
//
// Shape mismatches are programmer errors inside the engine and panic with a
// message naming the op; user and file input is validated by importers.
package ops

import (
	"fmt"

	"github.com/vigil-ad/vigil/gemm"
)

// sgemmSerial is the single-threaded GEMM used when ops already
// parallelise over images or tiles.
var sgemmSerial = gemm.SgemmSerial

// sgemmPar is the GEMM that may use every worker itself.
var sgemmPar = gemm.Sgemm

func panicf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
