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

// biasAct adds b (when hasB) and applies act to row in place. The clamps
// use min/max so random-signed data does not cost branch mispredictions.
func biasAct(row []float32, b float32, hasB bool, act Act) {
	if !hasB {
		b = 0
	}
	switch act {
	case ActNone:
		if !hasB {
			return
		}
		for i := range row {
			row[i] += b
		}
	case ActReLU:
		for i, v := range row {
			row[i] = max(v+b, 0)
		}
	case ActReLU6:
		for i, v := range row {
			row[i] = min(max(v+b, 0), 6)
		}
	default:
		panicf("ops: unknown Act %d", act)
	}
}
