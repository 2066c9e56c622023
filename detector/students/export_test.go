package students

import (
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExport runs the exported graph with Vigil's executor against Score:
// two receptive fields averaged with score ev at side 32, and one with
// score v at side 64; both with smoothing. (CheckExport compares the map
// of the prepared input with Score's map of the image, so it tests
// geometries without a crop.)
func TestExport(t *testing.T) {
	steps := strings.NewReplacer(`"teacher_steps":40`, `"teacher_steps":10`, `"student_steps":80`, `"student_steps":10`)
	short := steps.Replace(strings.Replace(tiny, `"size":64`, `"size":32`, 1))
	for _, c := range []struct {
		name, cfg string
		size      int
	}{
		{"p17+p33-ev", `{"teacher":"triplet","patch_sizes":[17,33],` + short + `}`, 32},
		{"p17-v-64", `{"teacher":"triplet","patch_sizes":[17],"score":"v",` + steps.Replace(tiny) + `}`, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			detectortest.CheckExport(t, "students", c.cfg, c.size, 1e-4)
		})
	}
}

// TestExportRefusesNarrowSides: a side below the reflection padding of
// the receptive field is refused by name (p=65 pads 32 pixels on top, more
// than ONNX's single reflection of a 32-pixel side allows), and an
// unfitted model is refused.
func TestExportRefusesNarrowSides(t *testing.T) {
	d, err := New([]byte(`{"teacher":"triplet","patch_sizes":[65],` + strings.Replace(tiny, `"size":64`, `"size":32`, 1) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Fatalf("unfitted model: %v", err)
	}
	net, err := arch.NewPatchNet(65, 8, 0.06, 1)
	if err != nil {
		t.Fatal(err)
	}
	d.scales = []*scale{{p: 65, teacher: net, students: []*arch.PatchNet{net, net}, tMean: make([]float32, 8), tStd: make([]float32, 8), stats: [4]float32{0, 1, 0, 1}}}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "p=65: side 32 is too small") {
		t.Fatalf("p=65 at side 32: %v", err)
	}
}
