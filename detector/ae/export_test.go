package ae

import (
	"context"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/imageio"
)

// exportConfig is a tiny, briefly trained network on 32-pixel images
// (fast; the comparison does not need a good model, only a fitted one).
const exportConfig = `"width":4,"depth":1,"stride":4,"latent":3,"smooth":1.5,
	"train":{"epochs":1,"steps_per_epoch":6,"patch":16,"batch_size":4,"val_fraction":0}`

// TestExportMatchesScore runs the exported graph with Vigil's executor and
// compares score and map with Score: colour, gray, a weighted l2, ssim
// with l2, msgms
// alone and in a weighted sum with l2, l2 of the blurred residual, a
// stride that does not divide the size (the bottom/right padding is
// wider than the margin) and no smoothing.
func TestExportMatchesScore(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{
		{"colour", `{"size":32,` + exportConfig + `}`},
		{"gray weighted", `{"size":32,"gray":true,"loss":"2*l2",` + exportConfig + `}`},
		{"msgms", `{"size":32,"loss":"msgms",` + exportConfig + `}`},
		{"l2 blur 1.5", `{"size":32,"blur":1.5,` + exportConfig + `}`},
		{"ssim+0.5*l2", `{"size":32,"loss":"ssim+0.5*l2",` + exportConfig + `}`},
		{"gray l2+0.5*msgms", `{"size":32,"gray":true,"loss":"l2+0.5*msgms",` + exportConfig + `}`},
		{"stride 8 size 36 unsmoothed", `{"size":36,"width":4,"depth":0,"stride":8,"latent":2,"smooth":0,
			"train":{"epochs":1,"steps_per_epoch":6,"patch":16,"batch_size":4,"val_fraction":0}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			size := 32
			if strings.Contains(c.cfg, `"size":36`) {
				size = 36
			}
			detectortest.CheckExport(t, Name, c.cfg, size, 1e-4)
		})
	}
}

// TestExportRefusals: an unfitted model, and after a brief fit every
// setting the graph does not express, are refused by name.
func TestExportRefusals(t *testing.T) {
	imgs := []*imageio.Image{detectortest.Texture(1, 32, 32), detectortest.Texture(2, 32, 32)}
	for _, c := range []struct{ cfg, want string }{
		{`{"size":32,"score":"topk",` + exportConfig + `}`, "topk"},
		{`{"size":32,"loss":"cwssim",` + exportConfig + `}`, "cwssim"},
		{`{"size":32,"loss":"l2+0.5*msssim",` + exportConfig + `}`, "msssim"},
		{`{"size":0,` + exportConfig + `}`, "size 0"},
		{`{"size":16,"stride":8,"width":2,"depth":0,"latent":2,"train":{"epochs":1,"steps_per_epoch":1,"patch":16,"batch_size":2,"val_fraction":0}}`, "too small"},
	} {
		d, err := New([]byte(c.cfg))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), "not fitted") {
			t.Fatalf("%s: unfitted export: %v", c.cfg, err)
		}
		if err := d.Fit(context.Background(), imgs); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExportONNX(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a refusal naming %q", c.cfg, err, c.want)
		}
	}
}
