package nn

import "github.com/vigil-ad/vigil/onnx"

// ExportSSIMMap writes 1 − SSIMMap(x, y), averaged over channels, into an
// ONNX graph for x and y [1,C,h,w] and returns the name of the [1,1,h,w]
// result. The five statistics (x, y, x², y², xy) are blurred plane by
// plane with the separable 11-tap Gaussian, zero padded (a 1×11 then an
// 11×1 Conv, as gaussBlur's horizontal then vertical pass), and SSIM
// follows ssimFormula in float32. Tensor names start with prefix.
func ExportSSIMMap(b *onnx.Builder, x, y string, c, h, w int, prefix string) string {
	p := func(s string) string { return prefix + "/" + s }
	g := gaussian1D()
	r := int64(ssimWindow / 2)
	b.Initializer(p("g_row"), []int{1, 1, 1, ssimWindow}, g)
	b.Initializer(p("g_col"), []int{1, 1, ssimWindow, 1}, g)
	b.InitializerInt64(p("planes"), []int{4}, []int64{int64(c), 1, int64(h), int64(w)})
	for _, k := range []struct {
		name string
		v    float32
	}{{"c1", ssimC1}, {"c2", ssimC2}, {"two", 2}, {"one", 1}} {
		b.Initializer(p(k.name), nil, []float32{k.v})
	}
	// blur returns the Gaussian blur of t as [C,1,h,w] planes.
	blur := func(t, name string) string {
		b.Node("Reshape", p(name+"_planes"), []string{t, p("planes")}, []string{p(name + "_planes")})
		b.Node("Conv", p(name+"_row"), []string{p(name + "_planes"), p("g_row")}, []string{p(name + "_row")},
			onnx.IntsAttr("kernel_shape", 1, ssimWindow), onnx.IntsAttr("pads", 0, r, 0, r))
		b.Node("Conv", p(name+"_blur"), []string{p(name + "_row"), p("g_col")}, []string{p(name + "_blur")},
			onnx.IntsAttr("kernel_shape", ssimWindow, 1), onnx.IntsAttr("pads", r, 0, r, 0))
		return p(name + "_blur")
	}
	node := func(op, name string, in ...string) string {
		b.Node(op, p(name), in, []string{p(name)})
		return p(name)
	}
	mx, my := blur(x, "x"), blur(y, "y")
	exx := blur(node("Mul", "xx", x, x), "xx")
	eyy := blur(node("Mul", "yy", y, y), "yy")
	exy := blur(node("Mul", "xy", x, y), "xy")
	mxy := node("Mul", "mx_my", mx, my)
	mx2 := node("Mul", "mx2", mx, mx)
	my2 := node("Mul", "my2", my, my)
	a1 := node("Add", "a1", node("Mul", "2mx_my", mxy, p("two")), p("c1"))
	b1 := node("Add", "b1", node("Add", "mx2_my2", mx2, my2), p("c1"))
	a2 := node("Add", "a2", node("Mul", "2sxy", node("Sub", "sxy", exy, mxy), p("two")), p("c2"))
	b2 := node("Add", "b2", node("Add", "sx2_sy2", node("Sub", "sx2", exx, mx2), node("Sub", "sy2", eyy, my2)), p("c2"))
	ssim := node("Div", "ssim", node("Mul", "a1a2", a1, a2), node("Mul", "b1b2", b1, b2))
	dis := node("Sub", "dissim", p("one"), ssim)
	b.Node("ReduceMean", p("map"), []string{dis}, []string{p("map")}, onnx.IntsAttr("axes", 0), onnx.IntAttr("keepdims", 1))
	return p("map")
}
