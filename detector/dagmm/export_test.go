package dagmm

import (
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares score and map with Score: colour standardised patches with a
// stride that pulls the last origin in (32−6 is not a multiple of 4), and
// gray raw patches with overlapping, evenly spaced ones and no smoothing.
func TestExportMatchesScore(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{
		{"colour normalize image", `{"size":32,"patch":6,"stride":4,"hidden":[16],"latent":2,"components":2,"smooth":1,"cov_eps":0.001,
			"train":{"epochs":1,"steps_per_epoch":4,"batch_size":4,"val_fraction":0}}`},
		{"gray raw", `{"size":32,"gray":true,"normalize":"none","patch":4,"stride":2,"hidden":[8,4],"latent":2,"components":3,"smooth":0,"cov_eps":0.001,
			"train":{"epochs":1,"steps_per_epoch":4,"batch_size":4,"val_fraction":0}}`},
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
