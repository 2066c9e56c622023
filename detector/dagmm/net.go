package dagmm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// net is DAGMM's two networks: the compression network, a dense
// autoencoder on flattened patches (tanh between layers, linear code and
// output), and the estimation network, an MLP from z = [code, relative
// reconstruction distance, cosine similarity] to K softmax memberships
// (tanh, dropout).
type net struct {
	enc, dec []*nn.LinearLayer
	est      [2]*nn.LinearLayer
	dropout  float64
	training bool
}

func newNet(in int, hidden []int, latent, estHidden, k int, dropout float64, seed uint64) *net {
	rng := nn.NewRNG(seed)
	m := &net{dropout: dropout, training: true}
	widths := append(append([]int{in}, hidden...), latent)
	for i := 0; i+1 < len(widths); i++ {
		m.enc = append(m.enc, nn.NewLinear(widths[i], widths[i+1], true, rng))
	}
	for i := len(widths) - 1; i > 0; i-- {
		m.dec = append(m.dec, nn.NewLinear(widths[i], widths[i-1], true, rng))
	}
	m.est[0] = nn.NewLinear(latent+2, estHidden, true, rng)
	m.est[1] = nn.NewLinear(estHidden, k, true, rng)
	return m
}

// mlp applies the layers with tanh between them (not after the last).
func mlp(x *nn.Var, layers []*nn.LinearLayer) *nn.Var {
	for i, l := range layers {
		x = l.Forward(x)
		if i+1 < len(layers) {
			x = nn.Tanh(x)
		}
	}
	return x
}

// Forward reconstructs patches x [N,D].
func (m *net) Forward(x *nn.Var) *nn.Var { return mlp(mlp(x, m.enc), m.dec) }

// compress returns the reconstruction of x [N,D] and z [N,latent+2]. The
// norms get a tiny floor so a black patch or a perfect reconstruction
// keeps finite gradients.
func (m *net) compress(x *nn.Var) (recon, z *nn.Var) {
	code := mlp(x, m.enc)
	recon = mlp(code, m.dec)
	n := x.Shape()[0]
	xn := tensor.New(n, 1) // ‖x‖, data: no gradient needed
	d := x.Shape()[1]
	for i := 0; i < n; i++ {
		var s float64
		for _, v := range x.Value.Data[i*d : (i+1)*d] {
			s += float64(v) * float64(v)
		}
		xn.Data[i] = float32(math.Sqrt(s) + 1e-6)
	}
	xnorm := nn.NewVar(xn)
	dist := nn.Sqrt(nn.AddScalar(rowSum(nn.Square(nn.Sub(x, recon))), 1e-12))
	rnorm := nn.Sqrt(nn.AddScalar(rowSum(nn.Square(recon)), 1e-12))
	rel := nn.Div(dist, xnorm)
	cos := nn.Div(rowSum(nn.Mul(x, recon)), nn.Mul(xnorm, rnorm))
	return recon, nn.Concat(code, rel, cos)
}

// memberships returns the softmax memberships [N,K] of z; dropout draws
// from rng (nil outside training).
func (m *net) memberships(z *nn.Var, rng *rand.Rand) *nn.Var {
	h := nn.Tanh(m.est[0].Forward(z))
	h = nn.Dropout(h, m.dropout, m.training && rng != nil, rng)
	return nn.Softmax(m.est[1].Forward(h), 1)
}

// Params lists "enc.<i>.weight", "dec.<i>.bias", "est.<i>.weight", ….
func (m *net) Params() []*nn.Param {
	var ps []*nn.Param
	for i, l := range m.enc {
		ps = append(ps, nn.Prefix(fmt.Sprintf("enc.%d", i), l.Params())...)
	}
	for i, l := range m.dec {
		ps = append(ps, nn.Prefix(fmt.Sprintf("dec.%d", i), l.Params())...)
	}
	for i, l := range m.est {
		ps = append(ps, nn.Prefix(fmt.Sprintf("est.%d", i), l.Params())...)
	}
	return ps
}

// Train switches dropout on or off.
func (m *net) Train(on bool) { m.training = on }
