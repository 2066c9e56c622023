package postprocess

import "github.com/vigil-ad/vigil/imageio"

// Binarize returns 1 where m >= threshold (compared in float64) and 0
// elsewhere, NaN included.
func Binarize(m *imageio.Map, threshold float64) *imageio.Map {
	out := imageio.NewMap(m.H, m.W)
	for i, v := range m.Pix {
		if float64(v) >= threshold {
			out.Pix[i] = 1
		}
	}
	return out
}

// Dilate is binary dilation by the (2·radius+1)² square: a pixel becomes
// foreground when any pixel of its square is. Pixels outside the map are
// ignored (neither foreground nor background), so the border neither grows
// nor erodes anything. radius <= 0 returns the binarised copy.
func Dilate(m *imageio.Map, radius int) *imageio.Map { return morph(m, radius, false, true) }

// Erode is binary erosion by the (2·radius+1)² square: a pixel stays
// foreground only when every in-map pixel of its square is foreground
// (pixels outside the map are ignored, so a full map stays full).
// radius <= 0 returns the binarised copy.
func Erode(m *imageio.Map, radius int) *imageio.Map { return morph(m, radius, true, true) }

// Open is erosion then dilation: removes foreground specks and bridges
// thinner than the square while keeping larger shapes.
func Open(m *imageio.Map, radius int) *imageio.Map { return Dilate(Erode(m, radius), radius) }

// Close is dilation then erosion: fills holes and gaps smaller than the
// square. It is computed as on an unbounded plane with background outside
// the map (pad by radius, dilate, erode, crop), so shapes near the border
// do not grow into it, and every foreground pixel stays foreground.
func Close(m *imageio.Map, radius int) *imageio.Map {
	if radius <= 0 {
		return morph(m, 0, false, true)
	}
	h, w := m.H, m.W
	p := imageio.NewMap(h+2*radius, w+2*radius)
	for y := 0; y < h; y++ {
		copy(p.Pix[(y+radius)*p.W+radius:], m.Pix[y*w:(y+1)*w])
	}
	// Pixels beyond the padded map are farther than radius from the image,
	// so their dilated value is background: the erosion uses full windows.
	e := morph(morph(p, radius, false, true), radius, true, false)
	out := imageio.NewMap(h, w)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w:(y+1)*w], e.Pix[(y+radius)*p.W+radius:])
	}
	return out
}

// morph runs the separable square erosion/dilation. A square window
// clipped to the map is a product of two intervals, so the min (max) over
// it is a row pass then a column pass; each pass keeps a sliding count of
// foreground pixels, so the cost is O(H·W) for any radius.
//
// With clip, a window is clipped to the map (outside pixels ignored);
// without it, outside pixels count as background, so erosion near the
// border needs the full (2r+1) run inside the map.
func morph(m *imageio.Map, radius int, erode, clip bool) *imageio.Map {
	h, w := m.H, m.W
	out := imageio.NewMap(h, w)
	if radius <= 0 {
		for i, v := range m.Pix {
			if imageio.IsDefect(v) {
				out.Pix[i] = 1
			}
		}
		return out
	}
	// keep decides from a window's foreground count and its size.
	full := 2*radius + 1
	keep := func(cnt, size int) bool {
		if !clip {
			size = full
		}
		if erode {
			return cnt == size
		}
		return cnt > 0
	}
	tmp := imageio.NewMap(h, w)
	for y := 0; y < h; y++ {
		row := m.Pix[y*w : (y+1)*w]
		dst := tmp.Pix[y*w : (y+1)*w]
		cnt := 0
		// Window of x is [x−r, x+r] ∩ [0, w).
		for x := 0; x < min(radius, w); x++ {
			if imageio.IsDefect(row[x]) {
				cnt++
			}
		}
		for x := 0; x < w; x++ {
			if a := x + radius; a < w && imageio.IsDefect(row[a]) {
				cnt++
			}
			if d := x - radius - 1; d >= 0 && imageio.IsDefect(row[d]) {
				cnt--
			}
			if keep(cnt, min(w-1, x+radius)-max(0, x-radius)+1) {
				dst[x] = 1
			}
		}
	}
	cnt := make([]int32, w)
	for y := 0; y < min(radius, h); y++ {
		for x, v := range tmp.Pix[y*w : (y+1)*w] {
			cnt[x] += int32(v)
		}
	}
	for y := 0; y < h; y++ {
		if a := y + radius; a < h {
			for x, v := range tmp.Pix[a*w : (a+1)*w] {
				cnt[x] += int32(v)
			}
		}
		if d := y - radius - 1; d >= 0 {
			for x, v := range tmp.Pix[d*w : (d+1)*w] {
				cnt[x] -= int32(v)
			}
		}
		size := min(h-1, y+radius) - max(0, y-radius) + 1
		dst := out.Pix[y*w : (y+1)*w]
		for x, c := range cnt {
			if keep(int(c), size) {
				dst[x] = 1
			}
		}
	}
	return out
}
