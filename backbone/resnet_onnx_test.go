package backbone

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// TestONNXResNet18AutoTaps opens an exported ResNet-18 (seeded random
// weights) as a backbone: with no layers given, the automatic choice must
// be the outputs of layer1..layer3, at strides 4, 8 and 16.
func TestONNXResNet18AutoTaps(t *testing.T) {
	m := arch.NewResNet18(10, 1)
	p := filepath.Join(t.TempDir(), "resnet18.onnx")
	if err := onnx.WriteFile(p, m.ExportONNX()); err != nil {
		t.Fatal(err)
	}
	e, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Tap{{"layer1", 4, 64}, {"layer2", 8, 128}, {"layer3", 16, 256}}
	if !slices.Equal(e.Taps(), want) {
		t.Fatalf("taps %v, want %v", e.Taps(), want)
	}
	x := tensor.New(2, 3, 64, 96)
	x.Fill(0.3)
	f, err := e.Features(x)
	if err != nil {
		t.Fatal(err)
	}
	checkTapShapes(t, e, f, 2, 64, 96)
}
