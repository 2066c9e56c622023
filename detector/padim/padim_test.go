package padim

import (
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

func TestContract(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":40,"seed":3}`, detectortest.Options{})
}

func TestHalfPrecisionRoundTrip(t *testing.T) {
	detectortest.Run(t, "padim", `{"backbone":"random:1","size":64,"dim":24,"seed":4,"half":true}`, detectortest.Options{NTrain: 16})
}

func TestInvertSPD(t *testing.T) {
	// A = [[4,2],[2,3]]: inverse = 1/8 [[3,-2],[-2,4]].
	a := []float64{4, 2, 2, 3}
	if err := invertSPD(a, 2); err != nil {
		t.Fatal(err)
	}
	want := []float64{3.0 / 8, -2.0 / 8, -2.0 / 8, 4.0 / 8}
	for i := range a {
		if d := a[i] - want[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("inverse %v, want %v", a, want)
		}
	}
	if err := invertSPD([]float64{1, 2, 2, 1}, 2); err == nil {
		t.Fatal("indefinite matrix accepted")
	}
}

func TestConfigRefusesUnknownField(t *testing.T) {
	if _, err := New([]byte(`{"dimm":3}`)); err == nil {
		t.Fatal("misspelt field accepted")
	}
	if _, err := New([]byte(`{"size":100}`)); err == nil {
		t.Fatal("size not a multiple of 32 accepted")
	}
}
