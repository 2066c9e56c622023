package patchcore

import (
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExportMatchesScore runs the exported graph (bank distances,
// reweighting) with Vigil's executor and compares it with Score: the
// default equal tap weighting, and plain concatenation without
// neighbourhood averaging on a float16 bank.
func TestExportMatchesScore(t *testing.T) {
	for _, cfg := range []string{
		`{"backbone":"random:1","size":64,"ratio":0.25,"seed":2}`,
		`{"backbone":"random:2","size":64,"ratio":0.1,"seed":3,"tap_weight":"channels","neighbourhood":1,"half":true,"num_neighbors":3,"taps":[0,1,2]}`,
	} {
		detectortest.CheckExport(t, "patchcore", cfg, 64, 1e-4)
	}
}
