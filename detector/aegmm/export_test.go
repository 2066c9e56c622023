package aegmm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
)

// exportConfig is a tiny, briefly trained autoencoder (the comparison
// needs a fitted model, not a good one).
const exportConfig = `"width":4,"depth":0,"stride":4,"latent":3,"components":3,"smooth":1.5,
	"train":{"epochs":1,"steps_per_epoch":6,"patch":16,"batch_size":4,"val_fraction":0}`

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares score and map with Score: colour with each location's own
// code, and gray with 3x3 pooled codes and a stride that does not divide
// the size (a partial last cell, cropped).
func TestExportMatchesScore(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		size      int
	}{
		{"colour", `{"size":32,` + exportConfig + `}`, 32},
		{"gray pool 3 size 34", `{"size":34,"gray":true,"pool":3,` + exportConfig + `}`, 34},
	} {
		t.Run(c.name, func(t *testing.T) {
			detectortest.CheckExport(t, Name, c.cfg, c.size, 1e-4)
		})
	}
}

// TestExportRefusesTopK: unfitted, then fitted with score topk, the
// export is refused by name.
func TestExportRefusesTopK(t *testing.T) {
	d, err := New(json.RawMessage(`{"size":32,"score":"topk",` + exportConfig + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Fatalf("unfitted: %v", err)
	}
	imgs := []*imageio.Image{detectortest.Texture(1, 32, 32), detectortest.Texture(2, 32, 32)}
	if err := d.Fit(context.Background(), imgs); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "topk") {
		t.Fatalf("err = %v, want a refusal of score topk", err)
	}
}
