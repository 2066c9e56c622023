// Package modelcheck holds the value checks the detectors' Restore
// functions share: a model file is untrusted input, so every tensor is
// refused by name when its values (not just its shape) could make scoring
// panic or return nonsense.
package modelcheck

import (
	"fmt"
	"math"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/safetensors"
)

// MaxGrid bounds a stored feature-grid side: far above any backbone's
// (a 4096-pixel input at stride 4 gives 1024), low enough that h·w·dim
// cannot overflow or allocate absurdly.
const MaxGrid = 4096

// Finite returns an error naming the tensor when one of v is NaN or ±Inf.
func Finite(name string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("tensor %q: value %d is %v, want a finite number", name, i, x)
		}
	}
	return nil
}

// Float32s is detector.Float32s (presence, shape, decoding) followed by
// Finite.
func Float32s(ts map[string]safetensors.Tensor, name string, want ...int) ([]float32, error) {
	v, err := detector.Float32s(ts, name, want...)
	if err != nil {
		return nil, err
	}
	return v, Finite(name, v)
}

// Int returns v as an int when it is integral and in lo..hi, else an error
// naming the tensor and entry.
func Int(name string, i int, v float32, lo, hi int) (int, error) {
	f := float64(v)
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, fmt.Errorf("tensor %q: entry %d is %v, want an integer in %d..%d", name, i, v, lo, hi)
	}
	return int(f), nil
}

// Grid reads the [2] tensor name holding a feature grid's height and width,
// each an integer in 1..MaxGrid.
func Grid(ts map[string]safetensors.Tensor, name string) (h, w int, err error) {
	g, err := detector.Float32s(ts, name, 2)
	if err != nil {
		return 0, 0, err
	}
	if h, err = Int(name, 0, g[0], 1, MaxGrid); err != nil {
		return 0, 0, err
	}
	if w, err = Int(name, 1, g[1], 1, MaxGrid); err != nil {
		return 0, 0, err
	}
	return h, w, nil
}
