package ae

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vigil-ad/vigil/imageio"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// criterion is one reconstruction measure: a training loss on a batch and
// the same measure computed per pixel for the anomaly map.
type criterion struct {
	loss func(recon, x *nn.Var) *nn.Var
	// dissim returns the per-pixel dissimilarity [N,C,H,W] or, for the
	// measures that pool channels themselves, [N,1,H,W] (0 for a perfect
	// reconstruction); the map is its channel mean.
	dissim func(recon, x *tensor.Tensor) *tensor.Tensor
}

// criteria are the measures a loss spec may name.
var criteria = map[string]criterion{
	"l2":     {loss: nn.MSELoss, dissim: squaredResidual},
	"ssim":   {loss: nn.SSIMLoss, dissim: func(r, x *tensor.Tensor) *tensor.Tensor { return oneMinus(nn.SSIMMap(r, x)) }},
	"msssim": {loss: nn.MSSSIMLoss, dissim: nn.MSSSIMMap},
	"cwssim": {loss: nn.CWSSIMLoss, dissim: nn.CWSSIMMap},
	"msgms":  {loss: nn.MSGMSLoss, dissim: nn.MSGMSMap},
}

// criterionNames lists the accepted names for error messages.
const criterionNames = "l2, ssim, msssim, cwssim, msgms"

func squaredResidual(r, x *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(r.Shape...)
	for i, v := range r.Data {
		d := v - x.Data[i]
		out.Data[i] = d * d
	}
	return out
}

// blurredSquaredResidual is squaredResidual of the residual blurred per
// plane with a Gaussian of standard deviation sigma.
func blurredSquaredResidual(r, x *tensor.Tensor, sigma float64) *tensor.Tensor {
	_, c, h, w := x.Dims4("ae map")
	out := tensor.New(r.Shape...)
	m := imageio.NewMap(h, w)
	for p := 0; p < c; p++ {
		rp, xp := r.Data[p*h*w:(p+1)*h*w], x.Data[p*h*w:(p+1)*h*w]
		for i := range m.Pix {
			m.Pix[i] = rp[i] - xp[i]
		}
		b := imageio.GaussianSmooth(m, sigma)
		for i, v := range b.Pix {
			out.Data[p*h*w+i] = v * v
		}
	}
	return out
}

// oneMinus turns a similarity map into a dissimilarity map in place.
func oneMinus(s *tensor.Tensor) *tensor.Tensor {
	for i, v := range s.Data {
		s.Data[i] = 1 - v
	}
	return s
}

// term is one weighted criterion of a loss spec.
type term struct {
	name   string
	weight float64
	crit   criterion
}

// lossSpec is a parsed loss: a weighted sum of distinct criteria.
type lossSpec []term

// parseLoss reads "name" or a sum of "[weight*]name" terms, e.g.
// "ssim+0.5*l2". Weights must be positive and finite; a criterion may
// appear once. Errors name the offending term.
func parseLoss(s string) (lossSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("loss is empty (want %s, or a sum such as ssim+0.5*l2)", criterionNames)
	}
	var spec lossSpec
	seen := map[string]bool{}
	for _, raw := range strings.Split(s, "+") {
		t := strings.TrimSpace(raw)
		w := 1.0
		name := t
		if ws, n, ok := strings.Cut(t, "*"); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(ws), 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("loss term %q: weight %q must be a positive number", t, strings.TrimSpace(ws))
			}
			w, name = v, strings.TrimSpace(n)
		}
		c, ok := criteria[name]
		if !ok {
			return nil, fmt.Errorf("loss term %q: unknown criterion %q (want %s)", t, name, criterionNames)
		}
		if seen[name] {
			return nil, fmt.Errorf("loss term %q: criterion %s appears twice", t, name)
		}
		seen[name] = true
		spec = append(spec, term{name: name, weight: w, crit: c})
	}
	return spec, nil
}

// Loss returns the weighted training loss of a reconstruction.
func (s lossSpec) Loss(recon, x *nn.Var) *nn.Var {
	var total *nn.Var
	for _, t := range s {
		l := t.crit.loss(recon, x)
		if t.weight != 1 {
			l = nn.Scale(l, float32(t.weight))
		}
		if total == nil {
			total = l
		} else {
			total = nn.Add(total, l)
		}
	}
	return total
}

// Map returns the weighted per-pixel dissimilarity of one reconstruction
// (recon and x [1,C,H,W]) as H×W values, averaged over channels. With
// blur > 0 the l2 term squares the residual after a Gaussian blur of that
// sigma: zero-mean pixel noise that no autoencoder reproduces cancels,
// while a defect wider than the noise grain keeps its residual.
func (s lossSpec) Map(recon, x *tensor.Tensor, blur float64) []float32 {
	_, _, h, w := x.Dims4("ae map")
	hw := h * w
	out := make([]float32, hw)
	for _, t := range s {
		var d *tensor.Tensor
		if t.name == "l2" && blur > 0 {
			d = blurredSquaredResidual(recon, x, blur)
		} else {
			d = t.crit.dissim(recon, x)
		}
		c := d.Shape[1]
		k := float32(t.weight / float64(c))
		for ch := 0; ch < c; ch++ {
			for i, v := range d.Data[ch*hw : (ch+1)*hw] {
				out[i] += k * v
			}
		}
	}
	return out
}
