package onnx

import (
	"math"

	"github.com/vigil-ad/vigil/tensor"
)

// Naive reference implementations (direct loops, no fusion, float64
// accumulation) used to check the Executor.

func refConv(x, w *tensor.Tensor, b []float32, stride, dil [2]int, pads [4]int, group int) *tensor.Tensor {
	n, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	cout, cing, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	oh := (h+pads[0]+pads[2]-dil[0]*(kh-1)-1)/stride[0] + 1
	ow := (wd+pads[1]+pads[3]-dil[1]*(kw-1)-1)/stride[1] + 1
	y := tensor.New(n, cout, oh, ow)
	coutg := cout / group
	for in := 0; in < n; in++ {
		for co := 0; co < cout; co++ {
			g := co / coutg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					if b != nil {
						s = float64(b[co])
					}
					for ci := 0; ci < cing; ci++ {
						c := g*cing + ci
						for ky := 0; ky < kh; ky++ {
							iy := oy*stride[0] - pads[0] + ky*dil[0]
							if iy < 0 || iy >= h {
								continue
							}
							for kx := 0; kx < kw; kx++ {
								ix := ox*stride[1] - pads[1] + kx*dil[1]
								if ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((in*cin+c)*h+iy)*wd+ix]) * float64(w.Data[((co*cing+ci)*kh+ky)*kw+kx])
							}
						}
					}
					y.Data[((in*cout+co)*oh+oy)*ow+ox] = float32(s)
				}
			}
		}
	}
	_ = cin
	return y
}

func refBN(x *tensor.Tensor, gamma, beta, mean, vr []float32, eps float64) *tensor.Tensor {
	y := x.Clone()
	c := x.Shape[1]
	s := len(x.Data) / (x.Shape[0] * c)
	for i := range y.Data {
		ch := (i / s) % c
		y.Data[i] = float32((float64(x.Data[i])-float64(mean[ch]))/math.Sqrt(float64(vr[ch])+eps)*float64(gamma[ch]) + float64(beta[ch]))
	}
	return y
}

func refClip(x *tensor.Tensor, lo, hi float32) *tensor.Tensor {
	y := x.Clone()
	for i, v := range y.Data {
		y.Data[i] = min(max(v, lo), hi)
	}
	return y
}

// refPool computes max or average pooling with ONNX/PyTorch semantics.
func refPool(x *tensor.Tensor, isMax bool, k, s [2]int, pads [4]int, ceil, countPad bool) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	size := func(in, k, s, pa, pb int) int {
		num := in + pa + pb - k
		if !ceil {
			return num/s + 1
		}
		o := int(math.Ceil(float64(num)/float64(s))) + 1
		if (o-1)*s >= in+pa {
			o--
		}
		return o
	}
	oh, ow := size(h, k[0], s[0], pads[0], pads[2]), size(w, k[1], s[1], pads[1], pads[3])
	y := tensor.New(n, c, oh, ow)
	for p := 0; p < n*c; p++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best := math.Inf(-1)
				sum, cnt := 0.0, 0
				for ky := 0; ky < k[0]; ky++ {
					for kx := 0; kx < k[1]; kx++ {
						iy, ix := oy*s[0]-pads[0]+ky, ox*s[1]-pads[1]+kx
						if iy >= h+pads[2] || ix >= w+pads[3] {
							continue // beyond the padded input (ceil mode)
						}
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							if countPad {
								cnt++
							}
							continue
						}
						v := float64(x.Data[(p*h+iy)*w+ix])
						best = math.Max(best, v)
						sum += v
						cnt++
					}
				}
				o := (p*oh+oy)*ow + ox
				if isMax {
					y.Data[o] = float32(best)
				} else {
					y.Data[o] = float32(sum / float64(cnt))
				}
			}
		}
	}
	return y
}

func refGAP(x *tensor.Tensor) *tensor.Tensor {
	n, c, hw := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
	y := tensor.New(n, c, 1, 1)
	for p := 0; p < n*c; p++ {
		s := 0.0
		for _, v := range x.Data[p*hw : p*hw+hw] {
			s += float64(v)
		}
		y.Data[p] = float32(s / float64(hw))
	}
	return y
}

func refAdd(a, b *tensor.Tensor) *tensor.Tensor {
	y := a.Clone()
	for i := range y.Data {
		y.Data[i] += b.Data[i]
	}
	return y
}

// refGemm computes alpha*op(A)*op(B) + beta*C with C broadcast from [n]
// (or nil).
func refGemm(a, b *tensor.Tensor, c []float32, transA, transB bool, alpha, beta float64) *tensor.Tensor {
	m, k := a.Shape[0], a.Shape[1]
	if transA {
		m, k = k, m
	}
	n := b.Shape[1]
	if transB {
		n = b.Shape[0]
	}
	y := tensor.New(m, n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for l := 0; l < k; l++ {
				av := a.Data[i*k+l]
				if transA {
					av = a.Data[l*m+i]
				}
				bv := b.Data[l*n+j]
				if transB {
					bv = b.Data[j*k+l]
				}
				s += float64(av) * float64(bv)
			}
			s *= alpha
			if c != nil {
				s += beta * float64(c[j])
			}
			y.Data[i*n+j] = float32(s)
		}
	}
	return y
}

func maxAbsDiff(a, b *tensor.Tensor) float64 {
	if len(a.Data) != len(b.Data) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a.Data {
		d = math.Max(d, math.Abs(float64(a.Data[i])-float64(b.Data[i])))
	}
	return d
}

func mathExp(x float64) float64 { return math.Exp(x) }
