package report

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-ad/vigil/decision"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/pipeline"
)

// The evaluation adapter draws rows in the background but the page lists
// them in input order, with the model's colour scale, and a failed image
// as an error row.
func TestEvalReportAdapter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rep")
	pt, low := 0.5, 0.1
	m := &pipeline.Model{Calib: decision.Calibration{Threshold: 2, Alpha: 0.05, Method: "conformal", PixelThreshold: &pt, MapLow: &low}}
	r, err := NewEvalReport(dir, "t", m)
	if err != nil {
		t.Fatal(err)
	}
	res := &pipeline.EvalResult{Method: "x", Threshold: 2, Rule: "conformal", TargetFPR: 0.05}
	for i := range 12 {
		img := imageio.New(1, 20, 30)
		mp := imageio.NewMap(20, 30)
		mp.Pix[i] = 1
		ir := &pipeline.ImageResult{Index: i, Name: string(rune('a' + i)), Defect: "good", Image: img, Map: mp, Score: float64(i)}
		row := pipeline.Row{Name: ir.Name, Defect: "good", Score: float64(i), Verdict: "normal"}
		if i == 7 {
			ir.Err, ir.Image, ir.Map = errors.New("broken"), nil, nil
			row.Error, row.Verdict = "broken", "error"
		}
		if err := r.OnImage(ir); err != nil {
			t.Fatal(err)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := r.Finish(res); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSummary(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 12 || s.MapRangeSource != "calibration" || float64(s.MapRange[1]) != 2*pt-low {
		t.Fatalf("%d rows, map range %v from %q", len(s.Rows), s.MapRange, s.MapRangeSource)
	}
	for i, row := range s.Rows {
		if row.Name != string(rune('a'+i)) {
			t.Fatalf("row %d is %q: not in input order", i, row.Name)
		}
		if (i == 7) != (row.Error != "") {
			t.Fatalf("row %d error %q", i, row.Error)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
}
