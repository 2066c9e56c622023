package ops

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

// biasAct adds b (if non-zero flag hasB) and applies act to row in place.
func biasAct(row []float32, b float32, hasB bool, act Act) {
	switch {
	case act == ActNone && !hasB:
	case act == ActNone:
		for i := range row {
			row[i] += b
		}
	case act == ActReLU:
		for i, v := range row {
			v += b
			if v < 0 {
				v = 0
			}
			row[i] = v
		}
	case act == ActReLU6:
		for i, v := range row {
			v += b
			if v < 0 {
				v = 0
			} else if v > 6 {
				v = 6
			}
			row[i] = v
		}
	default:
		panicf("ops: unknown Act %d", act)
	}
}
