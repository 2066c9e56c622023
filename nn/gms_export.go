package nn

import (
	"fmt"

	"github.com/vigil-ad/vigil/onnx"
)

// ExportMSGMSMap writes MSGMSMap of x and y into an ONNX graph, averaged
// also over the batch: for x [1 or N,C,h,w] (broadcast over y's batch)
// and y [N,C,h,w] it returns the name of the [1,1,h,w] mean over items
// and channels of 1 − GMS averaged over the 4 scales. Per scale (2×2
// AveragePool between them): the Prewitt responses as one zero-padded
// Conv with two output channels on the planes, squared magnitudes plus
// gmsEps, GMS = (2·m_x·m_y + c)/(m_x² + m_y² + c), its mean over items
// and channels (linear, so taken before the bilinear Resize back to h×w,
// half-pixel centres as ops.UpsampleBilinear). nx, n, c, h, w are the
// shapes' sizes; tensor names start with prefix.
func ExportMSGMSMap(b *onnx.Builder, x, y string, nx, n, c, h, w int, prefix string) string {
	p := func(s string) string { return prefix + "/" + s }
	third := float32(1.0 / 3)
	// Channel 0: prewittX, (1/3)·[1 0 −1] across; channel 1: prewittY.
	b.Initializer(p("prewitt"), []int{2, 1, 3, 3}, []float32{
		third, 0, -third, third, 0, -third, third, 0, -third,
		third, third, third, 0, 0, 0, -third, -third, -third,
	})
	b.Initializer(p("eps"), nil, []float32{gmsEps})
	b.Initializer(p("c"), nil, []float32{gmsC})
	b.Initializer(p("two"), nil, []float32{2})
	b.Initializer(p("minus_inv_scales"), nil, []float32{-1 / float32(msgmsScales)})
	b.Initializer(p("one"), nil, []float32{1})
	b.InitializerInt64(p("axis1"), []int{1}, []int64{1})
	// sqMag writes the squared gradient magnitude (+ gmsEps) of t [m,C,hs,ws].
	sqMag := func(t, name string, m, hs, ws int) string {
		q := func(s string) string { return p(name + "_" + s) }
		b.InitializerInt64(q("planes"), []int{4}, []int64{int64(m * c), 1, int64(hs), int64(ws)})
		b.InitializerInt64(q("back"), []int{4}, []int64{int64(m), int64(c), int64(hs), int64(ws)})
		b.Node("Reshape", q("planes"), []string{t, q("planes")}, []string{q("planes_out")})
		b.Node("Conv", q("grad"), []string{q("planes_out"), p("prewitt")}, []string{q("grad")},
			onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1))
		b.Node("Mul", q("grad2"), []string{q("grad"), q("grad")}, []string{q("grad2")})
		b.Node("ReduceSum", q("mag2"), []string{q("grad2"), p("axis1")}, []string{q("mag2")}, onnx.IntAttr("keepdims", 1))
		b.Node("Add", q("mag2eps"), []string{q("mag2"), p("eps")}, []string{q("mag2eps")})
		b.Node("Reshape", q("sq"), []string{q("mag2eps"), q("back")}, []string{q("sq")})
		return q("sq")
	}
	var acc string
	hs, ws := h, w
	for s := 0; s < msgmsScales; s++ {
		q := func(name string) string { return p(fmt.Sprintf("s%d_%s", s, name)) }
		if s > 0 {
			px, py := q("pool_x"), q("pool_y")
			for _, t := range [][2]string{{x, px}, {y, py}} {
				b.Node("AveragePool", t[1], []string{t[0]}, []string{t[1]}, onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2))
			}
			x, y = px, py
			hs, ws = hs/2, ws/2
		}
		mx, my := sqMag(x, fmt.Sprintf("s%d_x", s), nx, hs, ws), sqMag(y, fmt.Sprintf("s%d_y", s), n, hs, ws)
		b.Node("Sqrt", q("mx"), []string{mx}, []string{q("mx")})
		b.Node("Sqrt", q("my"), []string{my}, []string{q("my")})
		b.Node("Mul", q("mxy"), []string{q("mx"), q("my")}, []string{q("mxy")})
		b.Node("Mul", q("2mxy"), []string{q("mxy"), p("two")}, []string{q("2mxy")})
		b.Node("Add", q("num"), []string{q("2mxy"), p("c")}, []string{q("num")})
		b.Node("Add", q("den0"), []string{mx, my}, []string{q("den0")})
		b.Node("Add", q("den"), []string{q("den0"), p("c")}, []string{q("den")})
		b.Node("Div", q("gms"), []string{q("num"), q("den")}, []string{q("gms")})
		b.Node("ReduceMean", q("mean"), []string{q("gms")}, []string{q("mean")}, onnx.IntsAttr("axes", 0, 1), onnx.IntAttr("keepdims", 1))
		g := q("mean")
		if hs != h || ws != w {
			b.InitializerInt64(q("size"), []int{4}, []int64{1, 1, int64(h), int64(w)})
			b.Node("Resize", q("up"), []string{g, "", "", q("size")}, []string{q("up")},
				onnx.StringAttr("mode", "linear"), onnx.StringAttr("coordinate_transformation_mode", "half_pixel"))
			g = q("up")
		}
		if acc == "" {
			acc = g
		} else {
			b.Node("Add", q("acc"), []string{acc, g}, []string{q("acc")})
			acc = q("acc")
		}
	}
	b.Node("Mul", p("neg_mean"), []string{acc, p("minus_inv_scales")}, []string{p("neg_mean")})
	b.Node("Add", p("map"), []string{p("neg_mean"), p("one")}, []string{p("map")})
	return p("map")
}
