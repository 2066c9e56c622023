// Package loco holds the one rule of the MVTec LOCO AD evaluation that
// both the dataset loader (which reads defects_config.json) and the sPRO
// metric depend on: a region's saturation area.
package loco

import "math"

// Saturation returns the saturation area, in pixels, of a ground-truth
// region of area pixels whose defect type has the given
// saturation_threshold, exactly as the LOCO evaluation code computes it:
// int(threshold·area) — truncated, not capped — when relative, and
// min(threshold, area) otherwise. Where that would be below one pixel
// (LOCO's sPRO then divides by zero) it is 1.
func Saturation(area int, threshold float64, relative bool) float64 {
	s := min(threshold, float64(area))
	if relative {
		s = math.Trunc(threshold * float64(area))
	}
	return max(1, s)
}
