package patchcore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
	"github.com/vigil-ad/vigil/embedding"
	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/tensor"
)

// Every streamed row ends in the reservoir with probability cap/total
// (a uniform sample, as stats.Coreset's own candidate subset is).
func TestReservoirIsUniform(t *testing.T) {
	const total, capacity, trials = 20, 5, 4000
	rows := make([]float32, total)
	for i := range rows {
		rows[i] = float32(i)
	}
	count := make([]int, total)
	for s := 0; s < trials; s++ {
		var p reservoir
		p.init(1, total, capacity, uint64(s))
		// Offered in uneven pieces, as batches arrive.
		p.add(rows[:3])
		p.add(rows[3:11])
		p.add(rows[11:])
		got, m := p.rows()
		if m != capacity {
			t.Fatalf("reservoir holds %d rows, want %d", m, capacity)
		}
		seen := map[float32]bool{}
		for _, v := range got {
			if seen[v] {
				t.Fatalf("row %v kept twice", v)
			}
			seen[v] = true
			count[int(v)]++
		}
	}
	// Expected trials·cap/total = 1000 per row, sd ≈ 27.
	for i, c := range count {
		if c < 850 || c > 1150 {
			t.Errorf("row %d kept %d times in %d trials, want about 1000", i, c, trials)
		}
	}
	// Under the capacity every row is kept, in order.
	var p reservoir
	p.init(1, 4, 10, 1)
	p.add(rows[:4])
	if got, m := p.rows(); m != 4 || !slices.Equal(got, rows[:4]) {
		t.Fatalf("under capacity kept %v, want %v", got, rows[:4])
	}
}

func testImages(n int, seed uint64) []*imageio.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]*imageio.Image, n)
	for i := range out {
		im := imageio.New(3, 40, 48)
		for j := range im.Pix {
			im.Pix[j] = r.Float32()
		}
		out[i] = im
	}
	return out
}

// FitStream fetches batches in order and builds the same bank as Fit;
// with a small max_bank the reservoir (not all rows) feeds the coreset
// and the bank has max_bank rows from the training patches.
func TestFitStreamMatchesFit(t *testing.T) {
	imgs := testImages(11, 7)
	for _, cfg := range []string{
		`{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.25,"seed":3,"batch":4}`,
		`{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.5,"max_bank":7,"seed":3,"batch":4}`,
	} {
		a, err := New(json.RawMessage(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Fit(context.Background(), imgs); err != nil {
			t.Fatal(err)
		}
		b, _ := New(json.RawMessage(cfg))
		var calls []string
		err = b.FitStream(context.Background(), len(imgs), func(lo, hi int) ([]*imageio.Image, error) {
			calls = append(calls, fmt.Sprint(lo, hi))
			return imgs[lo:hi], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"0 4", "4 8", "8 11"}; !slices.Equal(calls, want) {
			t.Fatalf("load calls %v, want %v", calls, want)
		}
		if a.bank.N != b.bank.N || !slices.Equal(a.bank.Data, b.bank.Data) {
			t.Fatalf("%s: FitStream bank (%d rows) differs from Fit's (%d rows)", cfg, b.bank.N, a.bank.N)
		}
		if strings.Contains(cfg, "max_bank") && b.bank.N != 7 {
			t.Fatalf("bank has %d rows, want max_bank 7", b.bank.N)
		}
	}
	d, _ := New(json.RawMessage(`{"backbone":"random:1","size":32,"batch":4}`))
	err := d.FitStream(context.Background(), 6, func(lo, hi int) ([]*imageio.Image, error) {
		if lo > 0 {
			return nil, fmt.Errorf("image %d: unreadable", lo)
		}
		return imgs[lo:hi], nil
	})
	if err == nil || !strings.Contains(err.Error(), "image 4") {
		t.Fatalf("load error not passed on: %v", err)
	}
}

// The ivf search passes the detector contract (its lists are rebuilt
// identically on Restore, so saved and loaded scores agree).
func TestContractIVF(t *testing.T) {
	detectortest.Run(t, "patchcore", `{"backbone":"random:1","size":64,"taps":[0,1],"ratio":0.25,"seed":3,"search":"ivf","ivf_lists":6,"nprobe":2}`, detectortest.Options{NTrain: 12})
}

// With nprobe covering every list the ivf search is exact: the same
// scores as search "exact".
func TestIVFAllListsEqualsExact(t *testing.T) {
	train, test := testImages(8, 1), testImages(3, 2)
	var scores [2][]float64
	for k, cfg := range []string{
		`{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.5,"seed":3}`,
		`{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.5,"seed":3,"search":"ivf","ivf_lists":5,"nprobe":5}`,
	} {
		d, err := New(json.RawMessage(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Fit(context.Background(), train); err != nil {
			t.Fatal(err)
		}
		res, err := d.Score(context.Background(), test)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			scores[k] = append(scores[k], r.Score)
		}
	}
	for i := range scores[0] {
		if math.Abs(scores[0][i]-scores[1][i]) > 1e-4*(1+math.Abs(scores[0][i])) {
			t.Fatalf("image %d: ivf over all lists scores %v, exact %v", i, scores[1][i], scores[0][i])
		}
	}
	if _, err := New(json.RawMessage(`{"search":"hnsw"}`)); err == nil || !strings.Contains(err.Error(), "search") {
		t.Fatalf("search hnsw: %v", err)
	}
}

// With half the fitted bank is held as float16 (half the memory) and its
// scores equal those of a float32 bank holding the rounded values.
func TestHalfBankIsFloat16(t *testing.T) {
	train, test := testImages(6, 3), testImages(2, 4)
	cfg := `{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.5,"seed":3,"half":true}`
	d, err := New(json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	if !d.bank.Half() || d.bank.Data != nil {
		t.Fatal("half: bank not stored as float16")
	}
	got, err := d.Score(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, 0, d.bank.N*d.dim)
	for i := 0; i < d.bank.N; i++ {
		f = append(f, d.bank.Row(i, nil)...)
	}
	e := *d
	e.cfg.Half = false
	if err := e.setBank(f, d.bank.N); err != nil {
		t.Fatal(err)
	}
	want, _ := e.Score(context.Background(), test)
	for i := range got {
		if got[i].Score != want[i].Score {
			t.Fatalf("image %d: half bank scores %v, float32 bank of the same values %v", i, got[i].Score, want[i].Score)
		}
	}
}

// Score searches the reweighting neighbours of a batch's images in one
// call; its image scores equal imageScore's image by image.
func TestBatchedReweightMatchesPerImage(t *testing.T) {
	train, test := testImages(6, 5), testImages(5, 6)
	d, err := New(json.RawMessage(`{"backbone":"random:1","size":32,"taps":[0,1],"ratio":0.3,"seed":3,"batch":4}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	got, err := d.Score(context.Background(), test)
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := d.Extractor(d.cfg.Source)
	L := d.h * d.w
	err = embedding.Extract(ex, d.cfg.Geometry, test, 1, func(i int, f []*tensor.Tensor) error {
		rows, _, _, _, _, err := d.patches(ex, f)
		if err != nil {
			return err
		}
		dist, idx := d.bank.Search(rows, L, 1)
		_, want := d.imageScore(rows, dist, idx)
		if math.Abs(got[i].Score-want) > 1e-5*(1+math.Abs(want)) {
			t.Errorf("image %d: Score %v, per-image imageScore %v", i, got[i].Score, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
