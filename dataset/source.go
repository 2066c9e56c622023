package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The layout names of Source.Layout and Dataset.Layout.
const (
	LayoutMVTec     = "mvtec"
	LayoutFolders   = "folders"
	LayoutIDX       = "idx"
	LayoutLOCO      = "mvtec_loco"
	LayoutMVTec3D   = "mvtec_3d"
	LayoutSeverstal = "severstal"
	LayoutNanoTWICE = "nanotwice"
	LayoutCSV       = "csv"
	LayoutDemo      = "demo"
)

// Layouts returns the layouts Load reads.
func Layouts() []string {
	return []string{LayoutMVTec, LayoutFolders, LayoutIDX, LayoutLOCO, LayoutMVTec3D, LayoutSeverstal, LayoutNanoTWICE, LayoutCSV}
}

// Source selects a dataset in any supported layout.
type Source struct {
	// Layout is one of Layouts; "" detects it (see Load).
	Layout string
	// Dir is the dataset root (mvtec, mvtec_loco, mvtec_3d, severstal,
	// nanotwice; for detection also an IDX folder or a manifest file).
	Dir string
	// Normal, Abnormal and Masks are the folders of the folders layout.
	Normal, Abnormal, Masks string
	// IDX is the folder of the idx layout and NormalClass its normal class;
	// NormalClassSet must be true, as no class is a sensible default.
	IDX            string
	NormalClass    int
	NormalClassSet bool
	// Manifest is the csv layout's file: columns path,label[,mask][,split]
	// [,defect], paths relative to the manifest's folder.
	Manifest string
	// Class is the Severstal defect class (1..4) taken as anomalous; 0
	// takes any.
	Class int
}

// Load reads the dataset src selects. With Layout "" the layout is
// detected: Manifest selects csv, IDX idx, Normal folders; a Dir that is a
// .csv file is a manifest, and a Dir folder is recognised by its marker
// files (see the package documentation). Dataset.Layout says which layout
// was read. An ambiguous or unrecognised folder is an error listing the
// layouts.
func Load(src Source, opt Options) (*Dataset, error) {
	layout := src.Layout
	if layout == "" {
		var err error
		if layout, err = detect(&src); err != nil {
			return nil, err
		}
	}
	need := func(v, what string) error {
		if v == "" {
			return fmt.Errorf("dataset: the %s layout needs %s", layout, what)
		}
		return nil
	}
	var err error
	switch layout {
	case LayoutMVTec, LayoutLOCO, LayoutMVTec3D, LayoutSeverstal, LayoutNanoTWICE:
		err = need(src.Dir, "a dataset folder")
	case LayoutFolders:
		err = need(src.Normal, "a folder of normal images")
	case LayoutIDX:
		if err = need(src.IDX, "an IDX folder"); err == nil && !src.NormalClassSet {
			err = fmt.Errorf("dataset: the idx layout needs the normal class (--normal-class): every other class is anomalous")
		}
	case LayoutCSV:
		err = need(src.Manifest, "a manifest file")
	default:
		err = fmt.Errorf("dataset: unknown layout %q (have %s)", layout, strings.Join(Layouts(), ", "))
	}
	if err != nil {
		return nil, err
	}
	switch layout {
	case LayoutMVTec:
		return loadMVTec(src.Dir, opt)
	case LayoutFolders:
		return loadFolders(src.Normal, src.Abnormal, src.Masks, opt)
	case LayoutIDX:
		return loadIDX(src.IDX, src.NormalClass, opt)
	case LayoutLOCO:
		return loadLOCO(src.Dir, opt)
	case LayoutMVTec3D:
		return loadMVTec3D(src.Dir, opt)
	case LayoutSeverstal:
		return loadSeverstal(src.Dir, src.Class, opt)
	case LayoutNanoTWICE:
		return loadNanoTWICE(src.Dir, opt)
	default:
		return loadManifest(src.Manifest, opt)
	}
}

// exists reports whether path exists (as a folder when dir).
func exists(path string, dir bool) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir() == dir
}

// detect picks the layout of src and moves a Dir that names an IDX folder
// or a manifest to the field that layout reads.
func detect(src *Source) (string, error) {
	switch {
	case src.Manifest != "":
		return LayoutCSV, nil
	case src.IDX != "":
		return LayoutIDX, nil
	case src.Normal != "":
		return LayoutFolders, nil
	case src.Dir == "":
		return "", errors.New("dataset: no dataset given (a folder, a manifest, an IDX folder or a folder of normal images)")
	}
	dir := src.Dir
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dataset: missing dataset %s", dir)
	}
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		if strings.EqualFold(filepath.Ext(dir), ".csv") {
			src.Manifest = dir
			return LayoutCSV, nil
		}
		return "", fmt.Errorf("dataset: %s is a file but not a .csv manifest", dir)
	}
	in := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	var found []string
	has3DRGB := exists(in("train", "good", "rgb"), true)
	if !has3DRGB {
		if subs, err := listSubdirs(in("test")); err == nil {
			for _, s := range subs {
				has3DRGB = has3DRGB || exists(in("test", s, "rgb"), true)
			}
		}
	}
	isLOCO := exists(in("defects_config.json"), false) || exists(in("test", "logical_anomalies"), true) || exists(in("test", "structural_anomalies"), true)
	switch {
	case has3DRGB:
		found = append(found, LayoutMVTec3D)
	case isLOCO:
		found = append(found, LayoutLOCO)
	case exists(in("test"), true):
		found = append(found, LayoutMVTec)
	}
	if exists(in("train.csv"), false) && exists(in("train_images"), true) {
		found = append(found, LayoutSeverstal)
	}
	if exists(in("Normal"), true) && exists(in("Anomalous"), true) {
		found = append(found, LayoutNanoTWICE)
	}
	if _, err := findIDX(dir, "train-images-idx3-ubyte"); err == nil {
		found = append(found, LayoutIDX)
	}
	markers := "mvtec: test/ (and train/good/); mvtec_loco: defects_config.json or test/logical_anomalies/; " +
		"mvtec_3d: train/good/rgb/ or test/<defect>/rgb/; severstal: train.csv and train_images/; " +
		"nanotwice: Normal/ and Anomalous/; idx: train-images-idx3-ubyte[.gz]; csv: a .csv manifest; folders: set the normal folder"
	switch len(found) {
	case 0:
		hint := ""
		if subs, err := listSubdirs(dir); err == nil && len(subs) > 0 {
			for _, s := range subs {
				if exists(filepath.Join(dir, s, "test"), true) {
					hint = fmt.Sprintf(" (it holds categories such as %s: give one of them)", s)
					break
				}
			}
		}
		return "", fmt.Errorf("dataset: cannot tell the layout of %s%s; layouts and their markers: %s", dir, hint, markers)
	case 1:
		if found[0] == LayoutIDX {
			src.IDX = dir
		}
		return found[0], nil
	}
	return "", fmt.Errorf("dataset: %s looks like several layouts (%s); name one (have %s)", dir, strings.Join(found, ", "), strings.Join(Layouts(), ", "))
}
