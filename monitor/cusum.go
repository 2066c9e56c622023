// Package monitor watches streams of image scores (one per camera or line)
// with a sequential detector whose false-alarm rate is set as an ARL0: the
// mean number of in-control (normal) images between two false alarms.
//
// The detector is a one-sided CUSUM on normal scores of conformal ranks:
// each image score x becomes z = Φ⁻¹(1 − p), where p is the mid-rank
// p-value of x among the reference (validation) scores. Under control z is
// close to N(0, 1) whatever the scores' own distribution, so the allowance
// k is in standard deviations; an upward shift or a slow upward drift of
// the scores moves z up and the statistic S = max(0, S + z − k) grows
// until it crosses h. The threshold h for a target ARL0 is found by Monte
// Carlo: in-control streams are drawn by resampling the reference (each
// new normal score lands in one of the n+1 gaps between the sorted
// reference scores with equal probability, see gapZ), each h is scored
// by the mean run length over the same seeded streams (common random numbers make it monotone in h), and h is
// bisected to the target.
package monitor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Config sets up a CUSUM.
type Config struct {
	// ARL0 is the target mean run length to a false alarm, in images.
	ARL0 float64 `json:"arl0"`
	// K is the allowance in standard deviations of z: half the shift to
	// detect fastest (0.5: a one-sigma shift).
	K float64 `json:"k"`
	// Runs is the number of Monte Carlo in-control runs per trial h.
	Runs int `json:"runs"`
	// Seed seeds the Monte Carlo resampling.
	Seed uint64 `json:"seed"`
}

// DefaultConfig: ARL0 500, k = 0.5, 2000 runs (the ARL estimate's standard
// error is about ARL0/√Runs: ~2%).
func DefaultConfig() Config { return Config{ARL0: 500, K: 0.5, Runs: 2000, Seed: 1} }

// MinReference is the fewest reference scores Calibrate accepts: z is
// bounded by Φ⁻¹(1 − 0.5/(n+1)), and with fewer scores a single image
// cannot move the statistic far enough for a useful h.
const MinReference = 20

// CUSUM is a calibrated one-sided CUSUM. Its state (S and the run length)
// belongs to one stream: use Clone for each further stream.
type CUSUM struct {
	ref  []float64 // reference scores, sorted ascending
	K, H float64
	ARL0 float64
	// MCARL0 is the Monte Carlo mean run length at H (the calibration's
	// achieved value).
	MCARL0 float64

	s    float64
	last float64 // S after the latest update, before any restart
	run  int
}

// Reference checks scores for use as an in-control reference and returns
// them sorted (a copy).
func Reference(scores []float64) ([]float64, error) {
	if len(scores) < MinReference {
		return nil, fmt.Errorf("monitor: %d reference scores; need at least %d", len(scores), MinReference)
	}
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("monitor: reference score %d is %v", i, s)
		}
	}
	ref := slices.Clone(scores)
	sort.Float64s(ref)
	if ref[0] == ref[len(ref)-1] {
		return nil, errors.New("monitor: reference scores are all equal; they carry no spread to monitor against")
	}
	return ref, nil
}

// Z is the normal score of x against sorted reference scores: Φ⁻¹(1 − p)
// with the mid-rank p-value p = (#{r > x} + #{r = x}/2 + 1/2) / (n + 1),
// which stays inside (0, 1) so z is finite.
func Z(ref []float64, x float64) float64 {
	n := len(ref)
	lo := sort.SearchFloat64s(ref, x) // first r >= x
	hi := lo
	for hi < n && ref[hi] == x {
		hi++
	}
	gt := n - hi
	eq := hi - lo
	p := (float64(gt) + 0.5*float64(eq) + 0.5) / float64(n+1)
	return math.Sqrt2 * math.Erfinv(1-2*p) // Φ⁻¹(1-p)
}

// Calibrate finds h for cfg.ARL0 on the reference scores.
func Calibrate(scores []float64, cfg Config) (*CUSUM, error) {
	ref, err := Reference(scores)
	if err != nil {
		return nil, err
	}
	switch {
	case !(cfg.ARL0 >= 2) || math.IsInf(cfg.ARL0, 0):
		return nil, fmt.Errorf("monitor: arl0 %v: must be at least 2", cfg.ARL0)
	case !(cfg.K >= 0) || math.IsInf(cfg.K, 0):
		return nil, fmt.Errorf("monitor: k %v: must be finite and >= 0", cfg.K)
	case cfg.Runs < 10:
		return nil, fmt.Errorf("monitor: runs %d: need at least 10 Monte Carlo runs", cfg.Runs)
	}
	zs := gapZ(ref)
	if cfg.K >= zs[len(zs)-1] {
		return nil, fmt.Errorf("monitor: k %v is at least the largest reference z %.3g: the statistic could never grow", cfg.K, zs[len(zs)-1])
	}
	// a run that lasts far beyond the target is cut (counted at the cap):
	// it only pulls the mean down for h well above the answer
	maxRun := int(math.Min(50*cfg.ARL0, 1e7))
	arl := func(h float64) float64 {
		total := 0.0
		for r := 0; r < cfg.Runs; r++ {
			total += float64(runLength(zs, cfg.K, h, maxRun, rand.New(rand.NewPCG(cfg.Seed, uint64(r)))))
		}
		return total / float64(cfg.Runs)
	}
	lo, hi := 0.0, 1.0
	for arl(hi) < cfg.ARL0 {
		lo, hi = hi, 2*hi
		if hi > 1e4 {
			return nil, fmt.Errorf("monitor: no h reaches ARL0 %v with these reference scores", cfg.ARL0)
		}
	}
	for range 40 {
		mid := (lo + hi) / 2
		if arl(mid) < cfg.ARL0 {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo < 1e-4*hi {
			break
		}
	}
	return &CUSUM{ref: ref, K: cfg.K, H: hi, ARL0: cfg.ARL0, MCARL0: arl(hi)}, nil
}

// gapZ lists the z of an in-control score in each of the n+1 gaps of the
// sorted reference (below the least, between neighbours, above the
// greatest). Under exchangeability a new normal score falls in each gap
// with probability 1/(n+1), so drawing gaps uniformly resamples normal
// scores as they will be scored: a plain bootstrap of the reference values
// would give them the mid-rank of a tie and miss the two extreme gaps.
func gapZ(ref []float64) []float64 {
	n := len(ref)
	zs := make([]float64, n+1)
	span := ref[n-1] - ref[0]
	zs[0] = Z(ref, ref[0]-span)
	zs[n] = Z(ref, ref[n-1]+span)
	for i := 1; i < n; i++ {
		zs[i] = Z(ref, ref[i-1]+(ref[i]-ref[i-1])/2)
	}
	return zs
}

// runLength is one in-control run: images until S > h (or maxRun).
func runLength(zs []float64, k, h float64, maxRun int, rng *rand.Rand) int {
	s := 0.0
	for t := 1; t <= maxRun; t++ {
		s = math.Max(0, s+zs[rng.IntN(len(zs))]-k)
		if s > h {
			return t
		}
	}
	return maxRun
}

// New makes a CUSUM with a known h (no calibration).
func New(scores []float64, k, h float64) (*CUSUM, error) {
	ref, err := Reference(scores)
	if err != nil {
		return nil, err
	}
	if !(k >= 0) || !(h > 0) || math.IsInf(k, 0) || math.IsInf(h, 0) {
		return nil, fmt.Errorf("monitor: k %v, h %v: need k >= 0 and h > 0, finite", k, h)
	}
	return &CUSUM{ref: ref, K: k, H: h}, nil
}

// Clone is a CUSUM with the same calibration and a fresh state.
func (c *CUSUM) Clone() *CUSUM {
	d := *c
	d.s, d.last, d.run = 0, 0, 0
	return &d
}

// Reference returns the sorted reference scores (shared: do not modify).
func (c *CUSUM) Reference() []float64 { return c.ref }

// Statistic is the current S.
func (c *CUSUM) Statistic() float64 { return c.s }

// Last is S after the latest update before any restart (at an alarm: the
// value that crossed h).
func (c *CUSUM) Last() float64 { return c.last }

// Update adds one score. It reports an alarm when S crosses h, with the
// run length since the last restart, and restarts (S = 0). A non-finite
// score is an error and leaves the state unchanged.
func (c *CUSUM) Update(x float64) (alarm bool, runLength int, err error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return false, 0, fmt.Errorf("monitor: score %v is not finite", x)
	}
	c.run++
	c.s = math.Max(0, c.s+Z(c.ref, x)-c.K)
	c.last = c.s
	if c.s > c.H {
		n := c.run
		c.s, c.run = 0, 0
		return true, n, nil
	}
	return false, 0, nil
}
