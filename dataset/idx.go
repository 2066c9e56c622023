package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vigil-ad/vigil/imageio"
)

// maxIDXBytes bounds the payload an IDX header may declare, so a corrupt
// header cannot make the reader grow without limit.
const maxIDXBytes = 1 << 32

// readIDX reads an unsigned-byte IDX file (raw or gzip-compressed, detected
// by the gzip magic 0x1f8b) with ndims dimensions and returns the
// dimensions and the payload.
func readIDX(path string, ndims int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %s: bad gzip data: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	hdr := make([]byte, 4+4*ndims)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: truncated IDX header: %w", path, err)
	}
	want := uint32(0x0800 | ndims)
	if magic := binary.BigEndian.Uint32(hdr); magic != want {
		return nil, nil, fmt.Errorf("dataset: %s: IDX magic is 0x%08x, want 0x%08x (unsigned bytes, %d dimensions)", path, magic, want, ndims)
	}
	dims := make([]int, ndims)
	total := int64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4+4*i:])
		if d == 0 || d > 1<<30 {
			return nil, nil, fmt.Errorf("dataset: %s: bad IDX dimension %d = %d", path, i, d)
		}
		dims[i] = int(d)
		total *= int64(d)
		if total > maxIDXBytes {
			return nil, nil, fmt.Errorf("dataset: %s: IDX header declares more than %d bytes", path, int64(maxIDXBytes))
		}
	}
	// read at most one byte more than declared: it tells trailing data from
	// an exact fit, and memory only grows as real data arrives
	data, err := io.ReadAll(io.LimitReader(r, total+1))
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if int64(len(data)) < total {
		return nil, nil, fmt.Errorf("dataset: %s: truncated: header declares %d data bytes, file has %d", path, total, len(data))
	}
	if int64(len(data)) > total {
		return nil, nil, fmt.Errorf("dataset: %s: more data than its header declares (%d bytes)", path, total)
	}
	return dims, data, nil
}

// findIDX returns dir/base or dir/base.gz, whichever exists.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("dataset: %w", err)
		}
	}
	return "", fmt.Errorf("dataset: missing %s (or %s.gz) in %s", base, base, dir)
}

// idxSplit is one images+labels pair.
type idxSplit struct {
	imgPath    string
	n, h, w    int
	pix        []byte
	labels     []byte
	labelsPath string
}

func readIDXSplit(dir, prefix string) (*idxSplit, error) {
	ip, err := findIDX(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lp, err := findIDX(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	dims, pix, err := readIDX(ip, 3)
	if err != nil {
		return nil, err
	}
	ldims, labels, err := readIDX(lp, 1)
	if err != nil {
		return nil, err
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("dataset: %s has %d images but %s has %d labels", ip, dims[0], lp, ldims[0])
	}
	return &idxSplit{imgPath: ip, n: dims[0], h: dims[1], w: dims[2], pix: pix, labels: labels, labelsPath: lp}, nil
}

// sample converts image i to a Sample; slab provides the float storage.
func (s *idxSplit) sample(i int, slab []float32, label int, defect string) Sample {
	hw := s.h * s.w
	img := &imageio.Image{C: 1, H: s.h, W: s.w, Pix: slab[:hw:hw]}
	for k, v := range s.pix[i*hw : (i+1)*hw] {
		img.Pix[k] = float32(v) / 255
	}
	return Sample{
		Path:   fmt.Sprintf("%s#%d", s.imgPath, i),
		Name:   fmt.Sprintf("%s/%05d", defect, i),
		Label:  label,
		Defect: defect,
		Image:  img,
	}
}

// LoadIDX reads an MNIST-style IDX dataset; it is Load with
// Source{Layout: "idx", IDX: dir, NormalClass: normalClass,
// NormalClassSet: true}.
func LoadIDX(dir string, normalClass int, opt Options) (*Dataset, error) {
	return Load(Source{Layout: LayoutIDX, IDX: dir, NormalClass: normalClass, NormalClassSet: true}, opt)
}

// loadIDX reads train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or
// gzip-compressed, optionally with a .gz suffix) under the one-class
// protocol: Train holds the training images of normalClass (less the Val
// split carved by opt), Test holds the whole test split with Label 0 and
// Defect "good" for normalClass and Label 1 and Defect "class<N>" for
// every other class N. Images are 1-channel, in memory; there are no
// masks. A sample's Path is "<images file>#<index>" and its Name
// "<defect>/<index>" with the index zero-padded to 5 digits.
func loadIDX(dir string, normalClass int, opt Options) (*Dataset, error) {
	if normalClass < 0 || normalClass > 255 {
		return nil, fmt.Errorf("dataset: normal class %d out of range 0..255", normalClass)
	}
	if err := requireDir(dir, "IDX dataset"); err != nil {
		return nil, err
	}
	tr, err := readIDXSplit(dir, "train")
	if err != nil {
		return nil, err
	}
	te, err := readIDXSplit(dir, "t10k")
	if err != nil {
		return nil, err
	}
	if te.h != tr.h || te.w != tr.w {
		return nil, fmt.Errorf("dataset: %s images are %dx%d but %s images are %dx%d", tr.imgPath, tr.w, tr.h, te.imgPath, te.w, te.h)
	}
	hw := tr.h * tr.w
	var normalIdx []int
	for i, l := range tr.labels {
		if int(l) == normalClass {
			normalIdx = append(normalIdx, i)
		}
	}
	if len(normalIdx) == 0 {
		return nil, fmt.Errorf("dataset: %s has no images of class %d", tr.labelsPath, normalClass)
	}
	// one allocation per split instead of one per image; a skipped split
	// is not converted (its samples are dropped after the split)
	normals := make([]Sample, len(normalIdx))
	if !opt.SkipTrain {
		slab := make([]float32, len(normalIdx)*hw)
		for k, i := range normalIdx {
			normals[k] = tr.sample(i, slab[k*hw:], 0, "good")
		}
	}
	ds := &Dataset{Name: fmt.Sprintf("%s-class%d", filepath.Base(filepath.Clean(dir)), normalClass), Layout: LayoutIDX, Split: opt.splitInfo(0)}
	ds.Split.NormalClass = &normalClass
	if ds.Train, ds.Val, err = splitVal(normals, opt, tr.imgPath); err != nil {
		return nil, err
	}
	if opt.SkipTest {
		return finished(ds, opt)
	}
	slab := make([]float32, te.n*hw)
	ds.Test = make([]Sample, te.n)
	for i, l := range te.labels {
		if int(l) == normalClass {
			ds.Test[i] = te.sample(i, slab[i*hw:], 0, "good")
		} else {
			ds.Test[i] = te.sample(i, slab[i*hw:], 1, fmt.Sprintf("class%d", l))
		}
	}
	return finished(ds, opt)
}
