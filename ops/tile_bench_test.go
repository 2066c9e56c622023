package ops

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// BenchmarkConvTune runs the 3×3 64→64 56×56 conv with the tile sizes
// taken from the environment (OPS_WINO, OPS_COL floats; OPS_NOWINO=1), so
// tuning runs can compare settings without rebuilding.
func BenchmarkConvTune(b *testing.B) {
	if v, err := strconv.Atoi(os.Getenv("OPS_WINO")); err == nil {
		winoBandFloats = v
	}
	if v, err := strconv.Atoi(os.Getenv("OPS_COL")); err == nil {
		colTileFloats = v
	}
	disableWinograd = os.Getenv("OPS_NOWINO") == "1"
	defer func() { disableWinograd = false }()
	n, _ := strconv.Atoi(os.Getenv("OPS_N"))
	b.Run(fmt.Sprint("N", max(n, 1)), func(b *testing.B) { benchConv(b, max(n, 1), 64, 56, 56, 64, 3, pad1) })
}
