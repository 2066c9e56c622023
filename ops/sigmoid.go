package ops

import "math"

// ReLUMask zeroes d[i] wherever the ReLU output y[i] is not positive (±0,
// negative; a positive NaN keeps d): the ReLU's backward pass on its
// output, vectorised. y must hold len(d) values.
func ReLUMask(d, y []float32) {
	if len(y) < len(d) {
		panicf("ops.ReLUMask: %d outputs for %d gradients", len(y), len(d))
	}
	reluMask(d, y[:len(d)])
}

// reluMaskGo is the portable ReLUMask, branch-free (ReLU masks are
// unpredictable): with y's bits read as an int32 b, the sign of b−1 (in
// 64 bits, so −0's MinInt32 cannot wrap) is set exactly when b ≤ 0.
func reluMaskGo(d, y []float32) {
	y = y[:len(d)]
	for i, v := range y {
		b := int64(int32(math.Float32bits(v)))
		d[i] = math.Float32frombits(math.Float32bits(d[i]) &^ uint32((b-1)>>63))
	}
}

// SigmoidSlices sets dst[i] = 1/(1+e^(−x[i])), vectorised; e^t is a
// float32 exponential within a few ulps (t clamped to [−87, 88], so the
// result is finite and in [0,1]); NaN stays NaN. dst may alias x, which
// must hold len(dst) values.
func SigmoidSlices(dst, x []float32) {
	if len(x) < len(dst) {
		panicf("ops.SigmoidSlices: %d inputs for %d outputs", len(x), len(dst))
	}
	sigmoidSlice(dst, x[:len(dst)])
}

// SigmoidGradSlices scales d[i] by y[i]·(1−y[i]), the sigmoid's derivative
// from its output y (which must hold len(d) values).
func SigmoidGradSlices(d, y []float32) {
	if len(y) < len(d) {
		panicf("ops.SigmoidGradSlices: %d outputs for %d gradients", len(y), len(d))
	}
	sigmoidGrad(d, y[:len(d)])
}

func sigmoidGo(dst, x []float32) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = 1 / (1 + Expf(-v))
	}
}

func sigmoidGradGo(d, y []float32) {
	y = y[:len(d)]
	for i, v := range y {
		d[i] *= v * (1 - v)
	}
}

// Expf is the float32 exponential the vector sigmoid computes (within a
// few ulps of math.Exp and several times faster):
// Cody–Waite reduction to |r| ≤ ln2/2 with n = ⌊t·log2e + ½⌋, degree-6
// Taylor polynomial, 2ⁿ from exponent bits; t is clamped to [−87, 88] so
// the result stays a finite normal float. NaN passes through.
func Expf(t float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125
		ln2lo = 1.42860682030941723212e-6
	)
	if t != t {
		return t
	}
	t = min(max(t, -87), 88)
	fn := float32(math.Floor(float64(t*log2e + 0.5)))
	r := (t - fn*ln2hi) - fn*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(fn)+127)<<23)
}
