package dataset

import (
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/vigil-ad/vigil/imageio"
)

// patches returns every p×p RGB patch of img at the given stride, flattened.
func patches(img *imageio.Image, p, stride int) [][]float64 {
	var out [][]float64
	for y := 0; y+p <= img.H; y += stride {
		for x := 0; x+p <= img.W; x += stride {
			v := make([]float64, 0, img.C*p*p)
			for c := 0; c < img.C; c++ {
				for dy := 0; dy < p; dy++ {
					for dx := 0; dx < p; dx++ {
						v = append(v, float64(img.At(c, y+dy, x+dx)))
					}
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// auroc is the probability that a random positive scores above a random
// negative (ties count half).
func auroc(pos, neg []float64) float64 {
	var s float64
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				s++
			case p == n:
				s += 0.5
			}
		}
	}
	return s / float64(len(pos)*len(neg))
}

// The demo must be solvable by a simple detector: patch PCA fitted on the
// training normals, scoring an image by its worst patch reconstruction
// error, separates defective from normal test images. And it must not be
// trivial: the mean colour of an image alone must not separate them.
func TestDemoSeparableByPatchPCA(t *testing.T) {
	const p, stride = 6, 3
	for _, fam := range DemoFamilies() {
		ds := Demo(DemoOptions{Seed: 21, Family: fam, Size: 48, NTrain: 30, NTestGood: 12, NTestBad: 24})
		var X [][]float64
		for _, s := range ds.Train {
			X = append(X, patches(s.Image, p, stride)...)
		}
		d := len(X[0])
		mean := make([]float64, d)
		for _, v := range X {
			for i, x := range v {
				mean[i] += x / float64(len(X))
			}
		}
		xc := mat.NewDense(len(X), d, nil)
		for r, v := range X {
			for i := range v {
				xc.Set(r, i, v[i]-mean[i])
			}
		}
		cov := mat.NewSymDense(d, nil)
		cov.SymOuterK(1/float64(len(X)), xc.T())
		var eig mat.EigenSym
		if !eig.Factorize(cov, true) {
			t.Fatal("eigendecomposition failed")
		}
		vals := eig.Values(nil) // ascending
		var vecs mat.Dense
		eig.VectorsTo(&vecs)
		total := 0.0
		for _, v := range vals {
			total += v
		}
		// keep the leading components explaining 95% of the variance
		k, acc := 0, 0.0
		for i := d - 1; i >= 0 && acc < 0.95*total; i-- {
			acc += vals[i]
			k++
		}
		basis := vecs.Slice(0, d, d-k, d)
		score := func(img *imageio.Image) float64 {
			worst := 0.0
			for _, v := range patches(img, p, stride) {
				for i := range v {
					v[i] -= mean[i]
				}
				x := mat.NewVecDense(d, v)
				var coef, rec mat.VecDense
				coef.MulVec(basis.T(), x)
				rec.MulVec(basis, &coef)
				rec.SubVec(x, &rec)
				worst = max(worst, mat.Dot(&rec, &rec))
			}
			return worst
		}
		var pos, neg, posMean, negMean []float64
		perDef := map[string][]float64{}
		for _, s := range ds.Test {
			if s.Label == 1 {
				perDef[s.Defect] = append(perDef[s.Defect], score(s.Image))
			}
			m := 0.0
			for _, v := range s.Image.Pix {
				m += float64(v)
			}
			if s.Label == 1 {
				pos, posMean = append(pos, score(s.Image)), append(posMean, m)
			} else {
				neg, negMean = append(neg, score(s.Image)), append(negMean, m)
			}
		}
		a := auroc(pos, neg)
		for d, v := range perDef {
			t.Logf("  %s %s %.3f", fam, d, auroc(v, neg))
		}
		am := auroc(posMean, negMean)
		am = max(am, 1-am)
		t.Logf("%s: k=%d of %d, patch-PCA AUROC %.3f, mean-colour AUROC %.3f", fam, k, d, a, am)
		if a < 0.9 {
			t.Errorf("%s: patch PCA AUROC %.3f, want >= 0.9", fam, a)
		}
		if am > 0.9 {
			t.Errorf("%s: mean colour alone separates the classes (AUROC %.3f)", fam, am)
		}
	}
}
