package riad

import (
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares score and map with Score: colour with batch norm and three tile
// sides (one not dividing the size), and gray without batch norm,
// unsmoothed.
func TestExportMatchesScore(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{
		{"colour batch norm", `{"size":32,"ks":[2,4,6],"masks":3,"width":4,"depth":2,"smooth":1,
			"train":{"epochs":1,"steps_per_epoch":3,"batch_size":2,"patch":16,"val_fraction":0}}`},
		{"gray", `{"size":32,"gray":true,"ks":[8],"masks":2,"width":2,"depth":1,"batch_norm":false,"smooth":0,
			"train":{"epochs":1,"steps_per_epoch":3,"batch_size":2,"patch":16,"val_fraction":0}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			detectortest.CheckExport(t, Name, c.cfg, 32, 1e-4)
		})
	}
}

func TestExportUnfitted(t *testing.T) {
	d, err := New([]byte(small))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Fatalf("err = %v, want a refusal of an unfitted model", err)
	}
}
