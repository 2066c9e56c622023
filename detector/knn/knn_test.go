package knn

import (
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/detector/detectortest"
)

func TestContractImageMode(t *testing.T) {
	detectortest.Run(t, "knn", `{"backbone":"random:1","size":64,"mode":"image","dim":16,"k":3,"seed":3}`, detectortest.Options{NoMap: true, Defect: 20})
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
