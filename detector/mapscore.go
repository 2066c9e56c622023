package detector

import "slices"

// MapScore reduces an anomaly map to an image score: its maximum (mode
// "max"), or with mode "topk" the mean of its frac·len highest values (at
// least one).
func MapScore(pix []float32, mode string, frac float64) float64 {
	if mode == "topk" {
		k := max(1, int(frac*float64(len(pix))+0.5))
		v := slices.Clone(pix)
		slices.Sort(v)
		var s float64
		for _, x := range v[len(v)-k:] {
			s += float64(x)
		}
		return s / float64(k)
	}
	return float64(slices.Max(pix))
}
