// Package ops holds the engine's low-level float32 kernels on NCHW
// tensors: convolution, transposed convolution, pooling, batch
// normalisation, resampling and small elementwise helpers, each with its
// backward pass. There is no autodiff here; package nn builds on these
// kernels.
//
// Convolution picks a path per problem: a direct depthwise kernel
// (Groups == Cin == Cout), Winograd F(2×2,3×3) for 3×3 stride-1 layers with
// enough channels and pixels, a plain GEMM for 1×1 stride-1 layers, and
// row-tiled im2col + GEMM otherwise, parallel over images and tiles with a
// serial GEMM per task (or whole images with the parallel GEMM when there
// are too few tiles). Backward passes compute dX of ungrouped stride-1 layers as a
// forward convolution with the flipped kernel, dW of Winograd-shaped layers
// in the Winograd domain (16 GEMMs over the batch's tiles, winograd_dw.go)
// and dW of other stride-1 layers as one GEMM per kernel tap; reductions
// over images merge in a fixed order so results are repeatable. Stride-2
// im2col and col2im work on the input's four parity planes (im2col_s2.go),
// one contiguous run per channel and kernel tap (an output-phase
// transposed convolution without col2im measured slower on the
// autoencoder's layers and was removed; see git history). For inference, Conv2dPlan
// (PrepareConv2d) keeps a layer's Winograd weights transformed across calls;
// whole-image products with few output positions and many channels (7×7
// maps) run transposed, Yᵀ = colᵀ·Wᵀ, so the weights are the wide GEMM side.
// Hot loops Go cannot vectorise have AVX2
// versions (simd_amd64.s) next to portable Go ones.
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
