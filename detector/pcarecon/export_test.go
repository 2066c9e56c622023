package pcarecon

import (
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares it with Score: one scale in colour, and two scales in gray
// with a stride that leaves a flush last patch.
func TestExportMatchesScore(t *testing.T) {
	for _, cfg := range []string{
		`{"size":32,"patch":6,"stride":3,"components":8,"smooth":1.5}`,
		`{"size":32,"patch":5,"stride":4,"components":6,"scales":[1,2],"gray":true}`,
	} {
		detectortest.CheckExport(t, "pcarecon", cfg, 32, 1e-4)
	}
}

func TestExportRefusesTopK(t *testing.T) {
	d, err := New([]byte(`{"size":32,"patch":6,"stride":3,"components":8,"score":"topk"}`))
	if err != nil {
		t.Fatal(err)
	}
	d.scales = []scaleModel{{factor: 1}}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "topk") {
		t.Fatalf("err = %v, want a refusal of score topk", err)
	}
}
