package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
)

// idxBytes encodes an unsigned-byte IDX file.
func idxBytes(dims []int, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(0x0800|len(dims)))
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// idxSet returns images (n of h×w, pixel i*7+k mod 256) and labels i%4.
func idxSet(n, h, w int) (imgs, labels []byte) {
	imgs = make([]byte, n*h*w)
	for i := range imgs {
		imgs[i] = byte(i * 7)
	}
	labels = make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % 4)
	}
	return
}

// writeIDXDir writes the four files; compress chooses per file whether to
// gzip, suffix whether a gzipped file is named .gz.
func writeIDXDir(t *testing.T, dir string, compress, suffix bool) {
	ti, tl := idxSet(24, 3, 2)
	si, sl := idxSet(10, 3, 2)
	files := map[string][]byte{
		"train-images-idx3-ubyte": idxBytes([]int{24, 3, 2}, ti),
		"train-labels-idx1-ubyte": idxBytes([]int{24}, tl),
		"t10k-images-idx3-ubyte":  idxBytes([]int{10, 3, 2}, si),
		"t10k-labels-idx1-ubyte":  idxBytes([]int{10}, sl),
	}
	for name, b := range files {
		if compress {
			b = gz(t, b)
			if suffix {
				name += ".gz"
			}
		}
		writeFile(t, filepath.Join(dir, name), b)
	}
}

func TestLoadIDX(t *testing.T) {
	for _, c := range []struct{ compress, suffix bool }{{false, false}, {true, true}, {true, false}} {
		dir := t.TempDir()
		writeIDXDir(t, dir, c.compress, c.suffix)
		ds, err := LoadIDX(dir, 2, Options{Seed: 1, MinVal: 2})
		if err != nil {
			t.Fatal(err)
		}
		// class 2 has 6 of the 24 training images: 2 to Val, 4 to Train
		if len(ds.Train) != 4 || len(ds.Val) != 2 || len(ds.Test) != 10 || ds.HasMasks {
			t.Fatalf("%+v: train %d val %d test %d", c, len(ds.Train), len(ds.Val), len(ds.Test))
		}
		for _, s := range append(append([]Sample{}, ds.Train...), ds.Val...) {
			var i int
			if _, err := fmt.Sscanf(s.Name, "good/%05d", &i); err != nil || i%4 != 2 {
				t.Fatalf("train sample %s is not class 2", s.Name)
			}
			if s.Image.C != 1 || s.Image.H != 3 || s.Image.W != 2 {
				t.Fatalf("shape %d %d %d", s.Image.C, s.Image.H, s.Image.W)
			}
			for k, v := range s.Image.Pix {
				if want := float32(byte((i*6+k)*7)) / 255; v != want {
					t.Fatalf("%s pix %d = %v want %v", s.Name, k, v, want)
				}
			}
		}
		for i, s := range ds.Test {
			wantLabel, wantDefect := 1, []string{"class0", "class1", "good", "class3"}[i%4]
			if i%4 == 2 {
				wantLabel = 0
			}
			if s.Label != wantLabel || s.Defect != wantDefect || s.Mask != nil {
				t.Fatalf("test %d: label %d defect %s", i, s.Label, s.Defect)
			}
			if want := float32(byte((i*6+5)*7)) / 255; s.Image.Pix[5] != want {
				t.Fatalf("test %d pixel 5 = %v want %v", i, s.Image.Pix[5], want)
			}
		}
	}
}

func TestLoadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	writeIDXDir(t, dir, false, false)
	p := filepath.Join(dir, "t10k-images-idx3-ubyte")
	si, _ := idxSet(10, 3, 2)

	writeFile(t, p, idxBytes([]int{10, 3, 2}, si[:59]))
	_, err := LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p, "truncated")

	writeFile(t, p, gz(t, idxBytes([]int{10, 3, 2}, si))[:40])
	_, err = LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p)

	writeFile(t, p, idxBytes([]int{10, 3, 2}, append(si, 1)))
	_, err = LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p, "more data")

	bad := idxBytes([]int{10, 3, 2}, si)
	bad[2] = 0x0d // float element type
	writeFile(t, p, bad)
	_, err = LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p, "magic")

	// a tiny file declaring a huge payload is refused without allocating it
	writeFile(t, p, idxBytes([]int{1 << 20, 1 << 10, 1 << 10}, nil))
	_, err = LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p)

	writeFile(t, p, idxBytes([]int{9, 3, 2}, si[:54]))
	_, err = LoadIDX(dir, 0, Options{MinVal: 1})
	wantErr(t, err, p, "9 images", "10 labels")

	writeFile(t, p, idxBytes([]int{10, 3, 2}, si))
	if _, err := LoadIDX(dir, 0, Options{MinVal: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = LoadIDX(dir, 7, Options{MinVal: 1})
	wantErr(t, err, "train-labels-idx1-ubyte", "class 7")
	_, err = LoadIDX(dir, 300, Options{})
	wantErr(t, err, "300")
	_, err = LoadIDX(dir, 0, Options{MinVal: 6})
	wantErr(t, err, "train-images-idx3-ubyte")

	empty := t.TempDir()
	_, err = LoadIDX(empty, 0, Options{})
	wantErr(t, err, "train-images-idx3-ubyte", empty)
}
