// Package stats holds the statistical building blocks the detectors share:
// streamed first and second moments, PCA with a fixed sign convention,
// seeded k-means, the multivariate Gaussian held as an inverse Cholesky
// factor (Mahalanobis distance, log density), greedy k-center coreset
// selection, Gaussian mixtures fitted by EM, and the Dirichlet fitted by
// Minka's fixed point.
//
// Data are row-major float32 matrices (n rows of d values), as the
// feature extractors produce them; accumulations run in float64. Where a
// result has a natural size, functions take an explicit destination (nil
// or too short: allocated) so hot loops need not allocate.
package stats

// grow returns dst resliced to n, or a new slice when it is too short.
func grow[T any](dst []T, n int) []T {
	if cap(dst) < n {
		return make([]T, n)
	}
	return dst[:n]
}
