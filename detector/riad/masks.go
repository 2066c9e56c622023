package riad

import (
	"math/rand/v2"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
)

// partition splits an h×w image into a grid of k×k tiles (the last row and
// column of tiles cut by the border) and deals the tiles, in an order
// permuted by rng, to n masks in turn, so each mask hides about 1/n of the
// tiles and every pixel is hidden by exactly one mask. It returns the
// mask that hides each pixel, row-major.
func partition(h, w, k, n int, rng *rand.Rand) []uint8 {
	th, tw := (h+k-1)/k, (w+k-1)/k
	owner := make([]uint8, th*tw)
	for i, t := range rng.Perm(th * tw) {
		owner[t] = uint8(i % n)
	}
	pix := make([]uint8, h*w)
	for y := 0; y < h; y++ {
		row := owner[(y/k)*tw:]
		for x := 0; x < w; x++ {
			pix[y*w+x] = row[x/k]
		}
	}
	return pix
}

// masked returns the network inputs and the merge weights for a batch x
// [B,C,H,W] and a partition into n masks: inputs [n·B,C,H,W], block j
// (items j·B … j·B+B−1) being x with the pixels of mask j set to 0, and
// hidden of the same shape, 1 exactly where block j's pixels were hidden.
func masked(x *tensor.Tensor, owner []uint8, n int) (inputs, hidden *tensor.Tensor) {
	b, c, h, w := x.Dims4("riad")
	hw := h * w
	inputs, hidden = tensor.New(n*b, c, h, w), tensor.New(n*b, c, h, w)
	for j := 0; j < n; j++ {
		for i := 0; i < b*c; i++ {
			src := x.Data[i*hw : (i+1)*hw]
			in := inputs.Data[(j*b*c+i)*hw : (j*b*c+i+1)*hw]
			hid := hidden.Data[(j*b*c+i)*hw : (j*b*c+i+1)*hw]
			for p, o := range owner {
				if int(o) == j {
					hid[p] = 1
				} else {
					in[p] = src[p]
				}
			}
		}
	}
	return inputs, hidden
}

// merge combines the n inpaintings out [n·B,C,H,W] into one image per
// item, [B,C,H,W], each pixel taken from the inpainting whose mask hid it:
// Σ_j out_j ⊙ hidden_j, differentiable in out.
func merge(out *nn.Var, hidden *tensor.Tensor, n int) *nn.Var {
	s := out.Shape()
	per := len(out.Value.Data) / n
	picked := nn.Reshape(nn.Mul(out, nn.NewVar(hidden)), n, per)
	ones := tensor.New(1, n)
	ones.Fill(1)
	return nn.Reshape(nn.MatMul(nn.NewVar(ones), picked), s[0]/n, s[1], s[2], s[3])
}
