package knn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

func TestContractImageMode(t *testing.T) {
	detectortest.Run(t, "knn", `{"backbone":"random:1","size":64,"mode":"image","dim":16,"k":3,"seed":3}`, detectortest.Options{NoMap: true, Defect: 20, Progress: true})
}

func TestContractPatchModeWithClusters(t *testing.T) {
	detectortest.Run(t, "knn", `{"backbone":"random:1","size":64,"mode":"patch","dim":24,"k":1,"clusters":128,"seed":3}`, detectortest.Options{})
}

// k-means on well separated blobs recovers their centres.
func TestKMeansFindsBlobs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	centres := [][2]float32{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
	var x []float32
	for i := 0; i < 400; i++ {
		c := centres[i%4]
		x = append(x, c[0]+float32(r.NormFloat64()*0.3), c[1]+float32(r.NormFloat64()*0.3))
	}
	got := KMeans(x, 400, 2, 4, 10, 1)
	for _, c := range centres {
		found := false
		for j := 0; j < 4; j++ {
			dx, dy := got[2*j]-c[0], got[2*j+1]-c[1]
			if dx*dx+dy*dy < 0.05 {
				found = true
			}
		}
		if !found {
			t.Fatalf("centre %v not recovered: %v", c, got)
		}
	}
}

// PCA recovers a planted dominant direction, and project equals the
// centred dot products computed directly.
func TestPCAAndProject(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const n, in = 5000, 5
	u := []float64{1, 1, 0, 0, 0}
	for a := range u {
		u[a] /= math.Sqrt2
	}
	all := make([]float32, n*in)
	for i := 0; i < n; i++ {
		s := 3 * r.NormFloat64()
		for a := 0; a < in; a++ {
			all[i*in+a] = float32(2 + s*u[a] + 0.3*r.NormFloat64())
		}
	}
	d := &Detector{cfg: Config{Dim: 2}, in: in}
	if err := d.fitPCA(all, n); err != nil {
		t.Fatal(err)
	}
	var dot float64
	for a := 0; a < in; a++ {
		dot += float64(d.comp[a]) * u[a]
		if math.Abs(float64(d.mean[a])-2) > 0.2 {
			t.Fatalf("mean %v, want 2", d.mean)
		}
	}
	if math.Abs(math.Abs(dot)-1) > 1e-2 {
		t.Fatalf("first component %v, want ±%v", d.comp[:in], u)
	}
	z := d.project(all[:10*in], 10)
	for i := 0; i < 10; i++ {
		for j := 0; j < d.dim; j++ {
			var s float64
			for a := 0; a < in; a++ {
				s += float64(d.comp[j*in+a]) * float64(all[i*in+a]-d.mean[a])
			}
			if math.Abs(float64(z[i*d.dim+j])-s) > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("row %d coordinate %d: %v, want %v", i, j, z[i*d.dim+j], s)
			}
		}
	}
}
