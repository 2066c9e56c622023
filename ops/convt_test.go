package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// naiveConvT scatters every input through the kernel, in float64.
func naiveConvT(x, w, b *tensor.Tensor, p ConvT2D) *tensor.Tensor {
	q := p.conv()
	n, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	coutg, kh, kw := w.Shape[1], w.Shape[2], w.Shape[3]
	cout := coutg * q.Groups
	cing := cin / q.Groups
	oh, ow := p.OutSize(h, wd, kh, kw)
	acc := make([]float64, n*cout*oh*ow)
	for img := 0; img < n; img++ {
		for ci := 0; ci < cin; ci++ {
			g := ci / cing
			for iy := 0; iy < h; iy++ {
				for ix := 0; ix < wd; ix++ {
					xv := float64(x.Data[((img*cin+ci)*h+iy)*wd+ix])
					for co := 0; co < coutg; co++ {
						for ki := 0; ki < kh; ki++ {
							for kj := 0; kj < kw; kj++ {
								oy := iy*q.StrideH - q.PadT + ki*q.DilH
								ox := ix*q.StrideW - q.PadL + kj*q.DilW
								if oy < 0 || oy >= oh || ox < 0 || ox >= ow {
									continue
								}
								acc[((img*cout+g*coutg+co)*oh+oy)*ow+ox] += xv * float64(w.Data[((ci*coutg+co)*kh+ki)*kw+kj])
							}
						}
					}
				}
			}
		}
	}
	y := tensor.New(n, cout, oh, ow)
	for i, v := range acc {
		if b != nil {
			v += float64(b.Data[(i/(oh*ow))%cout])
		}
		y.Data[i] = float32(v)
	}
	return y
}

type convTCase struct {
	n, cin, h, w, coutg, kh, kw int
	p                           ConvT2D
}

var convTCases = []convTCase{
	{2, 3, 4, 5, 2, 3, 3, ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, OutPadH: 1, OutPadW: 1}},
	{1, 4, 5, 4, 3, 4, 4, ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 4, 3, 4, 2, 3, 3, ConvT2D{Groups: 2, PadT: 0, PadL: 1, PadB: 2, PadR: 0}},
	{1, 2, 4, 4, 3, 3, 2, ConvT2D{StrideH: 3, StrideW: 1, DilH: 2, DilW: 1, OutPadH: 1}},
	{3, 5, 6, 6, 4, 1, 1, ConvT2D{}},
	// 32 input channels per group: the weight gradient is accumulated
	// transposed (transposeFits), with and without groups.
	{2, 32, 5, 6, 3, 4, 4, ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
	{2, 64, 4, 4, 2, 3, 3, ConvT2D{Groups: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}},
}

func TestConvTranspose2dForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range convTCases {
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cin, c.coutg, c.kh, c.kw)
		g := max(c.p.Groups, 1)
		b := randT(rng, c.coutg*g)
		name := fmt.Sprintf("%+v", c)
		closeT(t, name, ConvTranspose2dForward(x, w, b, c.p).Data, naiveConvT(x, w, b, c.p).Data, 1e-4)
		closeT(t, name+" nobias", ConvTranspose2dForward(x, w, nil, c.p).Data, naiveConvT(x, w, nil, c.p).Data, 1e-4)
	}
}

// TestConvTransposeIsConvAdjoint: <conv(y), x> = <y, convT(x)> with the
// same weights and geometry.
func TestConvTransposeIsConvAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range convTCases {
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cin, c.coutg, c.kh, c.kw)
		yt := ConvTranspose2dForward(x, w, nil, c.p)
		v := randT(rng, yt.Shape...)
		cp := c.p.conv()
		cv := Conv2dForward(v, w, nil, cp)
		if !tensor.SameShape(cv.Shape, x.Shape) {
			t.Fatalf("%+v: conv of convT output has shape %v, want %v", c, cv.Shape, x.Shape)
		}
		closeS(t, fmt.Sprintf("%+v", c), dot(cv.Data, x.Data), dot(v.Data, yt.Data), norm2(cv.Data)*norm2(x.Data), 1e-5)
	}
}

func TestConvTranspose2dBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range convTCases {
		x := randT(rng, c.n, c.cin, c.h, c.w)
		w := randT(rng, c.cin, c.coutg, c.kh, c.kw)
		y := naiveConvT(x, w, nil, c.p)
		r := randT(rng, y.Shape...)
		dx, dw, db := ConvTranspose2dBackward(x, w, r, c.p, true)
		vx, vw := randT(rng, x.Shape...), randT(rng, w.Shape...)
		name := fmt.Sprintf("%+v", c)
		closeS(t, name+" dx", dot(dx.Data, vx.Data), dot(naiveConvT(vx, w, nil, c.p).Data, r.Data), norm2(dx.Data)*norm2(vx.Data), 1e-5)
		closeS(t, name+" dw", dot(dw.Data, vw.Data), dot(naiveConvT(x, vw, nil, c.p).Data, r.Data), norm2(dw.Data)*norm2(vw.Data), 1e-5)
		// db: <db, vb> equals <1⊗vb, r>.
		vb := randT(rng, db.Len())
		ones := tensor.New(x.Shape...)
		base := naiveConvT(ones, tensor.New(w.Shape...), vb, c.p)
		closeS(t, name+" db", dot(db.Data, vb.Data), dot(base.Data, r.Data), norm2(db.Data)*norm2(vb.Data), 1e-5)
		if dx2, _, _ := ConvTranspose2dBackward(x, w, r, c.p, false); dx2 != nil {
			t.Fatal("dx without needDX")
		}
	}
}

// TestConvTranspose2dForwardAct: bias and activation in one pass give the
// same bits as the plain forward followed by ReLUInPlace / ClipInPlace,
// with and without bias; an unknown activation panics.
func TestConvTranspose2dForwardAct(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	p := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	x := randT(rng, 2, 6, 5, 7)
	w := randT(rng, 6, 4, 4, 4)
	b := randT(rng, 4)
	for _, bias := range []*tensor.Tensor{b, nil} {
		for _, act := range []Act{ActNone, ActReLU, ActReLU6} {
			want := ConvTranspose2dForward(x, w, bias, p)
			switch act {
			case ActReLU:
				ReLUInPlace(want)
			case ActReLU6:
				ClipInPlace(want, 0, 6)
			}
			got := ConvTranspose2dForwardAct(x, w, bias, p, act)
			for i := range got.Data {
				if got.Data[i] != want.Data[i] {
					t.Fatalf("bias %v act %d: element %d = %v, want %v", bias != nil, act, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
	mustPanic(t, "unknown act", func() { ConvTranspose2dForwardAct(x, w, b, p, Act(9)) })
}
