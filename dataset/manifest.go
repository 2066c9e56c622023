package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// loadManifest reads a CSV manifest. The header names the columns, in any
// order: path and label are required, mask, split and defect optional.
//
//   - path: the image, relative to the manifest's folder unless absolute;
//   - label: 0, good or normal for normal images; 1, anomalous or anomaly
//     for anomalous ones;
//   - mask: the ground-truth file ("" for none);
//   - split: train, val or test for a fixed split; "" (or no column) lets
//     the normals be split like folders and puts anomalous images in test;
//   - defect: the defect type of an anomalous image ("" means "anomaly").
//
// Rows keep the manifest's order, except that normals held out for testing
// come first in Test. Errors name the manifest line.
func loadManifest(path string, opt Options) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	base := filepath.Dir(path)
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: reading the header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch h {
		case "path", "label", "mask", "split", "defect":
		default:
			return nil, fmt.Errorf("dataset: %s line 1: unknown column %q (want path,label[,mask][,split][,defect])", path, h)
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("dataset: %s line 1: column %q appears twice", path, h)
		}
		col[h] = i
	}
	for _, need := range []string{"path", "label"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("dataset: %s line 1: no %q column (want path,label[,mask][,split][,defect])", path, need)
		}
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, filepath.FromSlash(p))
	}
	type row struct {
		s     Sample
		split string
		line  int
		rel   string
	}
	var rows []row
	lineOf := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		at := fmt.Sprintf("%s line %d", path, line)
		if len(rec) != len(head) {
			return nil, fmt.Errorf("dataset: %s: %d fields; the header has %d", at, len(rec), len(head))
		}
		rel := field(rec, "path")
		if rel == "" {
			return nil, fmt.Errorf("dataset: %s: empty path", at)
		}
		p := resolve(rel)
		if !exists(p, false) {
			return nil, fmt.Errorf("dataset: %s: no image file %s", at, p)
		}
		if prev, ok := lineOf[p]; ok {
			return nil, fmt.Errorf("dataset: %s: %s is already listed on line %d", at, rel, prev)
		}
		lineOf[p] = line
		r := row{s: Sample{Path: p}, line: line, rel: rel}
		switch l := strings.ToLower(field(rec, "label")); l {
		case "0", "good", "normal":
		case "1", "anomalous", "anomaly":
			r.s.Label = 1
		default:
			return nil, fmt.Errorf("dataset: %s: label %q; want 0/1, good/normal or anomalous/anomaly", at, l)
		}
		defect := field(rec, "defect")
		switch {
		case r.s.Label == 0 && defect != "" && defect != "good":
			return nil, fmt.Errorf("dataset: %s: normal image with defect %q", at, defect)
		case r.s.Label == 0:
			defect = "good"
		case defect == "good":
			return nil, fmt.Errorf("dataset: %s: anomalous image with defect \"good\"", at)
		case defect == "":
			defect = AnomalyDefect
		}
		r.s.Defect = defect
		if m := field(rec, "mask"); m != "" {
			if !exists(resolve(m), false) {
				return nil, fmt.Errorf("dataset: %s: no mask file %s", at, resolve(m))
			}
			r.s.MaskPaths = []string{resolve(m)}
		}
		switch sp := strings.ToLower(field(rec, "split")); sp {
		case "", "test":
			r.split = sp
		case "train", "val", "validation":
			if r.s.Label == 1 {
				return nil, fmt.Errorf("dataset: %s: anomalous image in split %q; training and validation hold normal images only", at, sp)
			}
			if sp == "validation" {
				sp = "val"
			}
			r.split = sp
		default:
			return nil, fmt.Errorf("dataset: %s: split %q; want train, val, test or empty", at, sp)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("dataset: %s lists no images", path)
	}
	// names are defect/stem, or defect/<path without extension> where
	// stems collide
	count := map[string]int{}
	for _, r := range rows {
		count[r.s.Defect+"/"+stem(filepath.Base(r.s.Path))]++
	}
	for i := range rows {
		s := &rows[i].s
		s.Name = s.Defect + "/" + stem(filepath.Base(s.Path))
		if count[s.Name] > 1 {
			s.Name = s.Defect + "/" + strings.TrimSuffix(filepath.ToSlash(rows[i].rel), filepath.Ext(rows[i].rel))
		}
	}
	ds := &Dataset{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Layout: LayoutCSV}
	var pool, test []Sample
	for _, r := range rows {
		switch {
		case r.split == "train":
			ds.Train = append(ds.Train, r.s)
		case r.split == "val":
			ds.Val = append(ds.Val, r.s)
		case r.split == "test" || r.s.Label == 1:
			test = append(test, r.s)
		default:
			pool = append(pool, r.s)
		}
	}
	ds.Split = opt.splitInfo(0)
	if len(pool) > 0 {
		ds.Split.TestFraction = opt.testFraction()
		train, val, held, err := holdOutNormals(pool, opt, path+" (rows without a split)")
		if err != nil {
			return nil, err
		}
		ds.Train, ds.Val = append(ds.Train, train...), append(ds.Val, val...)
		test = append(held, test...)
	}
	ds.Test = test
	if len(ds.Train) == 0 && !opt.SkipTrain {
		return nil, fmt.Errorf("dataset: %s has no normal training images", path)
	}
	if len(ds.Test) == 0 && !opt.SkipTest {
		return nil, fmt.Errorf("dataset: %s has no test images", path)
	}
	return finished(ds, opt)
}
