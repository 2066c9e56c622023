// Package postprocess turns anomaly maps into smoothed maps and clean
// binary defect masks: Gaussian smoothing, thresholding, binary
// morphology with a square structuring element, connected components and
// small-component removal. Every operation returns a new map and runs in
// time linear in the pixel count (smoothing: linear in pixels × kernel
// width).
//
// Binary maps use 1 for foreground and 0 for background; inputs to the
// binary operations treat any non-zero value as foreground
// (imageio.IsDefect, the project's one mask cut).
package postprocess
