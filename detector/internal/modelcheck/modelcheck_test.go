package modelcheck

import (
	"math"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/safetensors"
)

func TestChecksNameTheTensor(t *testing.T) {
	ts := map[string]safetensors.Tensor{
		"ok":    safetensors.F32("ok", []int{2}, []float32{3, 4}),
		"nan":   safetensors.F32("nan", []int{2}, []float32{1, float32(math.NaN())}),
		"frac":  safetensors.F32("frac", []int{2}, []float32{3.5, 4}),
		"neg":   safetensors.F32("neg", []int{2}, []float32{3, -4}),
		"huge":  safetensors.F32("huge", []int{2}, []float32{3, MaxGrid + 1}),
		"inf":   safetensors.F32("inf", []int{1}, []float32{float32(math.Inf(-1))}),
		"shape": safetensors.F32("shape", []int{3}, []float32{1, 2, 3}),
	}
	if h, w, err := Grid(ts, "ok"); err != nil || h != 3 || w != 4 {
		t.Fatalf("Grid(ok) = %d, %d, %v", h, w, err)
	}
	for _, name := range []string{"nan", "frac", "neg", "huge", "shape", "missing"} {
		if _, _, err := Grid(ts, name); err == nil || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("Grid(%s): error %v does not name the tensor", name, err)
		}
	}
	if _, err := Float32s(ts, "inf", 1); err == nil || !strings.Contains(err.Error(), `"inf"`) {
		t.Errorf("Float32s(inf): %v", err)
	}
	if v, err := Float32s(ts, "ok", 2); err != nil || v[1] != 4 {
		t.Errorf("Float32s(ok) = %v, %v", v, err)
	}
	if _, err := Int("c", 0, 2.5, 0, 9); err == nil {
		t.Error("2.5 accepted as an integer")
	}
}
