package pipeline

import (
	"runtime"
	"sync"

	"github.com/vigil-ad/vigil/dataset"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/metrics"
)

// pixelAcc accumulates the pixel metrics of a scoring pass on a few
// workers, each with its own bounded-memory accumulators merged at the
// end (the merged bins do not depend on the order of the maps), so that
// metric work keeps up with scoring. Maps wait in a queue of one per
// worker: memory stays bounded.
type pixelAcc struct {
	jobs      chan pixelJob
	wg        sync.WaitGroup
	rocs      []*metrics.PixelROC
	pros      []*metrics.PRO
	spros     []*metrics.SPRO // nil unless sPRO is wanted
	maxPixels int

	mu   sync.Mutex
	errs map[int]error // by row index
}

type pixelJob struct {
	row     int
	m, mask *imageio.Map
	sample  *dataset.Sample
}

func newPixelAcc(spro bool, maxPixels int) *pixelAcc {
	n := runtime.GOMAXPROCS(0)
	a := &pixelAcc{jobs: make(chan pixelJob, n), maxPixels: maxPixels, errs: map[int]error{}}
	for w := range n {
		a.rocs = append(a.rocs, metrics.NewPixelROC(metrics.DefaultBins))
		a.pros = append(a.pros, metrics.NewPRO(metrics.DefaultBins))
		if spro {
			a.spros = append(a.spros, metrics.NewSPRO(metrics.DefaultBins))
		}
		a.wg.Add(1)
		go a.work(w)
	}
	return a
}

func (a *pixelAcc) work(w int) {
	defer a.wg.Done()
	for j := range a.jobs {
		err := a.rocs[w].Add(j.m, j.mask)
		if err == nil {
			err = a.pros[w].Add(j.m, j.mask)
		}
		if err == nil && a.spros != nil {
			err = addRegions(a.spros[w], j.m, j.sample, a.maxPixels)
		}
		if err != nil {
			a.mu.Lock()
			a.errs[j.row] = err
			a.mu.Unlock()
		}
	}
}

// add queues one image's map and mask (row is its index in the results).
func (a *pixelAcc) add(row int, r *ImageResult) {
	a.jobs <- pixelJob{row: row, m: r.Map, mask: r.Mask, sample: r.Sample}
}

// finish waits for the workers and merges their accumulators; errs are
// the images whose maps could not be accumulated, by row.
func (a *pixelAcc) finish() (*metrics.PixelROC, *metrics.PRO, *metrics.SPRO, map[int]error) {
	close(a.jobs)
	a.wg.Wait()
	for i := 1; i < len(a.rocs); i++ {
		a.rocs[0].Merge(a.rocs[i])
		a.pros[0].Merge(a.pros[i])
		if a.spros != nil {
			a.spros[0].Merge(a.spros[i])
		}
	}
	var spro *metrics.SPRO
	if a.spros != nil {
		spro = a.spros[0]
	}
	return a.rocs[0], a.pros[0], spro, a.errs
}

// addRegions feeds one image's defect regions (LOCO: one per mask file,
// each with its saturation area) to the sPRO accumulator.
func addRegions(spro *metrics.SPRO, m *imageio.Map, s *dataset.Sample, maxPixels int) error {
	regs, err := s.Regions(imageio.Options{MaxPixels: maxPixels})
	if err != nil {
		return err
	}
	sr := make([]metrics.SPRORegion, len(regs))
	for i, g := range regs {
		sr[i] = metrics.SPRORegion{Mask: g.Mask, Saturation: g.Saturation}
	}
	return spro.AddRegions(m, sr)
}
