package pipeline

import (
	"context"
	"fmt"

	"github.com/vigil-ad/vigil/detector"
	"github.com/vigil-ad/vigil/imageio"
)

// Tiling scores large images as overlapping tiles: a detector is fitted on
// the tiles of the normal images, each test image is cut the same way, its
// tiles scored, and their maps blended into one map at full resolution
// (weights ramp down linearly across the overlap, so seams do not show);
// the image score is the largest tile score. Thin defects keep their
// pixels instead of being resized away.
//
// Memory per scored image: the decoded image, two float32 planes of its
// size (the blended map and the weights), and one batch of tiles with
// their maps.
type Tiling struct {
	Tile    int `json:"tile"`    // tile side in pixels
	Overlap int `json:"overlap"` // pixels shared by neighbouring tiles
}

func (t Tiling) validate() error {
	if t.Tile < 32 {
		return optErr("tile", "must be at least 32 pixels, got %d", t.Tile)
	}
	if t.Overlap < 0 || t.Overlap >= t.Tile {
		return optErr("overlap", "must be in [0, tile), got %d", t.Overlap)
	}
	return nil
}

// starts are the tile origins along a side of n pixels: every stride
// tile-overlap, the last one flush with the end. A side no longer than a
// tile is one tile of the whole side.
func (t Tiling) starts(n int) []int {
	if n <= t.Tile {
		return []int{0}
	}
	stride := t.Tile - t.Overlap
	var s []int
	for p := 0; p+t.Tile < n; p += stride {
		s = append(s, p)
	}
	return append(s, n-t.Tile)
}

type tileRect struct{ y, x, h, w int }

func (t Tiling) rects(h, w int) []tileRect {
	var out []tileRect
	for _, y := range t.starts(h) {
		for _, x := range t.starts(w) {
			out = append(out, tileRect{y, x, min(t.Tile, h), min(t.Tile, w)})
		}
	}
	return out
}

func cut(img *imageio.Image, r tileRect) *imageio.Image {
	out := imageio.New(img.C, r.h, r.w)
	for c := 0; c < img.C; c++ {
		src, dst := img.Plane(c), out.Plane(c)
		for y := 0; y < r.h; y++ {
			copy(dst[y*r.w:(y+1)*r.w], src[(r.y+y)*img.W+r.x:])
		}
	}
	return out
}

// ramp is the blending weight of position i in a tile of n pixels: 1 in
// the middle, falling linearly to 1/(overlap+1) at the edges.
func ramp(i, n, overlap int) float32 {
	return float32(min(1, float64(i+1)/float64(overlap+1), float64(n-i)/float64(overlap+1)))
}

// tiled wraps a detector to fit and score tiles.
type tiled struct {
	detector.Detector
	t Tiling
}

func (d *tiled) Fit(ctx context.Context, imgs []*imageio.Image) error {
	var tiles []*imageio.Image
	for _, img := range imgs {
		for _, r := range d.t.rects(img.H, img.W) {
			tiles = append(tiles, cut(img, r))
		}
	}
	return d.Detector.Fit(ctx, tiles)
}

func (d *tiled) Score(ctx context.Context, imgs []*imageio.Image) ([]detector.Result, error) {
	out := make([]detector.Result, len(imgs))
	for i, img := range imgs {
		r, err := d.scoreOne(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out[i] = r
	}
	return out, nil
}

func (d *tiled) scoreOne(ctx context.Context, img *imageio.Image) (detector.Result, error) {
	rects := d.t.rects(img.H, img.W)
	var acc, wsum *imageio.Map
	best := 0.0
	for lo := 0; lo < len(rects); lo += DefaultBatch {
		hi := min(lo+DefaultBatch, len(rects))
		tiles := make([]*imageio.Image, 0, hi-lo)
		for _, r := range rects[lo:hi] {
			tiles = append(tiles, cut(img, r))
		}
		res, err := d.Detector.Score(ctx, tiles)
		if err != nil {
			return detector.Result{}, err
		}
		if len(res) != len(tiles) {
			return detector.Result{}, fmt.Errorf("%s returned %d results for %d tiles", d.Method(), len(res), len(tiles))
		}
		for j, tr := range res {
			if lo+j == 0 || tr.Score > best || tr.Score != tr.Score {
				best = tr.Score // NaN propagates: fail closed
			}
			if tr.Map == nil {
				continue
			}
			if acc == nil {
				acc, wsum = imageio.NewMap(img.H, img.W), imageio.NewMap(img.H, img.W)
			}
			r := rects[lo+j]
			for y := 0; y < r.h; y++ {
				wy := ramp(y, r.h, d.t.Overlap)
				for x := 0; x < r.w; x++ {
					w := wy * ramp(x, r.w, d.t.Overlap)
					k := (r.y+y)*img.W + r.x + x
					acc.Pix[k] += w * tr.Map.Pix[y*r.w+x]
					wsum.Pix[k] += w
				}
			}
		}
	}
	if acc != nil {
		for k, w := range wsum.Pix {
			acc.Pix[k] /= w
		}
	}
	return detector.Result{Score: best, Map: acc}, nil
}
