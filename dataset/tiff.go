package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/vigil-ad/vigil/imageio"
)

// TIFF tags LoadXYZ reads.
const (
	tagWidth           = 256
	tagHeight          = 257
	tagBitsPerSample   = 258
	tagCompression     = 259
	tagStripOffsets    = 273
	tagSamplesPerPixel = 277
	tagRowsPerStrip    = 278
	tagStripByteCounts = 279
	tagPlanarConfig    = 284
	tagPredictor       = 317
	tagTileWidth       = 322
	tagSampleFormat    = 339
)

// LoadXYZ reads a point cloud stored as a float32 TIFF, as MVTec 3D-AD
// does: an image of SamplesPerPixel channels (3 for x, y, z) whose values
// are coordinates, not [0,1] intensities (0 marks a missing point). Only
// what such files use is read: classic (not Big) TIFF in either byte
// order, uncompressed, 32-bit IEEE float samples in strips, chunky or
// planar; anything else is refused with an error naming the file and the
// feature (golang.org/x/image/tiff decodes no float samples). The size is
// checked against opt.MaxPixels before the data is read.
func LoadXYZ(path string, opt imageio.Options) (*imageio.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	img, err := decodeFloatTIFF(b, opt.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return img, nil
}

// tiffReader reads values of the file's byte order with bounds checks.
type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

func (r tiffReader) u16(off int64) (uint32, error) {
	if off < 0 || off+2 > int64(len(r.b)) {
		return 0, fmt.Errorf("truncated at offset %d", off)
	}
	return uint32(r.bo.Uint16(r.b[off:])), nil
}

func (r tiffReader) u32(off int64) (uint32, error) {
	if off < 0 || off+4 > int64(len(r.b)) {
		return 0, fmt.Errorf("truncated at offset %d", off)
	}
	return r.bo.Uint32(r.b[off:]), nil
}

// values returns the values of an IFD entry of type BYTE, SHORT or LONG.
func (r tiffReader) values(entry int64) ([]uint32, error) {
	tag, _ := r.u16(entry)
	typ, err := r.u16(entry + 2)
	if err != nil {
		return nil, err
	}
	count, err := r.u32(entry + 4)
	if err != nil {
		return nil, err
	}
	size := map[uint32]int64{1: 1, 3: 2, 4: 4}[typ]
	if size == 0 {
		return nil, fmt.Errorf("tag %d has field type %d; want BYTE, SHORT or LONG", tag, typ)
	}
	if int64(count)*size > int64(len(r.b)) {
		return nil, fmt.Errorf("tag %d declares %d values, more than the file holds", tag, count)
	}
	at := entry + 8
	if int64(count)*size > 4 {
		o, _ := r.u32(entry + 8)
		at = int64(o)
	}
	out := make([]uint32, count)
	for i := range out {
		var v uint32
		switch size {
		case 1:
			if at+int64(i) >= int64(len(r.b)) {
				return nil, fmt.Errorf("tag %d: truncated at offset %d", tag, at+int64(i))
			}
			v = uint32(r.b[at+int64(i)])
		case 2:
			v, err = r.u16(at + 2*int64(i))
		default:
			v, err = r.u32(at + 4*int64(i))
		}
		if err != nil {
			return nil, fmt.Errorf("tag %d: %w", tag, err)
		}
		out[i] = v
	}
	return out, nil
}

func decodeFloatTIFF(b []byte, maxPixels int) (*imageio.Image, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("not a TIFF file (%d bytes)", len(b))
	}
	var r tiffReader
	switch string(b[:2]) {
	case "II":
		r = tiffReader{b, binary.LittleEndian}
	case "MM":
		r = tiffReader{b, binary.BigEndian}
	default:
		return nil, fmt.Errorf("not a TIFF file (no II/MM byte-order mark)")
	}
	switch v, _ := r.u16(2); v {
	case 42:
	case 43:
		return nil, fmt.Errorf("BigTIFF is not supported")
	default:
		return nil, fmt.Errorf("not a TIFF file (version %d)", v)
	}
	ifd, _ := r.u32(4)
	n, err := r.u16(int64(ifd))
	if err != nil {
		return nil, fmt.Errorf("IFD: %w", err)
	}
	tags := map[uint32][]uint32{}
	for i := int64(0); i < int64(n); i++ {
		e := int64(ifd) + 2 + 12*i
		tag, err := r.u16(e)
		if err != nil {
			return nil, fmt.Errorf("IFD entry %d: %w", i, err)
		}
		switch tag {
		case tagWidth, tagHeight, tagBitsPerSample, tagCompression, tagStripOffsets, tagSamplesPerPixel,
			tagRowsPerStrip, tagStripByteCounts, tagPlanarConfig, tagPredictor, tagTileWidth, tagSampleFormat:
			if tags[tag], err = r.values(e); err != nil {
				return nil, err
			}
		}
	}
	one := func(tag uint32, def uint32, what string) (uint32, error) {
		v, ok := tags[tag]
		if !ok {
			if def == math.MaxUint32 {
				return 0, fmt.Errorf("missing %s (tag %d)", what, tag)
			}
			return def, nil
		}
		if len(v) == 0 {
			return 0, fmt.Errorf("empty %s (tag %d)", what, tag)
		}
		return v[0], nil
	}
	const required = math.MaxUint32
	w, err := one(tagWidth, required, "ImageWidth")
	if err != nil {
		return nil, err
	}
	h, err := one(tagHeight, required, "ImageLength")
	if err != nil {
		return nil, err
	}
	spp, err := one(tagSamplesPerPixel, 1, "SamplesPerPixel")
	if err != nil {
		return nil, err
	}
	if comp, _ := one(tagCompression, 1, ""); comp != 1 {
		return nil, fmt.Errorf("compression %d is not supported (only uncompressed float32 TIFFs are read)", comp)
	}
	if pred, _ := one(tagPredictor, 1, ""); pred != 1 {
		return nil, fmt.Errorf("predictor %d is not supported", pred)
	}
	if _, tiled := tags[tagTileWidth]; tiled {
		return nil, fmt.Errorf("tiled TIFFs are not supported (only strips)")
	}
	for _, bits := range tags[tagBitsPerSample] {
		if bits != 32 {
			return nil, fmt.Errorf("%d bits per sample; want 32-bit float", bits)
		}
	}
	if _, ok := tags[tagBitsPerSample]; !ok {
		return nil, fmt.Errorf("1 bit per sample (no BitsPerSample); want 32-bit float")
	}
	for _, f := range tags[tagSampleFormat] {
		if f != 3 {
			return nil, fmt.Errorf("sample format %d; want 3 (IEEE float)", f)
		}
	}
	if _, ok := tags[tagSampleFormat]; !ok {
		return nil, fmt.Errorf("unsigned integer samples (no SampleFormat); want IEEE float")
	}
	planar, _ := one(tagPlanarConfig, 1, "")
	if planar != 1 && planar != 2 {
		return nil, fmt.Errorf("planar configuration %d is not supported", planar)
	}
	if w == 0 || h == 0 || spp == 0 || spp > 16 {
		return nil, fmt.Errorf("bad geometry %dx%d with %d samples per pixel", w, h, spp)
	}
	limit := int64(maxPixels)
	if limit <= 0 {
		limit = imageio.DefaultMaxPixels
	}
	if px := int64(w) * int64(h); px > limit {
		return nil, fmt.Errorf("%dx%d image has %d pixels, more than the limit of %d", w, h, px, limit)
	}
	// the data must be in the file: a hostile header cannot make us
	// allocate more than the file's size
	if need := int64(w) * int64(h) * int64(spp) * 4; need > int64(len(b)) {
		return nil, fmt.Errorf("%dx%d with %d samples per pixel needs %d bytes of data; the file has %d", w, h, spp, need, len(b))
	}
	rps, _ := one(tagRowsPerStrip, h, "")
	rps = min(max(rps, 1), h)
	offsets, counts := tags[tagStripOffsets], tags[tagStripByteCounts]
	stripsPerPlane := int((h + rps - 1) / rps)
	planes := 1
	if planar == 2 {
		planes = int(spp)
	}
	if len(offsets) != stripsPerPlane*planes || len(counts) != len(offsets) {
		return nil, fmt.Errorf("%d strip offsets and %d byte counts; want %d strips", len(offsets), len(counts), stripsPerPlane*planes)
	}
	W, H, C := int(w), int(h), int(spp)
	img := imageio.New(C, H, W)
	hw := H * W
	for p := 0; p < planes; p++ {
		for k := 0; k < stripsPerPlane; k++ {
			si := p*stripsPerPlane + k
			y0 := k * int(rps)
			rows := min(int(rps), H-y0)
			perRow := W * C
			if planar == 2 {
				perRow = W
			}
			need := int64(rows) * int64(perRow) * 4
			off, cnt := int64(offsets[si]), int64(counts[si])
			if cnt < need {
				return nil, fmt.Errorf("strip %d has %d bytes; %d rows need %d", si, cnt, rows, need)
			}
			if off+need > int64(len(b)) {
				return nil, fmt.Errorf("strip %d at offset %d runs past the end of the file (%d bytes)", si, off, len(b))
			}
			data := b[off : off+need]
			for i := 0; i < rows*perRow; i++ {
				v := math.Float32frombits(r.bo.Uint32(data[4*i:]))
				if planar == 2 {
					img.Pix[p*hw+y0*W+i] = v
				} else {
					px, c := i/C, i%C
					img.Pix[c*hw+y0*W+px] = v
				}
			}
		}
	}
	return img, nil
}
