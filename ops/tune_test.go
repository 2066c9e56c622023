package ops

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// BenchmarkConvTune runs one convolution described by the environment so
// tuning runs compare settings without rebuilding: OPS_SHAPE="n,cin,h,cout,k,stride,pad"
// (default the 3×3 64→64 56×56 conv), OPS_WINO / OPS_COL tile floats,
// OPS_NOWINO=1 to force im2col, OPS_BWD=1 to time Conv2dBackward instead.
func BenchmarkConvTune(b *testing.B) {
	if v, err := strconv.Atoi(os.Getenv("OPS_WINO")); err == nil {
		winoBandFloats = v
	}
	if v, err := strconv.Atoi(os.Getenv("OPS_COL")); err == nil {
		colTileFloats = v
	}
	disableWinograd = os.Getenv("OPS_NOWINO") == "1"
	disableShiftedDW = os.Getenv("OPS_NOSHIFT") == "1"
	defer func() { disableWinograd, disableShiftedDW = false, false }()
	sh := [7]int{1, 64, 56, 64, 3, 1, 1}
	if v := os.Getenv("OPS_SHAPE"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d,%d,%d,%d,%d,%d", &sh[0], &sh[1], &sh[2], &sh[3], &sh[4], &sh[5], &sh[6]); err != nil {
			b.Fatal(err)
		}
	}
	p := Conv2D{StrideH: sh[5], StrideW: sh[5], PadT: sh[6], PadL: sh[6], PadB: sh[6], PadR: sh[6]}
	if os.Getenv("OPS_BWD") != "1" {
		benchConv(b, sh[0], sh[1], sh[2], sh[2], sh[3], sh[4], p)
		return
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := randT(rng, sh[0], sh[1], sh[2], sh[2])
	w := randT(rng, sh[3], sh[1], sh[4], sh[4])
	dy := randT(rng, Conv2dForward(x, w, nil, p).Shape...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Conv2dBackward(x, w, dy, p, true)
	}
}
