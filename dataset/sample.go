package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"

	"github.com/vigil-ad/vigil/imageio"
)

// Sample is one image of a dataset with its ground truth. File-backed
// samples are not decoded by the loaders: Load decodes one when it is
// needed, so memory is bounded by what the caller holds at once.
type Sample struct {
	Path   string         // source file; "" or a synthetic name for in-memory data
	Name   string         // short unique name within the split, e.g. "crack/003"
	Label  int            // 0 normal, 1 anomalous
	Defect string         // "good" for normal images, else the defect type
	Image  *imageio.Image // set only for in-memory data (IDX, demo); nil for file-backed samples
	Mask   *imageio.Map   // in-memory data only: ground truth 0/1, nil when unknown
	// MaskPaths are the ground-truth files of a file-backed sample; several
	// are merged by max (MVTec LOCO has one file per defect).
	MaskPaths []string
	// Aux holds paths of extra per-sample data, e.g. {"xyz": path} for the
	// point cloud of an MVTec 3D-AD sample (see LoadXYZ).
	Aux map[string]string

	zeroMask bool        // normal test sample of a dataset whose anomalous test samples all have masks
	nonZero  bool        // mask files are binarised as "any non-zero value" (LOCO), not at 0.5
	rle      *rleMask    // Severstal: ground truth as run-length runs
	defects  *locoConfig // LOCO: defects_config.json, for Regions
	w, h, c  int         // header size and channel count once read; 0 for unknown
}

// Loaded is a decoded sample.
type Loaded struct {
	Image  *imageio.Image
	Mask   *imageio.Map // 0/1 at image resolution; nil when unknown
	SHA256 string       // hex SHA-256 of the source file bytes (in-memory: of shape and pixels)
}

// HasMask reports whether ground truth is known for this sample. Normal
// test samples of a dataset whose anomalous test images all have masks
// count as having an all-zero mask.
func (s *Sample) HasMask() bool {
	return s.Mask != nil || len(s.MaskPaths) > 0 || s.rle != nil || s.zeroMask
}

// Load decodes the image (from Path, or Image for in-memory samples), its
// ground-truth mask at image resolution (0/1; nil when unknown; all-zero
// for normal samples when HasMask) and the SHA-256 of the source bytes.
// Errors name the file.
func (s *Sample) Load(opt imageio.Options) (Loaded, error) {
	if s.Image != nil {
		var m *imageio.Map
		switch {
		case s.Mask != nil:
			if err := imageio.CheckMask(s.Image, s.Mask, s.Name); err != nil {
				return Loaded{}, err
			}
			m = s.Mask
		case s.zeroMask:
			m = imageio.NewMap(s.Image.H, s.Image.W)
		}
		return Loaded{Image: s.Image, Mask: m, SHA256: hashImage(s.Image)}, nil
	}
	if s.Path == "" {
		return Loaded{}, fmt.Errorf("dataset: sample %q has neither a file nor an image", s.Name)
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return Loaded{}, fmt.Errorf("dataset: %w", err)
	}
	sum := sha256.Sum256(b)
	img, err := imageio.Decode(bytes.NewReader(b), s.Path, opt)
	if err != nil {
		return Loaded{}, err
	}
	m, err := s.loadMask(img, opt)
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Image: img, Mask: m, SHA256: hex.EncodeToString(sum[:])}, nil
}

// loadMask builds the ground truth of a file-backed sample for its decoded
// image.
func (s *Sample) loadMask(img *imageio.Image, opt imageio.Options) (*imageio.Map, error) {
	switch {
	case s.rle != nil:
		return s.rle.decode(img.H, img.W)
	case len(s.MaskPaths) > 0:
		var merged *imageio.Map
		for _, p := range s.MaskPaths {
			m, err := s.readMask(p, opt)
			if err != nil {
				return nil, err
			}
			if err := imageio.CheckMask(img, m, p); err != nil {
				return nil, err
			}
			if merged == nil {
				merged = m
				continue
			}
			for i, v := range m.Pix {
				merged.Pix[i] = max(merged.Pix[i], v)
			}
		}
		return merged, nil
	case s.zeroMask:
		return imageio.NewMap(img.H, img.W), nil
	}
	return nil, nil
}

// readMask reads one mask file with this sample's binarisation.
func (s *Sample) readMask(path string, opt imageio.Options) (*imageio.Map, error) {
	if !s.nonZero {
		return imageio.LoadMaskWith(path, opt)
	}
	img, err := imageio.LoadWith(path, opt)
	if err != nil {
		return nil, err
	}
	m := imageio.NewMap(img.H, img.W)
	hw := img.H * img.W
	for c := 0; c < img.C; c++ {
		for i, v := range img.Pix[c*hw : (c+1)*hw] {
			if v > 0 {
				m.Pix[i] = 1
			}
		}
	}
	return m, nil
}

// hashImage hashes an in-memory image: its shape (C, H, W as little-endian
// uint32) and then its float32 pixels (little-endian IEEE bits), so equal
// pixels of different shapes hash differently.
func hashImage(img *imageio.Image) string {
	h := sha256.New()
	var hdr [12]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(img.C))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(img.H))
	binary.LittleEndian.PutUint32(hdr[8:], uint32(img.W))
	h.Write(hdr[:])
	buf := make([]byte, 0, 4096)
	for _, v := range img.Pix {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// Dataset holds the splits. Val holds normal images kept for calibration,
// disjoint from Train.
type Dataset struct {
	Name   string
	Layout string   // the layout read: mvtec, folders, idx, mvtec_loco, mvtec_3d, severstal, nanotwice, csv, demo
	Train  []Sample // normal only
	Val    []Sample // normal only, disjoint from Train
	Test   []Sample
	// HasMasks is set when every anomalous test sample has a mask.
	HasMasks bool
	// NoMask names the anomalous test samples without a mask when some
	// (but not all) of them have one: pixel metrics are then undefined, and
	// these are why.
	NoMask []string
	// Warnings describe oddities of the data that do not stop loading,
	// with counts (mixed gray and colour, mixed sizes, masks without an
	// image, ...), in a fixed order.
	Warnings []string
	// Split records what reproduces the split: loading the same source with
	// Split.Apply gives the same Train, Val and Test.
	Split SplitInfo
}

// SplitInfo is what determines a dataset's split besides its files.
type SplitInfo struct {
	Seed         uint64  `json:"seed"`
	ValFraction  float64 `json:"val_fraction"`            // resolved: never 0 (see Options.ValFraction)
	MinVal       int     `json:"min_val"`                 // resolved: never 0 (see Options.MinVal)
	TestFraction float64 `json:"test_fraction,omitempty"` // share of normals held out for testing (folders-like layouts); 0 where the layout has a test split
	NormalClass  *int    `json:"normal_class,omitempty"`  // idx: the normal class
}

// Apply returns src and opt with the split parameters of s, so that a
// load with them reproduces the split s was recorded from.
func (s SplitInfo) Apply(src Source, opt Options) (Source, Options) {
	opt.Seed, opt.ValFraction, opt.MinVal = s.Seed, s.ValFraction, s.MinVal
	if s.TestFraction > 0 {
		opt.TestFraction = s.TestFraction
	}
	if s.NormalClass != nil {
		src.NormalClass, src.NormalClassSet = *s.NormalClass, true
	}
	return src, opt
}

// splitInfo records the resolved split options.
func (o Options) splitInfo(testFraction float64) SplitInfo {
	frac, minVal := o.valDefaults()
	return SplitInfo{Seed: o.Seed, ValFraction: frac, MinVal: minVal, TestFraction: testFraction}
}
