package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
)

// header is what an image file's header tells without decoding pixels.
type header struct {
	w, h, c int
}

// readHeader reads the header of the image file at path: its size (refused
// above the pixel limit, as imageio does before decoding) and its channel
// count under imageio's conventions (1 for gray, 3 otherwise).
func readHeader(path string, maxPixels int) (hd header, err error) {
	// third-party decoders have panicked on hostile input; a bad file must
	// give an error naming it
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dataset: %s: corrupt image header (decoder panic: %v)", path, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return hd, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(26)
	pngGrayAlpha := len(head) > 25 && string(head[1:4]) == "PNG" && string(head[12:16]) == "IHDR" && head[25] == 4
	cfg, format, err := image.DecodeConfig(br)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return hd, fmt.Errorf("dataset: %s: unknown or unsupported image format", path)
		}
		return hd, fmt.Errorf("dataset: %s: bad image header: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return hd, fmt.Errorf("dataset: %s: %s image has zero size (%dx%d)", path, format, cfg.Width, cfg.Height)
	}
	limit := int64(maxPixels)
	if limit <= 0 {
		limit = imageio.DefaultMaxPixels
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > limit {
		return hd, fmt.Errorf("dataset: %s: %dx%d image has %d pixels, more than the limit of %d", path, cfg.Width, cfg.Height, n, limit)
	}
	return header{w: cfg.Width, h: cfg.Height, c: channelsOf(cfg.ColorModel, pngGrayAlpha)}, nil
}

// channelsOf gives the channel count imageio.Load produces for a colour
// model (see imageio.Load).
func channelsOf(m color.Model, grayAlpha bool) int {
	if grayAlpha {
		return 1
	}
	switch m {
	case color.GrayModel, color.Gray16Model, color.AlphaModel, color.Alpha16Model:
		return 1
	}
	if pal, ok := m.(color.Palette); ok {
		for _, c := range pal {
			r, g, b, _ := color.NRGBA64Model.Convert(c).RGBA()
			if r != g || g != b {
				return 3
			}
		}
		return 1
	}
	return 3
}

// finish completes a listed dataset: it drops the skipped splits, reads
// the headers of every remaining image and mask (enforcing the pixel limit
// and mask sizes early, without decoding), sets HasMasks, NoMask and the
// zero masks of normal test samples, and adds the data warnings.
func finish(ds *Dataset, opt Options) error {
	opt.dropSkipped(ds)
	var files []*Sample // in-memory samples have no header to read
	for _, split := range [][]Sample{ds.Train, ds.Val, ds.Test} {
		for i := range split {
			if split[i].Image == nil {
				files = append(files, &split[i])
			}
		}
	}
	err := parallelDo(len(files), func(i int) error {
		s := files[i]
		hd, err := readHeader(s.Path, opt.MaxPixels)
		if err != nil {
			return err
		}
		s.w, s.h, s.c = hd.w, hd.h, hd.c
		for _, mp := range s.MaskPaths {
			mh, err := readHeader(mp, opt.MaxPixels)
			if err != nil {
				return err
			}
			if mh.w != hd.w || mh.h != hd.h {
				return fmt.Errorf("dataset: mask %s is %dx%d but its image %s is %dx%d", mp, mh.w, mh.h, s.Path, hd.w, hd.h)
			}
		}
		if s.rle != nil {
			if err := s.rle.check(hd.h, hd.w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	finishMasks(ds)
	ds.Warnings = append(ds.Warnings, imageWarnings("train", append(append([]Sample(nil), ds.Train...), ds.Val...))...)
	ds.Warnings = append(ds.Warnings, imageWarnings("test", ds.Test)...)
	if len(ds.NoMask) > 0 {
		ds.Warnings = append(ds.Warnings, fmt.Sprintf("test: %d of %d anomalous images have no mask (%s); pixel metrics are undefined",
			len(ds.NoMask), countAnomalous(ds.Test), listSome(ds.NoMask, 5)))
	}
	return nil
}

func countAnomalous(ss []Sample) int {
	n := 0
	for _, s := range ss {
		n += s.Label
	}
	return n
}

// finishMasks sets HasMasks when every anomalous test sample has a mask
// and then gives the normal test samples an all-zero mask; with only some
// masked it lists the others in NoMask.
func finishMasks(ds *Dataset) {
	anomalous := 0
	var missing []string
	for i := range ds.Test {
		s := &ds.Test[i]
		s.zeroMask = false
		if s.Label == 1 {
			anomalous++
			if !s.HasMask() {
				missing = append(missing, s.Name)
			}
		}
	}
	ds.HasMasks = anomalous > 0 && len(missing) == 0
	ds.NoMask = nil
	if len(missing) < anomalous {
		ds.NoMask = missing
	}
	if !ds.HasMasks {
		return
	}
	for i := range ds.Test {
		if s := &ds.Test[i]; s.Label == 0 && !s.HasMask() {
			s.zeroMask = true
		}
	}
}

// imageWarnings describes mixed channel counts and mixed sizes among the
// file-backed samples of one split.
func imageWarnings(split string, ss []Sample) []string {
	gray, colour := 0, 0
	sizes := map[[2]int]int{}
	for _, s := range ss {
		if s.c == 0 {
			continue
		}
		if s.c == 1 {
			gray++
		} else {
			colour++
		}
		sizes[[2]int{s.w, s.h}]++
	}
	var out []string
	if gray > 0 && colour > 0 {
		out = append(out, fmt.Sprintf("%s: %d gray and %d colour images", split, gray, colour))
	}
	if len(sizes) > 1 {
		type sz struct{ w, h, n int }
		var l []sz
		for k, n := range sizes {
			l = append(l, sz{k[0], k[1], n})
		}
		// most frequent first, then by size, so the text is deterministic
		sort.Slice(l, func(a, b int) bool {
			if l[a].n != l[b].n {
				return l[a].n > l[b].n
			}
			if l[a].w != l[b].w {
				return l[a].w < l[b].w
			}
			return l[a].h < l[b].h
		})
		parts := make([]string, len(l))
		for i, s := range l {
			parts[i] = fmt.Sprintf("%dx%d (%d)", s.w, s.h, s.n)
		}
		out = append(out, fmt.Sprintf("%s: sizes vary: %s", split, strings.Join(parts, ", ")))
	}
	return out
}

// listSome joins up to n names, saying how many more there are.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// orphanWarnings names each mask file (relative to root) whose image is
// missing; used maps mask paths that were matched to an image.
func orphanWarnings(root string, maskFiles []string, used map[string]bool) []string {
	const most = 10 // one line each for a few, a count for the rest
	var out []string
	more := 0
	for _, p := range maskFiles {
		if used[p] {
			continue
		}
		if len(out) == most {
			more++
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = p
		}
		out = append(out, filepath.ToSlash(rel)+" has no image")
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("%d more mask files have no image", more))
	}
	return out
}

// finished runs finish and returns the dataset, or nil and the error.
func finished(ds *Dataset, opt Options) (*Dataset, error) {
	if err := finish(ds, opt); err != nil {
		return nil, err
	}
	return ds, nil
}
