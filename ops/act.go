package ops

import "math"

// Act is an activation fused into a forward kernel's epilogue.
type Act int

const (
	// ActNone applies nothing.
	ActNone Act = iota
	// ActReLU applies max(x, 0).
	ActReLU
	// ActReLU6 applies min(max(x, 0), 6).
	ActReLU6
)

// bounds returns the clamp interval of act.
func (act Act) bounds() (lo, hi float32) {
	inf := float32(math.Inf(1))
	switch act {
	case ActNone:
		return -inf, inf
	case ActReLU:
		return 0, inf
	case ActReLU6:
		return 0, 6
	}
	panicf("ops: unknown Act %d", act)
	return 0, 0
}

// biasAct adds b (when hasB) and applies act to row in place.
func biasAct(row []float32, b float32, hasB bool, act Act) {
	if !hasB {
		b = 0
	}
	if act == ActNone && !hasB {
		return
	}
	lo, hi := act.bounds() // ±Inf for ActNone: the clamp passes values (and NaN) through
	addClamp(row, b, lo, hi)
}

// addClampGo is the portable addClamp; NaN passes through like the SIMD
// version (comparisons with NaN are false).
func addClampGo(row []float32, b, lo, hi float32) {
	for i, v := range row {
		v += b
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		row[i] = v
	}
}
