package arch

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

const fashionDir = "/usr/share/datasets/fashion-mnist"

// readIDX reads a gzip-compressed IDX file (magic 0x0000080D: unsigned
// bytes, D dimensions) and returns its dimensions and raw bytes.
func readIDX(path string) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(zr, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("%s: header: %v", path, err)
	}
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] == 0 || hdr[3] > 4 {
		return nil, nil, fmt.Errorf("%s: not an unsigned-byte IDX file (magic % x)", path, hdr)
	}
	dims := make([]int, hdr[3])
	n := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(zr, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%s: dims: %v", path, err)
		}
		if d == 0 || d > 1<<20 {
			return nil, nil, fmt.Errorf("%s: bad dimension %d", path, d)
		}
		dims[i] = int(d)
		n *= int(d)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(zr, data); err != nil {
		return nil, nil, fmt.Errorf("%s: data: %v", path, err)
	}
	return dims, data, nil
}

// loadFashion returns images scaled to [0,1] as [N,1,28,28] and labels.
func loadFashion(t testing.TB, prefix string) (*tensor.Tensor, []int) {
	dims, px, err := readIDX(filepath.Join(fashionDir, prefix+"-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	ldims, lb, err := readIDX(filepath.Join(fashionDir, prefix+"-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != 3 || len(ldims) != 1 || dims[0] != ldims[0] {
		t.Fatalf("fashion-mnist %s: image dims %v, label dims %v", prefix, dims, ldims)
	}
	x := tensor.New(dims[0], 1, dims[1], dims[2])
	for i, v := range px {
		x.Data[i] = float32(v) / 255
	}
	y := make([]int, len(lb))
	for i, v := range lb {
		y[i] = int(v)
	}
	return x, y
}

// fashionNet is a small CNN: two conv+ReLU+maxpool stages, then a
// 128-unit hidden layer.
func fashionNet(seed uint64) *nn.Sequential {
	rng := nn.NewRNG(seed)
	return nn.NewSequential(
		nn.NewConv2d(nn.ConvSpec{In: 1, Out: 16, Kernel: 3, Pad: 1, Act: ops.ActReLU}, rng),
		nn.MaxPool(2, 2, 0),
		nn.NewConv2d(nn.ConvSpec{In: 16, Out: 32, Kernel: 3, Pad: 1, Act: ops.ActReLU}, rng),
		nn.MaxPool(2, 2, 0),
		nn.Func(nn.Flatten),
		nn.NewLinear(32*7*7, 128, true, rng),
		nn.Func(nn.ReLU),
		nn.NewLinear(128, 10, true, rng),
	)
}

func batchOf(x *tensor.Tensor, y []int, idx []int) (*tensor.Tensor, []int) {
	per := x.Len() / x.Shape[0]
	bx := tensor.New(len(idx), 1, 28, 28)
	by := make([]int, len(idx))
	for i, j := range idx {
		copy(bx.Data[i*per:(i+1)*per], x.Data[j*per:(j+1)*per])
		by[i] = y[j]
	}
	return bx, by
}

// TestFashionMNIST trains the small CNN with Adam on the full Fashion-MNIST
// training set and checks test accuracy > 88%. It is a benchmark, not a
// unit test: it runs only with VIGIL_FASHION=1 and the Debian package
// dataset-fashion-mnist installed.
func TestFashionMNIST(t *testing.T) {
	if os.Getenv("VIGIL_FASHION") != "1" {
		t.Skip("set VIGIL_FASHION=1 to train on Fashion-MNIST")
	}
	if _, err := os.Stat(fashionDir); err != nil {
		t.Skipf("dataset not installed: %v", err)
	}
	start := time.Now()
	xtr, ytr := loadFashion(t, "train")
	xte, yte := loadFashion(t, "t10k")
	m := fashionNet(1)
	opt := optim.NewAdam(m.Params(), 1e-3, 0)
	const epochs, bs = 3, 64
	rng := rand.New(rand.NewPCG(2, 3))
	steps := epochs * (len(ytr) / bs)
	step := 0
	for ep := 0; ep < epochs; ep++ {
		perm := rng.Perm(len(ytr))
		m.Train(true)
		var sum float64
		for b := 0; b+bs <= len(perm); b += bs {
			optim.Apply(opt, optim.Cosine{Base: 2e-3, Min: 1e-5, Total: steps, Warmup: 100}, step)
			bx, by := batchOf(xtr, ytr, perm[b:b+bs])
			opt.ZeroGrad()
			loss := nn.CrossEntropy(m.Forward(nn.NewVar(bx)), by)
			nn.Backward(loss)
			opt.Step()
			sum += float64(loss.Item())
			step++
		}
		acc := fashionAccuracy(m, xte, yte)
		t.Logf("epoch %d: mean train loss %.4f, test accuracy %.4f, elapsed %v", ep+1, sum/float64(len(perm)/bs), acc, time.Since(start).Round(time.Second))
		if ep == epochs-1 && acc <= 0.88 {
			t.Fatalf("test accuracy %.4f, want > 0.88", acc)
		}
	}
}

func fashionAccuracy(m nn.Module, x *tensor.Tensor, y []int) float64 {
	m.Train(false)
	correct := 0
	idx := make([]int, 0, 500)
	for s := 0; s < len(y); s += 500 {
		idx = idx[:0]
		for i := s; i < min(s+500, len(y)); i++ {
			idx = append(idx, i)
		}
		bx, by := batchOf(x, y, idx)
		nn.NoGrad(func() {
			out := m.Forward(nn.NewVar(bx)).Value
			for i, c := range by {
				row := out.Data[i*10 : i*10+10]
				best := 0
				for j, v := range row {
					if v > row[best] {
						best = j
					}
				}
				if best == c {
					correct++
				}
			}
		})
	}
	return float64(correct) / float64(len(y))
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gz")
	os.WriteFile(bad, []byte("not gzip"), 0o644)
	if _, _, err := readIDX(bad); err == nil {
		t.Fatal("accepted a non-gzip file")
	}
	if _, _, err := readIDX(filepath.Join(dir, "missing.gz")); err == nil {
		t.Fatal("accepted a missing file")
	}
}
