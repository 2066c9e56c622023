package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Options controls dataset loading.
type Options struct {
	// Seed fixes every random choice (validation and test splits).
	Seed uint64
	// ValFraction is the share of the training normals moved to Val.
	// 0 means 0.1; a negative value means none (only MinVal counts).
	ValFraction float64
	// MinVal is the smallest validation split. 0 means 5; a negative value
	// means no minimum. With ValFraction < 0 and MinVal < 0, Val is empty.
	MinVal int
	// MaxPixels refuses larger images (see imageio.Options); 0 means the
	// imageio default.
	MaxPixels int
	// SkipTrain leaves Train and Val empty and SkipTest leaves Test empty
	// (HasMasks false, no NoMask), without reading their headers: fitting
	// needs no test images and testing no training images. Splits are
	// still computed as usual, so the other splits are the same as in a
	// full load. With SkipTrain, layouts with their own test folder (mvtec,
	// mvtec_loco, mvtec_3d) need no training folder at all.
	SkipTrain, SkipTest bool
	// TestFraction is the share of the normal images held out as normal
	// test images by layouts without a test split of their own (folders,
	// Severstal, NanoTWICE, a manifest without a split column); 0 means
	// 0.2. At least one image is always held out.
	TestFraction float64
}

func (o Options) testFraction() float64 {
	if o.TestFraction <= 0 {
		return 0.2
	}
	return o.TestFraction
}

// holdOutNormals moves a seeded TestFraction of normals (at least one) to
// the test split and carves Val from the rest; folder names the source in
// errors.
func holdOutNormals(normals []Sample, opt Options, folder string) (train, val, test []Sample, err error) {
	n := len(normals)
	nTest := max(1, int(math.Round(opt.testFraction()*float64(n))))
	if n-nTest < 1 {
		return nil, nil, nil, fmt.Errorf("dataset: %s has %d normal images; need at least %d (%g%% are held out for testing)", folder, n, nTest+1, 100*opt.testFraction())
	}
	rest, test := partition(normals, pickSubset(n, nTest, opt.Seed, streamTestNorm))
	train, val, err = splitVal(rest, opt, folder)
	return train, val, test, err
}

// dropSkipped empties the splits the options skip.
func (o Options) dropSkipped(ds *Dataset) {
	if o.SkipTrain {
		ds.Train, ds.Val = nil, nil
	}
	if o.SkipTest {
		ds.Test = nil
		ds.HasMasks, ds.NoMask = false, nil
	}
}

// valDefaults resolves ValFraction and MinVal's zero values (0.1 and 5).
func (o Options) valDefaults() (frac float64, minVal int) {
	frac, minVal = o.ValFraction, o.MinVal
	if frac == 0 {
		frac = 0.1
	}
	if minVal == 0 {
		minVal = 5
	}
	return frac, minVal
}

func (o Options) valCount(n int) int {
	frac, minVal := o.valDefaults()
	k := 0
	if frac > 0 {
		k = int(math.Round(frac * float64(n)))
	}
	return max(k, minVal, 0)
}

// Stream constants keep the different seeded choices independent.
const (
	streamVal      = 0x76616c5f73706c74 // "val_splt"
	streamTestNorm = 0x74657374_6e726d6c
	streamDemo     = 0x64656d6f_67656e30
)

// pickSubset returns a sorted random subset of k indices of [0,n),
// determined by seed and stream.
func pickSubset(n, k int, seed, stream uint64) []int {
	rng := rand.New(rand.NewPCG(seed, stream))
	perm := rng.Perm(n)[:k]
	sort.Ints(perm)
	return perm
}

// splitVal moves a seeded random subset of samples to the validation split
// and keeps the order of both parts. folder names the source in errors.
func splitVal(samples []Sample, opt Options, folder string) (train, val []Sample, err error) {
	n := len(samples)
	k := opt.valCount(n)
	if n-k < 1 {
		return nil, nil, fmt.Errorf("dataset: %s has %d normal training images; need more than the %d taken for validation", folder, n, k)
	}
	train, val = partition(samples, pickSubset(n, k, opt.Seed, streamVal))
	return train, val, nil
}

// partition splits samples into those not in idx and those in idx (idx
// sorted ascending), both in original order.
func partition(samples []Sample, idx []int) (rest, picked []Sample) {
	j := 0
	for i, s := range samples {
		if j < len(idx) && idx[j] == i {
			picked = append(picked, s)
			j++
		} else {
			rest = append(rest, s)
		}
	}
	return rest, picked
}

// parallelDo runs fn(i) for i in [0,n) on GOMAXPROCS workers. It returns
// the error with the lowest index, so failures are reported
// deterministically; after a failure unclaimed work is skipped.
func parallelDo(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				// every claimed index runs, and claims are in order, so the
				// lowest failing index is always found
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
