package stats

import (
	"math"

	"github.com/vigil-ad/vigil/onnx"
)

// ExportScore writes Score (−log p(x)) for the n rows of x, an [n,D]
// tensor of an ONNX graph, into b and returns the name of the [n,1]
// result; tensor names start with prefix. Every component's whitened
// offset W_k(x − μ_k) comes from one MatMul with the stacked factors plus
// a bias −W_kμ_k; the squared norms, reshaped [n,K,D] and summed, give
// the log-joints log w_k − ½(D log 2π + log det Σ_k + d²_k), and the
// log-sum-exp over k is max + log Σ exp(· − max), as logJoint computes it.
func (g *GMM) ExportScore(b *onnx.Builder, x string, n int, prefix string) string {
	d, K := g.Dim(), len(g.Weights)
	stack := make([]float32, d*K*d) // [D, K·D]: column k·D+a is row a of W_k
	bias := make([]float32, K*d)
	logw := make([]float32, K)
	for k, c := range g.Components {
		o := 0
		for a := 0; a < d; a++ {
			var wmu float64
			for j := 0; j <= a; j++ {
				var w float32
				switch {
				case c.Diag && j == a:
					w = c.W[a]
				case !c.Diag:
					w = c.W[o+j]
				}
				stack[j*K*d+k*d+a] = w
				wmu += float64(w) * float64(c.Mean[j])
			}
			if !c.Diag {
				o += a + 1
			}
			bias[k*d+a] = float32(-wmu)
		}
		logw[k] = float32(math.Log(g.Weights[k]) - 0.5*(float64(d)*math.Log(2*math.Pi)+c.LogDet()))
	}
	p := func(s string) string { return prefix + "/" + s }
	b.Initializer(p("factors"), []int{d, K * d}, stack)
	b.Initializer(p("bias"), []int{K * d}, bias)
	b.Initializer(p("logw"), []int{K}, logw)
	b.Initializer(p("minus_half"), nil, []float32{-0.5})
	b.Initializer(p("minus_one"), nil, []float32{-1})
	b.InitializerInt64(p("nkd"), []int{3}, []int64{int64(n), int64(K), int64(d)})
	b.InitializerInt64(p("axis1"), []int{1}, []int64{1})
	b.InitializerInt64(p("axis2"), []int{1}, []int64{2})
	b.Node("MatMul", p("wx"), []string{x, p("factors")}, []string{p("wx")})
	b.Node("Add", p("z"), []string{p("wx"), p("bias")}, []string{p("z")})
	b.Node("Mul", p("z2"), []string{p("z"), p("z")}, []string{p("z2")})
	b.Node("Reshape", p("z2k"), []string{p("z2"), p("nkd")}, []string{p("z2k")})
	b.Node("ReduceSum", p("maha2"), []string{p("z2k"), p("axis2")}, []string{p("maha2")}, onnx.IntAttr("keepdims", 0))
	b.Node("Mul", p("half"), []string{p("maha2"), p("minus_half")}, []string{p("half")})
	b.Node("Add", p("joint"), []string{p("half"), p("logw")}, []string{p("joint")}) // [n,K]
	b.Node("ReduceMax", p("hi"), []string{p("joint")}, []string{p("hi")}, onnx.IntsAttr("axes", 1), onnx.IntAttr("keepdims", 1))
	b.Node("Sub", p("shift"), []string{p("joint"), p("hi")}, []string{p("shift")})
	b.Node("Exp", p("exp"), []string{p("shift")}, []string{p("exp")})
	b.Node("ReduceSum", p("sum"), []string{p("exp"), p("axis1")}, []string{p("sum")}, onnx.IntAttr("keepdims", 1))
	b.Node("Log", p("log"), []string{p("sum")}, []string{p("log")})
	b.Node("Add", p("loglik"), []string{p("hi"), p("log")}, []string{p("loglik")})
	b.Node("Mul", p("nll"), []string{p("loglik"), p("minus_one")}, []string{p("nll")})
	return p("nll")
}
