package arch

import (
	"fmt"

	"github.com/vigil-ad/vigil/onnx"
)

// ExportDense writes Dense into b for x [n,3,s,s], s a side DenseSize
// accepts, and returns the name of the [n,Dim,o,o] result and o: the
// convolutions (leaky ReLU after all but the last), every pool at stride
// 1 followed by the split of its output into its four stride-2 sub-grids
// along the batch axis (Reshape, Transpose, Reshape), and the sub-grids
// interleaved back at the end. Names start with prefix.
func (n *PatchNet) ExportDense(b *onnx.Builder, x string, batch, s int, prefix string) (string, int, error) {
	if n.denseOut(s) == 0 {
		return "", 0, fmt.Errorf("patch net p=%d: input side %d is not one Dense accepts", n.P, s)
	}
	pools := 0
	for i, l := range n.layers {
		name := fmt.Sprintf("%sl%d", prefix, i)
		if l.kernel == 0 {
			pool := name + "/pool"
			b.Node("MaxPool", pool, []string{x}, []string{pool}, onnx.IntsAttr("kernel_shape", 2, 2))
			s--
			x = exportSpaceToBatch(b, pool, batch, n.channelsBefore(i), s, name+"/s2b")
			batch *= 4
			s /= 2
			pools++
			continue
		}
		c := n.convs[l.conv]
		x = exportConv(b, x, fmt.Sprintf("%sconv%d", prefix, l.conv), c.Weight.Value, paramValue(c.Bias), c.Opt, false)
		if l.act {
			b.Node("LeakyRelu", name+"/act", []string{x}, []string{name + "/act"}, onnx.FloatAttr("alpha", leak))
			x = name + "/act"
		}
		s -= l.kernel - 1
	}
	for k := 0; k < pools; k++ {
		batch /= 4
		x = exportBatchToSpace(b, x, batch, n.Dim, s, fmt.Sprintf("%sb2s%d", prefix, k))
		s *= 2
	}
	return x, s, nil
}

// channelsBefore is the channel count entering layer i.
func (n *PatchNet) channelsBefore(i int) int {
	c := 3
	for _, l := range n.layers[:i] {
		if l.kernel != 0 {
			c = n.convs[l.conv].Weight.Value.Shape[0]
		}
	}
	return c
}

// exportSpaceToBatch writes [n,c,s,s] (s even) → [4n,c,s/2,s/2], batch
// entry (dy·2 + dx)·n + i holding the pixels (2y+dy, 2x+dx) of image i.
func exportSpaceToBatch(b *onnx.Builder, x string, n, c, s int, pre string) string {
	h := int64(s / 2)
	b.InitializerInt64(pre+"/split", []int{6}, []int64{int64(n), int64(c), h, 2, h, 2})
	b.InitializerInt64(pre+"/merge", []int{4}, []int64{int64(4 * n), int64(c), h, h})
	b.Node("Reshape", pre+"/r6", []string{x, pre + "/split"}, []string{pre + "/r6"})
	b.Node("Transpose", pre+"/t", []string{pre + "/r6"}, []string{pre + "/t"}, onnx.IntsAttr("perm", 3, 5, 0, 1, 2, 4))
	b.Node("Reshape", pre, []string{pre + "/t", pre + "/merge"}, []string{pre})
	return pre
}

// exportBatchToSpace is the inverse of exportSpaceToBatch: [4n,c,h,h] →
// [n,c,2h,2h].
func exportBatchToSpace(b *onnx.Builder, x string, n, c, h int, pre string) string {
	b.InitializerInt64(pre+"/split", []int{6}, []int64{2, 2, int64(n), int64(c), int64(h), int64(h)})
	b.InitializerInt64(pre+"/merge", []int{4}, []int64{int64(n), int64(c), int64(2 * h), int64(2 * h)})
	b.Node("Reshape", pre+"/r6", []string{x, pre + "/split"}, []string{pre + "/r6"})
	b.Node("Transpose", pre+"/t", []string{pre + "/r6"}, []string{pre + "/t"}, onnx.IntsAttr("perm", 2, 3, 4, 0, 5, 1))
	b.Node("Reshape", pre, []string{pre + "/t", pre + "/merge"}, []string{pre})
	return pre
}
