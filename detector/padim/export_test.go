package padim

import (
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares it with Score (channels of all three random-backbone taps).
func TestExportMatchesScore(t *testing.T) {
	detectortest.CheckExport(t, "padim", `{"backbone":"random:1","size":64,"dim":20,"seed":3}`, 64, 1e-4)
}
