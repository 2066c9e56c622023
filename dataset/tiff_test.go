package dataset

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/vigil-ad/vigil/imageio"
)

// tiffEntry is one IFD entry for floatTIFF.
type tiffEntry struct {
	tag, typ uint16
	vals     []uint32
}

// floatTIFF encodes img (CHW) as an uncompressed float32 TIFF with
// rowsPerStrip rows per strip, chunky or planar, in byte order bo; extra
// entries are added (or replace ones of the same tag).
func floatTIFF(img *imageio.Image, bo binary.AppendByteOrder, rowsPerStrip int, planar bool, extra ...tiffEntry) []byte {
	C, H, W := img.C, img.H, img.W
	hw := H * W
	var data []byte
	var offsets, counts []uint32
	const dataStart = 8
	strip := func(vals []float32) {
		offsets = append(offsets, uint32(dataStart+len(data)))
		for _, v := range vals {
			data = bo.AppendUint32(data, math.Float32bits(v))
		}
		counts = append(counts, uint32(4*len(vals)))
	}
	planes := 1
	if planar {
		planes = C
	}
	for p := 0; p < planes; p++ {
		for y0 := 0; y0 < H; y0 += rowsPerStrip {
			rows := min(rowsPerStrip, H-y0)
			var vals []float32
			for y := y0; y < y0+rows; y++ {
				for x := 0; x < W; x++ {
					if planar {
						vals = append(vals, img.Pix[p*hw+y*W+x])
						continue
					}
					for c := 0; c < C; c++ {
						vals = append(vals, img.Pix[c*hw+y*W+x])
					}
				}
			}
			strip(vals)
		}
	}
	bits := make([]uint32, C)
	formats := make([]uint32, C)
	for i := range bits {
		bits[i], formats[i] = 32, 3
	}
	pc := uint32(1)
	if planar {
		pc = 2
	}
	entries := []tiffEntry{
		{tagWidth, 4, []uint32{uint32(W)}},
		{tagHeight, 4, []uint32{uint32(H)}},
		{tagBitsPerSample, 3, bits},
		{tagCompression, 3, []uint32{1}},
		{262, 3, []uint32{2}}, // photometric: ignored
		{tagStripOffsets, 4, offsets},
		{tagSamplesPerPixel, 3, []uint32{uint32(C)}},
		{tagRowsPerStrip, 4, []uint32{uint32(rowsPerStrip)}},
		{tagStripByteCounts, 4, counts},
		{tagPlanarConfig, 3, []uint32{pc}},
		{tagSampleFormat, 3, formats},
	}
	for _, e := range extra {
		replaced := false
		for i := range entries {
			if entries[i].tag == e.tag {
				entries[i], replaced = e, true
			}
		}
		if !replaced {
			entries = append(entries, e)
		}
	}
	// sorted by tag, as TIFF requires
	for i := 1; i < len(entries); i++ {
		for j := i; j > 0 && entries[j].tag < entries[j-1].tag; j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
	ifd := dataStart + len(data)
	ifdLen := 2 + 12*len(entries) + 4
	var out []byte
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		out = append(out, 'I', 'I')
	} else {
		out = append(out, 'M', 'M')
	}
	out = bo.AppendUint16(out, 42)
	out = bo.AppendUint32(out, uint32(ifd))
	out = append(out, data...)
	var ext []byte // out-of-line values after the IFD
	out = bo.AppendUint16(out, uint16(len(entries)))
	for _, e := range entries {
		size := map[uint16]int{1: 1, 3: 2, 4: 4}[e.typ]
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, e.typ)
		out = bo.AppendUint32(out, uint32(len(e.vals)))
		var vb []byte
		for _, v := range e.vals {
			switch size {
			case 1:
				vb = append(vb, byte(v))
			case 2:
				vb = bo.AppendUint16(vb, uint16(v))
			default:
				vb = bo.AppendUint32(vb, v)
			}
		}
		if len(vb) <= 4 {
			out = append(out, append(vb, make([]byte, 4-len(vb))...)...)
		} else {
			out = bo.AppendUint32(out, uint32(ifd+ifdLen+len(ext)))
			ext = append(ext, vb...)
		}
	}
	out = bo.AppendUint32(out, 0)
	return append(out, ext...)
}

// xyzImage is a deterministic C×H×W point cloud with distinct values.
func xyzImage(c, h, w int) *imageio.Image {
	img := imageio.New(c, h, w)
	for i := range img.Pix {
		img.Pix[i] = float32(i)*0.25 - 3.5
	}
	return img
}

func TestLoadXYZ(t *testing.T) {
	dir := t.TempDir()
	want := xyzImage(3, 5, 4)
	cases := []struct {
		name   string
		bo     binary.AppendByteOrder
		rows   int
		planar bool
	}{
		{"le-one-strip", binary.LittleEndian, 5, false},
		{"be-strips", binary.BigEndian, 2, false},
		{"le-planar", binary.LittleEndian, 3, true},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".tiff")
		writeFile(t, p, floatTIFF(want, c.bo, c.rows, c.planar))
		got, err := LoadXYZ(p, imageio.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.C != 3 || got.H != 5 || got.W != 4 || !sameF(got.Pix, want.Pix, 0) {
			t.Fatalf("%s: got %dx%dx%d %v", c.name, got.C, got.H, got.W, got.Pix[:6])
		}
	}
	// a single-channel depth map reads too
	depth := xyzImage(1, 3, 3)
	p := filepath.Join(dir, "depth.tif")
	writeFile(t, p, floatTIFF(depth, binary.LittleEndian, 1, false))
	if got, err := LoadXYZ(p, imageio.Options{}); err != nil || got.C != 1 || !sameF(got.Pix, depth.Pix, 0) {
		t.Fatalf("depth map: %v", err)
	}

	bad := func(name string, b []byte, parts ...string) {
		t.Helper()
		p := filepath.Join(dir, name)
		writeFile(t, p, b)
		_, err := LoadXYZ(p, imageio.Options{})
		wantErr(t, err, append([]string{p}, parts...)...)
	}
	le := binary.LittleEndian
	bad("lzw.tiff", floatTIFF(want, le, 5, false, tiffEntry{tagCompression, 3, []uint32{5}}), "compression 5")
	bad("tiled.tiff", floatTIFF(want, le, 5, false, tiffEntry{tagTileWidth, 3, []uint32{16}}), "tiled")
	bad("uint.tiff", floatTIFF(want, le, 5, false, tiffEntry{tagSampleFormat, 3, []uint32{1, 1, 1}}), "sample format 1")
	bad("u16.tiff", floatTIFF(want, le, 5, false, tiffEntry{tagBitsPerSample, 3, []uint32{16, 16, 16}}), "16 bits")
	full := floatTIFF(want, le, 5, false)
	short := append([]byte(nil), full...)
	// the strip is declared shorter than its rows need
	bad("short.tiff", floatTIFF(want, le, 5, false, tiffEntry{tagStripByteCounts, 4, []uint32{10}}), "strip 0 has 10 bytes")
	bad("junk.tiff", []byte("PK\x03\x04 not a tiff"), "not a TIFF")
	bad("empty.tiff", nil, "not a TIFF")
	short[2] = 43
	bad("big.tiff", short, "BigTIFF")
	_, err := LoadXYZ(filepath.Join(dir, "le-one-strip.tiff"), imageio.Options{MaxPixels: 19})
	wantErr(t, err, "limit of 19")
	_, err = LoadXYZ(filepath.Join(dir, "nope.tiff"), imageio.Options{})
	wantErr(t, err, "nope.tiff")
}

// Corrupted files give errors, never panics: every single-byte change of
// the header and IFD of a valid file, and seeded random multi-byte ones.
func TestLoadXYZCorruptNoPanic(t *testing.T) {
	valid := floatTIFF(xyzImage(3, 4, 3), binary.LittleEndian, 2, false)
	dataEnd := 8 + 3*4*3*4
	try := func(b []byte) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic on %x: %v", b, r)
			}
		}()
		decodeFloatTIFF(b, 0)
	}
	for i := 0; i < len(valid); i++ {
		if i >= 8 && i < dataEnd {
			continue // pixel data: any value is valid
		}
		for _, v := range []byte{0, 1, 0x7f, 0xff} {
			b := append([]byte(nil), valid...)
			b[i] = v
			try(b)
		}
	}
	rng := uint64(12345)
	next := func() uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return rng >> 33 }
	for k := 0; k < 2000; k++ {
		b := append([]byte(nil), valid...)
		for j := 0; j < 4; j++ {
			b[next()%uint64(len(b))] = byte(next())
		}
		try(b[:next()%uint64(len(b)+1)])
	}
	// a header declaring far more data than the file holds is refused
	// before any allocation
	huge := floatTIFF(xyzImage(3, 4, 3), binary.LittleEndian, 4, false,
		tiffEntry{tagWidth, 4, []uint32{5000}}, tiffEntry{tagHeight, 4, []uint32{5000}})
	_, err := decodeFloatTIFF(huge, 0)
	wantErr(t, err, "needs 300000000 bytes")
}
