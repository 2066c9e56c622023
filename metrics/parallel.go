package metrics

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/vigil-ad/vigil/imageio"
)

// addAll spreads the pairs over up to GOMAXPROCS private accumulators
// (worker w takes pairs w, w+W, w+2W, …), then merges them in worker order
// so the result depends only on the inputs and the worker count. On any
// error nothing is merged and the error of the lowest failing index is
// returned.
func addAll[A interface {
	Add(m, mask *imageio.Map) error
}](maps, masks []*imageio.Map, fresh func() A, merge func(A)) error {
	if len(maps) != len(masks) {
		return fmt.Errorf("metrics: %d anomaly maps but %d masks", len(maps), len(masks))
	}
	workers := min(runtime.GOMAXPROCS(0), len(maps))
	if workers == 0 {
		return nil
	}
	accs := make([]A, workers)
	errs := make([]error, len(maps))
	var wg sync.WaitGroup
	for w := range accs {
		accs[w] = fresh()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(maps); i += workers {
				if err := accs[w].Add(maps[i], masks[i]); err != nil {
					errs[i] = fmt.Errorf("image %d: %w", i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, a := range accs {
		merge(a)
	}
	return nil
}

// AddAll accumulates many (map, mask) pairs using up to GOMAXPROCS
// goroutines with private histograms merged at the end (counts are
// integers and bins pool exactly, so the result equals sequential Adds
// exactly while the budget leaves no bin unrefined). On error
// nothing is added.
func (p *PixelROC) AddAll(maps, masks []*imageio.Map) error {
	bins := p.h.Budget()
	return addAll(maps, masks, func() *PixelROC { return NewPixelROC(bins) }, p.Merge)
}

// AddAll accumulates many (map, mask) pairs like PixelROC.AddAll. Region
// weights are floating-point sums, so results may differ from sequential
// Adds in the last bits (deterministic for a given GOMAXPROCS).
func (p *PRO) AddAll(maps, masks []*imageio.Map) error {
	bins := p.h.Budget()
	return addAll(maps, masks, func() *PRO { return NewPRO(bins) }, p.Merge)
}
