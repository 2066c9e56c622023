package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
)

// rleRun is one run of a run-length mask: pixels start..start+n-1,
// 1-indexed in column-major order; src names its line for errors.
type rleRun struct {
	start, n int64
	src      string
}

// rleMask is a mask stored as runs, decoded at image size.
type rleMask struct {
	runs []rleRun
}

// parseRLE parses "start length start length ..." (src names the field in
// errors).
func parseRLE(s, src string) ([]rleRun, error) {
	f := strings.Fields(s)
	if len(f)%2 != 0 {
		return nil, fmt.Errorf("dataset: %s: run-length data has %d numbers; want start/length pairs", src, len(f))
	}
	out := make([]rleRun, 0, len(f)/2)
	for i := 0; i < len(f); i += 2 {
		a, err1 := strconv.ParseInt(f[i], 10, 64)
		n, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 != nil || err2 != nil || a < 1 || n < 1 {
			return nil, fmt.Errorf("dataset: %s: bad run %q %q (want start >= 1, length >= 1)", src, f[i], f[i+1])
		}
		out = append(out, rleRun{start: a, n: n, src: src})
	}
	return out, nil
}

// check refuses runs outside an h×w image.
func (m *rleMask) check(h, w int) error {
	total := int64(h) * int64(w)
	for _, r := range m.runs {
		// start and n are compared first so their sum cannot overflow
		if r.start > total || r.n > total || r.start+r.n-1 > total {
			return fmt.Errorf("dataset: %s: run %d+%d ends past the %dx%d image's %d pixels", r.src, r.start, r.n, w, h, total)
		}
	}
	return nil
}

// decode renders the runs at h×w: pixel p (1-indexed) is row (p-1) mod h
// of column (p-1) / h, that is pixels are numbered top to bottom, then left
// to right.
func (m *rleMask) decode(h, w int) (*imageio.Map, error) {
	if err := m.check(h, w); err != nil {
		return nil, err
	}
	out := imageio.NewMap(h, w)
	for _, r := range m.runs {
		for p := r.start - 1; p < r.start-1+r.n; p++ {
			x, y := int(p/int64(h)), int(p%int64(h))
			out.Pix[y*w+x] = 1
		}
	}
	return out, nil
}

// loadSeverstal reads the Severstal steel defect layout: dir/train.csv
// (ImageId,ClassId,EncodedPixels, or the older ImageId_ClassId,
// EncodedPixels with empty runs for absent classes) and the images in
// dir/train_images. Images without runs are normal; with class (1..4)
// images with runs of that class are anomalous and images with only other
// classes are left out, with class 0 any defect counts. Masks come from
// the runs of the counted classes. Normals are split like folders.
func loadSeverstal(dir string, class int, opt Options) (*Dataset, error) {
	if class < 0 || class > 4 {
		return nil, fmt.Errorf("dataset: Severstal class %d out of range (1..4, or 0 for any)", class)
	}
	csvPath, imgDir := filepath.Join(dir, "train.csv"), filepath.Join(dir, "train_images")
	if err := requireDir(imgDir, "Severstal image"); err != nil {
		return nil, err
	}
	files, err := listImages(imgDir)
	if err != nil {
		return nil, err
	}
	rows, err := readSeverstalCSV(csvPath)
	if err != nil {
		return nil, err
	}
	onDisk := map[string]bool{}
	for _, f := range files {
		onDisk[f] = true
	}
	var missing []string
	for id := range rows {
		if !onDisk[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	name := filepath.Base(filepath.Clean(dir))
	if class > 0 {
		name = fmt.Sprintf("%s-class%d", name, class)
	}
	ds := &Dataset{Name: name, Layout: LayoutSeverstal, Split: opt.splitInfo(opt.testFraction())}
	var normals, anomalous []Sample
	otherOnly := 0
	for _, f := range files {
		s := Sample{Path: filepath.Join(imgDir, f), Defect: "good"}
		byClass := rows[f]
		if len(byClass) == 0 {
			s.Name = "good/" + stem(f)
			normals = append(normals, s)
			continue
		}
		var classes []string
		m := &rleMask{}
		for c := 1; c <= 4; c++ {
			if runs, ok := byClass[c]; ok && (class == 0 || class == c) {
				classes = append(classes, fmt.Sprintf("class%d", c))
				m.runs = append(m.runs, runs...)
			}
		}
		if len(classes) == 0 {
			otherOnly++
			continue
		}
		s.Label, s.Defect, s.rle = 1, strings.Join(classes, "+"), m
		s.Name = s.Defect + "/" + stem(f)
		anomalous = append(anomalous, s)
	}
	if len(normals) == 0 {
		return nil, fmt.Errorf("dataset: %s: every image of %s has defects; no normal images to train on", csvPath, imgDir)
	}
	var testNormals []Sample
	if ds.Train, ds.Val, testNormals, err = holdOutNormals(normals, opt, imgDir); err != nil {
		return nil, err
	}
	ds.Test = append(testNormals, anomalous...)
	if otherOnly > 0 {
		ds.Warnings = append(ds.Warnings, fmt.Sprintf("%d images with only defects of classes other than %d left out", otherOnly, class))
	}
	if len(missing) > 0 {
		ds.Warnings = append(ds.Warnings, fmt.Sprintf("train.csv lists %d images not in train_images: %s", len(missing), listSome(missing, 5)))
	}
	return finished(ds, opt)
}

// readSeverstalCSV returns the runs of each image by class.
func readSeverstalCSV(path string) (map[string]map[int][]rleRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: reading the header: %w", path, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(strings.TrimPrefix(head[i], "\ufeff"))
	}
	joined := strings.Join(head, ",")
	old := joined == "ImageId_ClassId,EncodedPixels"
	if !old && joined != "ImageId,ClassId,EncodedPixels" {
		return nil, fmt.Errorf("dataset: %s: header is %q; want ImageId,ClassId,EncodedPixels", path, joined)
	}
	out := map[string]map[int][]rleRun{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		src := fmt.Sprintf("%s line %d", path, line)
		var id, cls, enc string
		if old {
			if len(rec) != 2 {
				return nil, fmt.Errorf("dataset: %s: %d fields; want 2", src, len(rec))
			}
			k := strings.LastIndex(rec[0], "_")
			if k < 0 {
				return nil, fmt.Errorf("dataset: %s: %q is not <image>_<class>", src, rec[0])
			}
			id, cls, enc = rec[0][:k], rec[0][k+1:], rec[1]
		} else {
			if len(rec) != 3 {
				return nil, fmt.Errorf("dataset: %s: %d fields; want 3", src, len(rec))
			}
			id, cls, enc = rec[0], rec[1], rec[2]
		}
		c, err := strconv.Atoi(strings.TrimSpace(cls))
		if err != nil || c < 1 || c > 4 {
			return nil, fmt.Errorf("dataset: %s: class %q; want 1..4", src, cls)
		}
		runs, err := parseRLE(enc, src)
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			continue // the older format lists absent classes with no runs
		}
		if out[id] == nil {
			out[id] = map[int][]rleRun{}
		}
		out[id][c] = append(out[id][c], runs...)
	}
	return out, nil
}
