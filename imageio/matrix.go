package imageio

// ResizeMatrix returns the out×in matrix (row-major) of the 1-D filter
// that Resize and ResizeMap apply along an axis of in samples resized to
// out: ResizeMap(m, h, w) equals R_h · m · R_wᵀ. Exporters write maps'
// resampling as matrix products with it.
func ResizeMatrix(in, out int) []float32 {
	m := make([]float32, out*in)
	if in == out {
		for i := 0; i < in; i++ {
			m[i*in+i] = 1
		}
		return m
	}
	for o, ts := range filterTaps(in, out) {
		for _, t := range ts {
			m[o*in+t.idx] += t.w
		}
	}
	return m
}

// GaussianMatrix returns the n×n matrix (row-major, float64) of the 1-D
// pass of GaussianSmooth along an axis of n samples, reflect border
// included: GaussianSmooth(m, sigma) equals G_h · m · G_wᵀ.
func GaussianMatrix(n int, sigma float64) []float64 {
	k := GaussianKernel(sigma)
	r := len(k) / 2
	m := make([]float64, n*n)
	for y := 0; y < n; y++ {
		for j := -r; j <= r; j++ {
			m[y*n+Reflect(y+j, n)] += float64(k[r+j])
		}
	}
	return m
}
