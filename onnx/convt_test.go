package onnx

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/tensor"
)

// refConvT is ConvTranspose written as its definition: every input pixel
// scatters its value times the kernel onto the output, at
// iy·stride − padTop + ky·dil (float64 accumulation, no col2im).
func refConvT(x, w *tensor.Tensor, b []float32, stride, dil [2]int, pads [4]int, outPad [2]int, group int) *tensor.Tensor {
	n, cin, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	coutg, kh, kw := w.Shape[1], w.Shape[2], w.Shape[3]
	cout, cing := coutg*group, cin/group
	oh := (h-1)*stride[0] - pads[0] - pads[2] + dil[0]*(kh-1) + outPad[0] + 1
	ow := (wd-1)*stride[1] - pads[1] - pads[3] + dil[1]*(kw-1) + outPad[1] + 1
	acc := make([]float64, n*cout*oh*ow)
	for in := 0; in < n; in++ {
		for ci := 0; ci < cin; ci++ {
			g := ci / cing
			for iy := 0; iy < h; iy++ {
				for ix := 0; ix < wd; ix++ {
					v := float64(x.Data[((in*cin+ci)*h+iy)*wd+ix])
					for co := 0; co < coutg; co++ {
						for ky := 0; ky < kh; ky++ {
							oy := iy*stride[0] - pads[0] + ky*dil[0]
							if oy < 0 || oy >= oh {
								continue
							}
							for kx := 0; kx < kw; kx++ {
								ox := ix*stride[1] - pads[1] + kx*dil[1]
								if ox < 0 || ox >= ow {
									continue
								}
								acc[((in*cout+g*coutg+co)*oh+oy)*ow+ox] += v * float64(w.Data[((ci*coutg+co)*kh+ky)*kw+kx])
							}
						}
					}
				}
			}
		}
	}
	y := tensor.New(n, cout, oh, ow)
	for i := range acc {
		if b != nil {
			acc[i] += float64(b[(i/(oh*ow))%cout])
		}
		y.Data[i] = float32(acc[i])
	}
	return y
}

// refPadMirror pads a 4-D x one axis at a time by copying whole slabs:
// reflect puts the j-th sample inside the edge at the j-th position
// outside it (the edge itself not repeated), edge repeats the edge slab.
func refPadMirror(x *tensor.Tensor, pads []int64, mode string) *tensor.Tensor {
	cur := x.Clone()
	for ax := 0; ax < 4; ax++ {
		bp, ep := int(pads[ax]), int(pads[ax+4])
		n := cur.Shape[ax]
		shape := append([]int(nil), cur.Shape...)
		shape[ax] = n + bp + ep
		out := tensor.New(shape...)
		outer, inner := 1, 1
		for i := 0; i < ax; i++ {
			outer *= cur.Shape[i]
		}
		for i := ax + 1; i < 4; i++ {
			inner *= cur.Shape[i]
		}
		slab := func(src []float32, o, i int) []float32 { return src[(o*n+i)*inner : (o*n+i+1)*inner] }
		for o := 0; o < outer; o++ {
			dst := func(i int) []float32 { return out.Data[(o*shape[ax]+i)*inner : (o*shape[ax]+i+1)*inner] }
			for i := 0; i < n; i++ {
				copy(dst(bp+i), slab(cur.Data, o, i))
			}
			for j := 1; j <= bp; j++ { // j-th slab before the first
				src := j
				if mode == "edge" {
					src = 0
				}
				copy(dst(bp-j), slab(cur.Data, o, src))
			}
			for j := 1; j <= ep; j++ { // j-th slab after the last
				src := n - 1 - j
				if mode == "edge" {
					src = n - 1
				}
				copy(dst(bp+n-1+j), slab(cur.Data, o, src))
			}
		}
		cur = out
	}
	return cur
}

// convTModel is a small decoder: ConvTranspose (stride 2, k4, pads 1, as
// arch.FCAE's) + Relu (fused), a reflect Pad, and a grouped, dilated,
// asymmetrically padded ConvTranspose with output_padding and no bias.
func convTModel(r *rand.Rand) (*Model, map[string]*tensor.Tensor) {
	w := map[string]*tensor.Tensor{
		"w1": scaled(randTensor(r, 4, 3, 4, 4), 0.3),
		"b1": randTensor(r, 3),
		"w2": scaled(randTensor(r, 4, 3, 3, 2), 0.3), // 2 groups: Cout 6
	}
	b := NewBuilder("convt")
	b.Input("x", 1, 4, 3, 5)
	for _, k := range []string{"w1", "b1", "w2"} {
		b.Initializer(k, w[k].Shape, w[k].Data)
	}
	b.Node("ConvTranspose", "up1", []string{"x", "w1", "b1"}, []string{"u1"},
		IntsAttr("strides", 2, 2), IntsAttr("pads", 1, 1, 1, 1), IntsAttr("kernel_shape", 4, 4))
	b.Node("Relu", "relu1", []string{"u1"}, []string{"r1"})
	b.InitializerInt64("pads", []int{8}, []int64{0, 0, 2, 3, 0, 1, 1, 4})
	b.Node("Pad", "mirror", []string{"r1", "pads"}, []string{"p1"}, StringAttr("mode", "reflect"))
	b.Node("Pad", "edge", []string{"p1"}, []string{"p2"}, StringAttr("mode", "edge"), IntsAttr("pads", 0, 0, 9, 0, 0, 0, 0, 12))
	b.Node("ConvTranspose", "up2", []string{"p2", "w2"}, []string{"u2"},
		IntsAttr("strides", 3, 2), IntsAttr("pads", 0, 1, 2, 1), IntsAttr("output_padding", 2, 1),
		IntsAttr("dilations", 2, 1), IntAttr("group", 2))
	b.Output("u2")
	return b.Model(), w
}

func TestExecutorConvTransposeAndMirrorPad(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	m, w := convTModel(r)
	x := randTensor(r, 1, 4, 3, 5)
	m = roundTrip(t, m)
	out := run1(t, m, []string{"u1", "r1", "p1", "p2", "u2"}, map[string]*tensor.Tensor{"x": x})

	u1 := refConvT(x, w["w1"], w["b1"].Data, [2]int{2, 2}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, [2]int{}, 1)
	if !tensor.SameShape(u1.Shape, []int{1, 3, 6, 10}) {
		t.Fatalf("reference shape %v: stride 2, k4, pads 1 must double 3x5", u1.Shape)
	}
	checkClose(t, "u1", out["u1"], u1)
	r1 := refClip(u1, 0, 3.4e38)
	checkClose(t, "r1", out["r1"], r1)
	// Odd sizes: 3 channels padded by 1 at the end, 6 rows by 2+1, 10 columns by 3+4.
	p1 := refPadMirror(r1, []int64{0, 0, 2, 3, 0, 1, 1, 4}, "reflect")
	checkClose(t, "p1 (reflect)", out["p1"], p1)
	// Hand-checked corner of the reflect: row 0 of the padded plane is input
	// row 2, column 0 is input column 3.
	if got, want := out["p1"].Data[0], r1.Data[2*10+3]; got != want {
		t.Fatalf("reflect corner %g, want input (2,3) = %g", got, want)
	}
	// Edge pads may exceed the axis length.
	p2 := refPadMirror(p1, []int64{0, 0, 9, 0, 0, 0, 0, 12}, "edge")
	checkClose(t, "p2 (edge)", out["p2"], p2)
	u2 := refConvT(p2, w["w2"], nil, [2]int{3, 2}, [2]int{2, 1}, [4]int{0, 1, 2, 1}, [2]int{2, 1}, 2)
	checkClose(t, "u2", out["u2"], u2)

	// The Relu is fused into the first ConvTranspose.
	e, err := NewExecutor(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := e.Profile(map[string]*tensor.Tensor{"x": x}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(prof) == 0 || prof[0].Op != "ConvTranspose+Relu" {
		t.Fatalf("profile %+v: want the first step ConvTranspose+Relu", prof)
	}
}

// TestExecutorConvTransposeValid checks auto_pad VALID (no padding) and a
// 1x1 stride-1 kernel, which is a per-pixel matrix product.
func TestExecutorConvTransposeValid(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	x := randTensor(r, 2, 3, 4, 3)
	w := randTensor(r, 3, 2, 2, 3)
	b := NewBuilder("valid")
	b.Input("x", 2, 3, 4, 3)
	b.Initializer("w", w.Shape, w.Data)
	b.Node("ConvTranspose", "ct", []string{"x", "w"}, []string{"y"}, StringAttr("auto_pad", "VALID"), IntsAttr("strides", 2, 1))
	b.Output("y")
	out := run1(t, roundTrip(t, b.Model()), nil, map[string]*tensor.Tensor{"x": x})
	checkClose(t, "y", out["y"], refConvT(x, w, nil, [2]int{2, 1}, [2]int{1, 1}, [4]int{}, [2]int{}, 1))
}

func TestExecutorConvTransposePadErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *Builder)
		want  []string
	}{
		{"output_shape", func(b *Builder) {
			b.Node("ConvTranspose", "ct_os", []string{"x", "w"}, []string{"y"}, IntsAttr("output_shape", 8, 8))
		}, []string{"ct_os", "output_shape"}},
		{"group", func(b *Builder) {
			b.Node("ConvTranspose", "ct_g", []string{"x", "w"}, []string{"y"}, IntAttr("group", 3))
		}, []string{"ct_g", "group 3"}},
		{"output_padding", func(b *Builder) {
			b.Node("ConvTranspose", "ct_op", []string{"x", "w"}, []string{"y"}, IntsAttr("strides", 2, 2), IntsAttr("output_padding", 2, 0))
		}, []string{"ct_op", "output_padding"}},
		{"auto_pad", func(b *Builder) {
			b.Node("ConvTranspose", "ct_same", []string{"x", "w"}, []string{"y"}, StringAttr("auto_pad", "SAME_UPPER"))
		}, []string{"ct_same", "SAME_UPPER"}},
		{"kernel_shape", func(b *Builder) {
			b.Node("ConvTranspose", "ct_ks", []string{"x", "w"}, []string{"y"}, IntsAttr("kernel_shape", 3, 3))
		}, []string{"ct_ks", "kernel_shape"}},
		{"channels", func(b *Builder) {
			b.Node("ConvTranspose", "ct_c", []string{"x", "w3"}, []string{"y"})
		}, []string{"ct_c", "channels"}},
		{"weight not constant", func(b *Builder) {
			b.Node("ConvTranspose", "ct_x", []string{"x", "x"}, []string{"y"})
		}, []string{"ct_x", "initializer"}},
		{"reflect too wide", func(b *Builder) {
			b.Node("Pad", "pad_r", []string{"x"}, []string{"y"}, StringAttr("mode", "reflect"), IntsAttr("pads", 0, 0, 4, 0, 0, 0, 0, 0))
		}, []string{"pad_r", "reflect", "smaller"}},
		{"wrap", func(b *Builder) {
			b.Node("Pad", "pad_w", []string{"x"}, []string{"y"}, StringAttr("mode", "wrap"), IntsAttr("pads", 0, 0, 1, 0, 0, 0, 0, 0))
		}, []string{"pad_w", "wrap"}},
	}
	for _, c := range cases {
		b := NewBuilder("err")
		b.Input("x", 1, 2, 4, 4)
		b.Initializer("w", []int{2, 3, 2, 2}, make([]float32, 24))
		b.Initializer("w3", []int{3, 3, 2, 2}, make([]float32, 36))
		c.build(b)
		b.Output("y")
		// Attribute errors come from NewExecutor, shape errors from Run.
		e, err := NewExecutor(roundTrip(t, b.Model()), nil)
		if err == nil {
			_, err = e.Run(map[string]*tensor.Tensor{"x": tensor.New(1, 2, 4, 4)})
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}
