// Package label labels the connected components of a binary pixel grid. It
// is the one labeller shared by metrics (PRO regions) and postprocess
// (component filtering), so both agree on what a component is.
package label

// Components labels the connected components of a w×h grid in place.
//
// On entry labels[i] < 0 marks a foreground pixel and 0 a background pixel
// (callers decide what foreground means, typically imageio.IsDefect). On
// return every foreground pixel holds its component number 1..n, numbered
// in raster order of each component's first pixel, and background stays 0.
// eight selects 8-connectivity (edges and corners), otherwise 4 (edges
// only). areas is reused and returned with n entries: areas[l-1] is the
// pixel count of label l. queue must hold at least w·h entries; it is the
// breadth-first flood-fill queue, passed in so callers can reuse it across
// images. Time O(w·h).
func Components(labels []int32, w, h int, eight bool, queue []int32, areas []int) (n int, out []int) {
	areas = areas[:0]
	var lab int32
	for start := range labels[:w*h] {
		if labels[start] >= 0 {
			continue
		}
		lab++
		labels[start] = lab
		queue[0] = int32(start)
		head, tail := 0, 1
		visit := func(j int) {
			if labels[j] < 0 {
				labels[j] = lab
				queue[tail] = int32(j)
				tail++
			}
		}
		for head < tail {
			i := int(queue[head])
			head++
			y, x := i/w, i%w
			if y > 0 {
				visit(i - w)
				if eight && x > 0 {
					visit(i - w - 1)
				}
				if eight && x < w-1 {
					visit(i - w + 1)
				}
			}
			if y < h-1 {
				visit(i + w)
				if eight && x > 0 {
					visit(i + w - 1)
				}
				if eight && x < w-1 {
					visit(i + w + 1)
				}
			}
			if x > 0 {
				visit(i - 1)
			}
			if x < w-1 {
				visit(i + 1)
			}
		}
		areas = append(areas, tail)
	}
	return int(lab), areas
}
