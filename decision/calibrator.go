package decision

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/internal/keyhist"
)

// MapLowQuantile is the quantile of the validation map values stored as
// Calibration.MapLow, the low anchor of the heatmap colour scale.
const MapLowQuantile = 0.01

// Calibrator computes a Calibration from validation samples streamed one at
// a time, so the validation anomaly maps never need to be in memory
// together (cross-conformal calibration feeds it every training normal's
// out-of-fold score and map).
//
// Image scores are kept (8 bytes each: the p-values need them all). Map
// pixels go to a bounded-memory key histogram (internal/keyhist, at most
// 6 MiB) from which the pixel threshold and MapLow are read. Both are
// exact when the bin holding the quantile holds a single distinct value —
// always the case for quantised (e.g. 8-bit) maps and for maps confined to
// a narrow range, where every float32 value gets its own bin; otherwise the
// pixel threshold is just above the largest value in that bin, so it never
// flags more validation pixels than the exact one, and exceeds it by less
// than the bin's width (2^-15 relative for maps filling 4 octaves, finer
// for narrower ones). MapLow is the smallest value of its bin, at most one
// bin below the exact percentile.
//
// NaN and ±Inf are refused with an error, in scores and in maps: failing
// closed, a NaN never becomes "normal".
type Calibrator struct {
	alpha  float64
	seed   uint64
	scores []float64
	pix    *keyhist.Hist
	nPix   int
	nMaps  int
}

// NewCalibrator returns an empty calibrator for target false-positive rate
// alpha; seed drives the bootstrap resampling. alpha is checked by Finish.
func NewCalibrator(alpha float64, seed uint64) *Calibrator {
	return &Calibrator{alpha: alpha, seed: seed}
}

// Add records one validation sample: its image score and, when not nil,
// its anomaly map. On error nothing is recorded.
func (c *Calibrator) Add(score float64, m *imageio.Map) error {
	i := len(c.scores)
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return fmt.Errorf("decision: validation sample %d: score is %v, want a finite number", i, score)
	}
	if m != nil {
		if err := c.addMap(m, fmt.Sprintf("validation sample %d", i)); err != nil {
			return err
		}
	}
	c.scores = append(c.scores, score)
	return nil
}

// AddMap records an anomaly map of a normal validation image whose score
// is recorded separately (or not at all). On error nothing is recorded.
func (c *Calibrator) AddMap(m *imageio.Map) error {
	if m == nil {
		return fmt.Errorf("decision: validation map %d is nil", c.nMaps)
	}
	return c.addMap(m, fmt.Sprintf("validation map %d", c.nMaps))
}

func (c *Calibrator) addMap(m *imageio.Map, what string) error {
	if len(m.Pix) != m.H*m.W {
		return fmt.Errorf("decision: %s: %d pixels for %dx%d", what, len(m.Pix), m.W, m.H)
	}
	for i, v := range m.Pix {
		if v != v || math.IsInf(float64(v), 0) {
			return fmt.Errorf("decision: %s: pixel (y=%d, x=%d) is %v, want a finite number", what, i/m.W, i%m.W, v)
		}
	}
	if c.pix == nil {
		c.pix = keyhist.New(0)
	}
	for _, v := range m.Pix {
		c.pix.Add(keyhist.Key(v), 1, 0)
	}
	c.nPix += len(m.Pix)
	c.nMaps++
	return nil
}

// N returns the number of validation scores recorded.
func (c *Calibrator) N() int { return len(c.scores) }

// pixelRank returns the bin holding the k-th smallest recorded pixel.
func (c *Calibrator) pixelRank(k int) keyhist.Bin {
	var hit keyhist.Bin
	below := 0.0
	c.pix.Ascend(func(b keyhist.Bin) bool {
		below += b.Neg
		hit = b
		return below < float64(k)
	})
	return hit
}

// Finish computes the Calibration (see Calibrate) from everything recorded.
// It fails without scores or with alpha outside (0, 1). The calibrator may
// be used further; Finish can be called again.
func (c *Calibrator) Finish() (Calibration, error) {
	if len(c.scores) == 0 {
		return Calibration{}, errors.New("decision: no validation scores")
	}
	t, err := ConformalThreshold(c.scores, c.alpha)
	if err != nil {
		return Calibration{}, err
	}
	cal := Calibration{
		Method: t.Method, Alpha: c.alpha, Threshold: t.Value, Rank: t.Rank, NVal: t.N,
		ValScores: slices.Sorted(slices.Values(c.scores)), Warning: t.Warning,
		ThreeSigma: ThreeSigma(c.scores).Value, BootstrapConfidence: CalibrationBootstrapConfidence,
	}
	_, cal.BootstrapLo, cal.BootstrapHi = Bootstrap(c.scores, c.alpha, CalibrationBootstrapB, CalibrationBootstrapConfidence, c.seed)
	if c.nPix > 0 {
		k := min(c.nPix, conformalRank(c.nPix, c.alpha))
		b := c.pixelRank(k)
		p := above(float64(b.Max()))
		cal.PixelThreshold = &p
		lowRank := max(1, int(math.Ceil(MapLowQuantile*float64(c.nPix))))
		low := float64(c.pixelRank(lowRank).Min())
		cal.MapLow = &low
	}
	return cal, nil
}
