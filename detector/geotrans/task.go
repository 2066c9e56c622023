package geotrans

import (
	"math/rand/v2"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/tensor"
	"github.com/vigil-ad/vigil/train"
)

// task is the self-supervised training task: each image of a batch gets a
// transformation drawn uniformly from the 72, and the classifier is
// trained with cross-entropy to name it. Drawing per image per step visits
// the paper's 72-fold transformed training set in expectation.
type task struct {
	net     *arch.WRN
	gathers [][]int32
	buf     *tensor.Tensor
	labels  []int
}

func (t *task) Module() nn.Module { return t.net }

// Loss transforms the batch and returns the cross-entropy of the
// classifier's prediction of the transformation.
func (t *task) Loss(b *train.Batch, rng *rand.Rand) *nn.Var {
	n, c := b.X.Shape[0], b.X.Shape[1]
	plane := b.X.Len() / n
	if t.buf == nil || t.buf.Len() != b.X.Len() {
		t.buf = tensor.New(b.X.Shape...)
	}
	t.labels = t.labels[:0]
	for i := 0; i < n; i++ {
		k := rng.IntN(NumTransforms)
		apply(t.buf.Data[i*plane:(i+1)*plane], b.X.Data[i*plane:(i+1)*plane], c, t.gathers[k])
		t.labels = append(t.labels, k)
	}
	normalise(t.buf.Data)
	return nn.CrossEntropy(t.net.Forward(nn.NewVar(t.buf)), t.labels)
}
