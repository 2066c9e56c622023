//go:build linux

package ops

import (
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time consumed by all threads of the process; on a
// busy shared machine it is a steadier measure than wall time.
func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAEPathsCPU times the autoencoder's convolution passes in
// process CPU time per call, all variants interleaved, best of 7 rounds,
// including the alternative kernels: Winograd vs direct weight gradient
// (L3, L4). Run with -benchtime=1x and GOMAXPROCS=1 for single-thread cost.
func BenchmarkAEPathsCPU(b *testing.B) {
	rng := rand.New(rand.NewPCG(91, 92))
	p := Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	pt := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	x3, w3, dy3 := randT(rng, 16, 64, 16, 16), randT(rng, 64, 64, 3, 3), randT(rng, 16, 64, 16, 16)
	w4, dy4 := randT(rng, 32, 64, 3, 3), randT(rng, 16, 32, 16, 16)
	d1x, d1w := randT(rng, 16, 32, 16, 16), randT(rng, 32, 32, 4, 4)
	p2 := Conv2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	x1, w1, dy1 := randT(rng, 16, 3, 64, 64), randT(rng, 32, 3, 3, 3), randT(rng, 16, 32, 32, 32)
	x2, w2, dy2 := randT(rng, 16, 32, 32, 32), randT(rng, 64, 32, 3, 3), randT(rng, 16, 64, 16, 16)
	y1, y2 := randT(rng, 16, 32, 32, 32), randT(rng, 16, 64, 16, 16)
	d2x, d2w := randT(rng, 16, 32, 32, 32), randT(rng, 32, 3, 4, 4)
	d1dy, d2dy := randT(rng, 16, 32, 32, 32), randT(rng, 16, 3, 64, 64)
	var never bool
	type variant struct {
		name string
		flag *bool
		off  bool // the flag's value for this variant
		fn   func()
	}
	vs := []variant{
		{"L1fwd", &never, false, func() { Conv2dForwardInto(y1, x1, w1, nil, p2) }},
		{"L1dW", &never, false, func() { Conv2dBackward(x1, w1, dy1, p2, false) }},
		{"L2fwd", &never, false, func() { Conv2dForwardInto(y2, x2, w2, nil, p2) }},
		{"L2dW", &never, false, func() { Conv2dBackward(x2, w2, dy2, p2, false) }},
		{"L2bwd", &never, false, func() { Conv2dBackward(x2, w2, dy2, p2, true) }},
		{"L3dW_wino", &disableWinoDW, false, func() { Conv2dBackward(x3, w3, dy3, p, false) }},
		{"L3dW_direct", &disableWinoDW, true, func() { Conv2dBackward(x3, w3, dy3, p, false) }},
		{"L4dW_wino", &disableWinoDW, false, func() { Conv2dBackward(x3, w4, dy4, p, false) }},
		{"L4dW_direct", &disableWinoDW, true, func() { Conv2dBackward(x3, w4, dy4, p, false) }},
		{"D1bwd", &never, false, func() { ConvTranspose2dBackward(d1x, d1w, d1dy, pt, true) }},
		{"D2fwd", &never, false, func() { ConvTranspose2dForward(d2x, d2w, nil, pt) }},
		{"D2bwd", &never, false, func() { ConvTranspose2dBackward(d2x, d2w, d2dy, pt, true) }},
		{"D1fwd", &never, false, func() { ConvTranspose2dForward(d1x, d1w, nil, pt) }},
		{"L3fwd", &never, false, func() { Conv2dForwardInto(dy3, x3, w3, nil, p) }},
		{"L3bwd", &never, false, func() { Conv2dBackward(x3, w3, dy3, p, true) }},
		{"L4fwd", &never, false, func() { Conv2dForwardInto(dy4, x3, w4, nil, p) }},
		{"L4bwd", &never, false, func() { Conv2dBackward(x3, w4, dy4, p, true) }},
	}
	const reps = 5
	best := make([]time.Duration, len(vs))
	for i := 0; i < b.N; i++ {
		for round := 0; round < 7; round++ {
			for k, v := range vs {
				old := *v.flag
				*v.flag = v.off
				v.fn()
				t0 := processCPU()
				for r := 0; r < reps; r++ {
					v.fn()
				}
				d := (processCPU() - t0) / reps
				*v.flag = old
				if best[k] == 0 || d < best[k] {
					best[k] = d
				}
			}
		}
	}
	for k, v := range vs {
		b.ReportMetric(float64(best[k].Microseconds())/1000, v.name+"_cpu_ms")
	}
}
