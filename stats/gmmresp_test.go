package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// One M-step by hand: weights, means and covariances are the
// responsibility-weighted moments.
func TestGMMFromResponsibilities(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	const n, d, k = 40, 2, 2
	x := make([]float32, n*d)
	resp := make([]float64, n*k)
	for i := 0; i < n; i++ {
		x[i*d], x[i*d+1] = float32(rng.NormFloat64()), float32(2*rng.NormFloat64()+1)
		r := rng.Float64()
		resp[i*k], resp[i*k+1] = r, 1-r
	}
	g, err := GMMFromResponsibilities(x, n, d, resp, k, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < k; c++ {
		var nk, m0, m1 float64
		for i := 0; i < n; i++ {
			r := resp[i*k+c]
			nk += r
			m0 += r * float64(x[i*d])
			m1 += r * float64(x[i*d+1])
		}
		m0, m1 = m0/nk, m1/nk
		var c00, c01, c11 float64
		for i := 0; i < n; i++ {
			r := resp[i*k+c]
			a, b := float64(x[i*d])-m0, float64(x[i*d+1])-m1
			c00 += r * a * a
			c01 += r * a * b
			c11 += r * b * b
		}
		c00, c01, c11 = c00/nk, c01/nk, c11/nk
		if math.Abs(g.Weights[c]-nk/n) > 1e-12 {
			t.Errorf("weight %d = %v, want %v", c, g.Weights[c], nk/n)
		}
		comp := g.Components[c]
		if math.Abs(float64(comp.Mean[0])-m0) > 1e-5 || math.Abs(float64(comp.Mean[1])-m1) > 1e-5 {
			t.Errorf("mean %d = %v, want [%v %v]", c, comp.Mean, m0, m1)
		}
		if want := math.Log(c00*c11 - c01*c01); math.Abs(comp.LogDet()-want) > 1e-4 {
			t.Errorf("log det %d = %v, want %v", c, comp.LogDet(), want)
		}
		// Mahalanobis of the point (m0+1, m1): Σ⁻¹[0,0] = c11/det.
		p := []float32{float32(m0 + 1), float32(m1)}
		if got, want := comp.SqMahalanobis(p), c11/(c00*c11-c01*c01); math.Abs(got-want) > 1e-4*want {
			t.Errorf("Mahalanobis %d = %v, want %v", c, got, want)
		}
	}
	if _, err := GMMFromResponsibilities(x, n, d, resp[:n], k, 0, false); err == nil {
		t.Error("short responsibilities accepted")
	}
	resp[3] = math.NaN()
	if _, err := GMMFromResponsibilities(x, n, d, resp, k, 0, false); err == nil {
		t.Error("NaN responsibility accepted")
	}
}
