package imageio

import (
	"fmt"
	"runtime"
	"sync"
)

// tap is one input sample contributing to one output sample.
type tap struct {
	idx int
	w   float32
}

// filterTaps returns, for each of the out output samples, the input taps
// of a triangle filter mapping in samples to out. Sample centres are at
// half-pixel positions. When downscaling the triangle is widened by the
// scale factor (an area-like antialiasing filter); when upscaling it has
// radius 1, which is exactly bilinear interpolation. Taps falling outside
// the input are dropped and the rest renormalised (as PIL and torchvision's
// antialiased resize do; for upscaling this equals clamping the sample
// position to the edge, as PyTorch's bilinear interpolation does).
func filterTaps(in, out int) [][]tap {
	scale := float64(in) / float64(out)
	radius := 1.0
	if scale > 1 {
		radius = scale
	}
	res := make([][]tap, out)
	for o := range res {
		centre := (float64(o)+0.5)*scale - 0.5
		lo := int(centre-radius) - 1
		hi := int(centre+radius) + 1
		var ts []tap
		var sum float64
		for i := lo; i <= hi; i++ {
			d := float64(i) - centre
			if d < 0 {
				d = -d
			}
			wt := 1 - d/radius
			if wt <= 0 || i < 0 || i >= in {
				continue
			}
			ts = append(ts, tap{i, float32(wt)})
			sum += wt
		}
		inv := float32(1 / sum)
		for k := range ts {
			ts[k].w *= inv
		}
		res[o] = ts
	}
	return res
}

// parallelRows runs fn over [0,n) split across GOMAXPROCS goroutines when
// the total work (n*cost) is large enough to pay for them.
func parallelRows(n, cost int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < 1<<16 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// resizePlanes resizes c planes of h×w to oh×ow with the separable filter.
func resizePlanes(src []float32, c, h, w, oh, ow int) []float32 {
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("imageio: resize to non-positive size %dx%d", ow, oh))
	}
	if oh == h && ow == w {
		return append([]float32(nil), src...)
	}
	// horizontal pass: (c*h) rows of w -> ow
	tmp := src
	if ow != w {
		tx := filterTaps(w, ow)
		tmp = make([]float32, c*h*ow)
		parallelRows(c*h, ow*4, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				in := src[r*w : (r+1)*w]
				dst := tmp[r*ow : (r+1)*ow]
				for x, ts := range tx {
					var s float32
					for _, t := range ts {
						s += in[t.idx] * t.w
					}
					dst[x] = s
				}
			}
		})
	}
	if oh == h {
		if ow == w {
			return append([]float32(nil), tmp...)
		}
		return tmp
	}
	// vertical pass: per plane, h rows of ow -> oh rows, accumulated row-wise
	// so the inner loop is a contiguous axpy.
	ty := filterTaps(h, oh)
	out := make([]float32, c*oh*ow)
	parallelRows(c*oh, ow*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ch, y := r/oh, r%oh
			dst := out[r*ow : (r+1)*ow]
			plane := tmp[ch*h*ow : (ch+1)*h*ow]
			for _, t := range ty[y] {
				row := plane[t.idx*ow : (t.idx+1)*ow]
				wt := t.w
				for x, v := range row {
					dst[x] += v * wt
				}
			}
		}
	})
	return out
}

// Resize returns img resampled to h×w: antialiased (triangle filter whose
// support grows with the reduction factor) when downscaling, bilinear with
// half-pixel centres when upscaling; each axis is treated independently.
// It panics when h or w is not positive (callers validate sizes).
func Resize(img *Image, h, w int) *Image {
	return &Image{C: img.C, H: h, W: w, Pix: resizePlanes(img.Pix, img.C, img.H, img.W, h, w)}
}

// ResizeMap resamples a map with the same filter as Resize. Resized masks
// become fractional at edges; threshold them if a binary mask is needed.
func ResizeMap(m *Map, h, w int) *Map {
	return &Map{H: h, W: w, Pix: resizePlanes(m.Pix, 1, m.H, m.W, h, w)}
}

// cropOrigin returns the top-left corner of a centred h×w window.
func cropOrigin(ih, iw, h, w int) (int, int, error) {
	if h <= 0 || w <= 0 || h > ih || w > iw {
		return 0, 0, fmt.Errorf("imageio: cannot crop %dx%d out of a %dx%d image", w, h, iw, ih)
	}
	return (ih - h) / 2, (iw - w) / 2, nil
}

// CenterCrop returns the centred h×w window of img (when the margin is odd
// the extra pixel is dropped at the bottom/right). It refuses a window
// larger than the image.
func CenterCrop(img *Image, h, w int) (*Image, error) {
	y0, x0, err := cropOrigin(img.H, img.W, h, w)
	if err != nil {
		return nil, err
	}
	out := New(img.C, h, w)
	for c := 0; c < img.C; c++ {
		for y := 0; y < h; y++ {
			copy(out.Pix[(c*h+y)*w:(c*h+y+1)*w], img.Pix[(c*img.H+y0+y)*img.W+x0:])
		}
	}
	return out, nil
}

// CropMap returns the centred h×w window of m, matching CenterCrop.
func CropMap(m *Map, h, w int) (*Map, error) {
	y0, x0, err := cropOrigin(m.H, m.W, h, w)
	if err != nil {
		return nil, err
	}
	out := NewMap(h, w)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w:(y+1)*w], m.Pix[(y0+y)*m.W+x0:])
	}
	return out, nil
}
