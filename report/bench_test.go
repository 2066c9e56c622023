package report

import (
	"runtime"
	"testing"
)

// BenchmarkWriterAdd measures one 512x512 row (three thumbnails encoded
// to PNG) and reports the heap the writer keeps per row after a GC
// (retained-B/row), which must stay small whatever the image size.
func BenchmarkWriterAdd(b *testing.B) {
	img := flat(3, 512, 512, 0.4)
	m := ramp(512, 512, 0, 2)
	gt := square(512, 512, 100, 100, 80)
	w, err := NewWriter(b.TempDir(), Options{MapRange: [2]float64{0, 2}})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Abort()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Add(Row{Path: "defect/" + string(rune('a'+i%26)) + ".png", Defect: "defect", Image: img, Map: m, Mask: gt, PredMask: gt, Score: 1, Label: 1, Decision: true, PValue: 0.01, Index: i}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// What the writer keeps: the heap with its rows minus without them.
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	w.out.entries, w.out.files = nil, nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/float64(b.N), "retained-B/row")
}

// BenchmarkPredictionAdd measures one full-resolution 512x512 overlay
// with colour bar and mask.
func BenchmarkPredictionAdd(b *testing.B) {
	img := flat(3, 512, 512, 0.4)
	m := ramp(512, 512, 0, 2)
	pm := square(512, 512, 100, 100, 80)
	pw, err := NewPredictionWriter(b.TempDir(), Options{MapRange: [2]float64{0, 2}})
	if err != nil {
		b.Fatal(err)
	}
	defer pw.Abort()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pw.Add(Prediction{Path: "x.png", Image: img, Map: m, PredMask: pm, Score: 1, Decision: true, Index: i}); err != nil {
			b.Fatal(err)
		}
	}
}
