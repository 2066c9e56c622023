package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

// SetOptions says how NewSet prepares images.
type SetOptions struct {
	// Channels converts every image to 1 (gray) or 3 (RGB) channels; 0
	// keeps them as decoded, and then all must have the same count.
	Channels int
	// Width and Height resize every image; 0,0 keeps each image's size.
	Width, Height int
	// Labels, if not nil, holds one integer label per image (e.g. a class
	// for self-supervised or outlier-exposure tasks).
	Labels []int
}

// Set holds training images decoded once, as float32 [C,H,W] planes with
// values as imageio gives them ([0,1]). Sets made by Split share the
// images of their parent; nothing ever writes to them.
type Set struct {
	imgs   []*imageio.Image
	labels []int // nil if none
	src    []int // index of each image in the list given to NewSet
	c      int
}

// NewSet converts and resizes imgs as o says and checks them: every
// pixel finite, one channel count. Images that need no conversion are
// kept by reference, not copied.
func NewSet(imgs []*imageio.Image, o SetOptions) (*Set, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("train set: no images")
	}
	if o.Channels != 0 && o.Channels != 1 && o.Channels != 3 {
		return nil, fmt.Errorf("train set: channels must be 0, 1 or 3, got %d", o.Channels)
	}
	if o.Width < 0 || o.Height < 0 || (o.Width == 0) != (o.Height == 0) {
		return nil, fmt.Errorf("train set: width and height must both be positive or both 0, got %dx%d", o.Width, o.Height)
	}
	if o.Labels != nil && len(o.Labels) != len(imgs) {
		return nil, fmt.Errorf("train set: %d labels for %d images", len(o.Labels), len(imgs))
	}
	s := &Set{imgs: make([]*imageio.Image, len(imgs)), src: make([]int, len(imgs))}
	if o.Labels != nil {
		s.labels = slices.Clone(o.Labels)
	}
	for i, img := range imgs {
		if img == nil || img.C < 1 || img.H < 1 || img.W < 1 || len(img.Pix) != img.C*img.H*img.W {
			return nil, fmt.Errorf("train set: image %d is empty or malformed", i)
		}
		var err error
		switch {
		case o.Channels == 1 && img.C != 1:
			img, err = imageio.ToGray(img)
		case o.Channels == 3 && img.C != 3:
			img, err = imageio.ToRGB(img)
		}
		if err != nil {
			return nil, fmt.Errorf("train set: image %d: %w", i, err)
		}
		if o.Width > 0 && (img.W != o.Width || img.H != o.Height) {
			img = imageio.Resize(img, o.Height, o.Width)
		}
		if i == 0 {
			s.c = img.C
		} else if img.C != s.c {
			return nil, fmt.Errorf("train set: image %d has %d channels, image 0 has %d (set SetOptions.Channels)", i, img.C, s.c)
		}
		for j, v := range img.Pix {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				c, y, x := j/(img.H*img.W), j/img.W%img.H, j%img.W
				return nil, fmt.Errorf("train set: image %d has a non-finite value %v at channel %d, y %d, x %d", i, v, c, y, x)
			}
		}
		s.imgs[i], s.src[i] = img, i
	}
	return s, nil
}

// Len returns the number of images.
func (s *Set) Len() int { return len(s.imgs) }

// Channels returns the channel count shared by all images.
func (s *Set) Channels() int { return s.c }

// Source returns the index, in the list given to NewSet, of image i.
func (s *Set) Source(i int) int { return s.src[i] }

// Label returns image i's label; it panics if the set has none.
func (s *Set) Label(i int) int { return s.labels[i] }

// Size returns image i's height and width.
func (s *Set) Size(i int) (h, w int) { return s.imgs[i].H, s.imgs[i].W }

// Image returns image i as a [1,C,H,W] tensor sharing the set's memory:
// read it, do not write it.
func (s *Set) Image(i int) *tensor.Tensor {
	m := s.imgs[i]
	return tensor.From(m.Pix, 1, m.C, m.H, m.W)
}

// sameSize returns the common image size, or ok false if sizes differ.
func (s *Set) sameSize() (h, w int, ok bool) {
	h, w = s.imgs[0].H, s.imgs[0].W
	for _, m := range s.imgs[1:] {
		if m.H != h || m.W != w {
			return h, w, false
		}
	}
	return h, w, true
}

// minSize returns the smallest height and width over the images.
func (s *Set) minSize() (h, w int) {
	h, w = s.imgs[0].H, s.imgs[0].W
	for _, m := range s.imgs[1:] {
		h, w = min(h, m.H), min(w, m.W)
	}
	return h, w
}

// Split holds out round(valFraction·Len) images, chosen by a permutation
// seeded with seed, as val; the rest is train. Both keep the parent's
// order. A positive fraction holds out at least one image and leaves at
// least one for training; val is nil when nothing is held out.
func (s *Set) Split(valFraction float64, seed uint64) (train, val *Set) {
	n := len(s.imgs)
	nv := int(math.Round(valFraction * float64(n)))
	if valFraction > 0 {
		nv = max(nv, 1)
	}
	nv = min(nv, n-1)
	if nv <= 0 {
		return s, nil
	}
	rng := rand.New(rand.NewPCG(seed, splitStream))
	isVal := make([]bool, n)
	for _, i := range rng.Perm(n)[:nv] {
		isVal[i] = true
	}
	var ti, vi []int
	for i := range n {
		if isVal[i] {
			vi = append(vi, i)
		} else {
			ti = append(ti, i)
		}
	}
	return s.subset(ti), s.subset(vi)
}

func (s *Set) subset(idx []int) *Set {
	out := &Set{c: s.c, imgs: make([]*imageio.Image, len(idx)), src: make([]int, len(idx))}
	if s.labels != nil {
		out.labels = make([]int, len(idx))
	}
	for k, i := range idx {
		out.imgs[k], out.src[k] = s.imgs[i], s.src[i]
		if s.labels != nil {
			out.labels[k] = s.labels[i]
		}
	}
	return out
}

// Batch is one mini-batch of crops.
type Batch struct {
	X      *tensor.Tensor // [N,C,P,P] (P = Patch, or the image size when Patch = 0), augmented
	Labels []int          // per crop, from SetOptions.Labels (nil if none)
	Index  []int          // source image per crop (index into the Set)
	X0, Y0 []int          // crop origin in the source image (before augmentation)
}

// Len returns the number of crops.
func (b *Batch) Len() int { return len(b.Index) }

// reset sizes b for n crops of c×h×w, reusing its memory when it can.
func (b *Batch) reset(n, c, h, w int, labels bool) {
	size := n * c * h * w
	if b.X == nil || cap(b.X.Data) < size {
		b.X = tensor.New(n, c, h, w)
	} else {
		b.X = tensor.From(b.X.Data[:size], n, c, h, w)
	}
	b.Index = resize(b.Index, n)
	b.X0 = resize(b.X0, n)
	b.Y0 = resize(b.Y0, n)
	if labels {
		b.Labels = resize(b.Labels, n)
	} else {
		b.Labels = nil
	}
}

func resize(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// Sample fills dst with n crops of side patch (0: whole images, which
// must then all have one size) from images drawn uniformly at random,
// each at a uniformly random position and augmented by aug. The result
// depends only on the set, the arguments and rng's state. dst's memory is
// reused when large enough. It panics if patch exceeds an image; Fit
// checks that up front.
func (s *Set) Sample(rng *rand.Rand, n, patch int, aug Augment, dst *Batch) {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = rng.IntN(len(s.imgs))
	}
	s.Crops(rng, idx, patch, aug, dst)
}

// Crops fills dst with one crop per entry of idx (an image index), at a
// uniformly random position drawn from rng, augmented by aug. Fit uses it
// with a seeded shuffle of the images, so every epoch visits each image
// equally often.
func (s *Set) Crops(rng *rand.Rand, idx []int, patch int, aug Augment, dst *Batch) {
	ph, pw := patch, patch
	if patch == 0 {
		h, w, ok := s.sameSize()
		if !ok {
			panic("train: whole-image batches (patch 0) need images of one size")
		}
		ph, pw = h, w
	}
	dst.reset(len(idx), s.c, ph, pw, s.labels != nil)
	plane := ph * pw
	for k, i := range idx {
		m := s.imgs[i]
		if ph > m.H || pw > m.W {
			panic(fmt.Sprintf("train: patch %dx%d larger than image %d (%dx%d)", ph, pw, i, m.H, m.W))
		}
		y0, x0 := rng.IntN(m.H-ph+1), rng.IntN(m.W-pw+1)
		out := dst.X.Data[k*s.c*plane : (k+1)*s.c*plane]
		augmentCrop(rng, m, y0, x0, ph, pw, aug, out)
		dst.Index[k], dst.X0[k], dst.Y0[k] = i, x0, y0
		if s.labels != nil {
			dst.Labels[k] = s.labels[i]
		}
	}
}

// tiles returns the crop origins that cover an h×w image with p×p crops:
// a stride-p grid whose last row and column are pulled in to end at the
// edge. p = 0 means the whole image.
func tiles(h, w, p int) (ys, xs []int) {
	if p == 0 {
		return []int{0}, []int{0}
	}
	axis := func(n int) []int {
		var o []int
		for v := 0; v < n; v += p {
			o = append(o, min(v, n-p))
		}
		return o
	}
	return axis(h), axis(w)
}

// tileCount is the number of crops that cover image i.
func (s *Set) tileCount(i, p int) int {
	ys, xs := tiles(s.imgs[i].H, s.imgs[i].W, p)
	return len(ys) * len(xs)
}

// tile is one fixed crop: an image and an origin.
type tile struct{ i, y0, x0 int }

// fillTiles copies fixed, unaugmented crops into dst (validation batches).
func (s *Set) fillTiles(ts []tile, patch int, dst *Batch) {
	ph, pw := patch, patch
	if patch == 0 {
		ph, pw = s.imgs[ts[0].i].H, s.imgs[ts[0].i].W
	}
	dst.reset(len(ts), s.c, ph, pw, s.labels != nil)
	plane := ph * pw
	for k, t := range ts {
		m := s.imgs[t.i]
		copyCrop(m, t.y0, t.x0, ph, pw, dst.X.Data[k*s.c*plane:(k+1)*s.c*plane])
		dst.Index[k], dst.X0[k], dst.Y0[k] = t.i, t.x0, t.y0
		if s.labels != nil {
			dst.Labels[k] = s.labels[t.i]
		}
	}
}

// copyCrop copies the ph×pw window at (y0, x0) of every channel of m to out.
func copyCrop(m *imageio.Image, y0, x0, ph, pw int, out []float32) {
	for c := range m.C {
		for y := range ph {
			row := m.Pix[(c*m.H+y0+y)*m.W+x0:]
			copy(out[(c*ph+y)*pw:(c*ph+y+1)*pw], row[:pw])
		}
	}
}

// Seeds of the PCG streams, so that the split, the per-epoch shuffling and
// augmentation and the fixed validation draws never share a sequence.
const (
	splitStream = 0x5f1a_7c3e_9d2b_4a61
	epochStream = 0x3c6e_f372_fe94_f82b
	valStream   = 0xa54f_f53a_5f1d_36f1
)
