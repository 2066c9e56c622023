package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchConv reports GFLOP/s counting 2*N*Cout*(Cin/G)*KH*KW*OH*OW flops.
func benchConv(b *testing.B, n, cin, h, w, cout, k int, p Conv2D) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := max(p.Groups, 1)
	x := randT(rng, n, cin, h, w)
	wt := randT(rng, cout, cin/g, k, k)
	bias := randT(rng, cout)
	y := Conv2dForward(x, wt, bias, p)
	oh, ow := y.Shape[2], y.Shape[3]
	flops := 2.0 * float64(n*cout*(cin/g)*k*k*oh*ow)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Conv2dForwardInto(y, x, wt, bias, p)
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

var pad1 = Conv2D{PadT: 1, PadL: 1, PadB: 1, PadR: 1}

func BenchmarkConv3x3_64x56_N1(b *testing.B) { benchConv(b, 1, 64, 56, 56, 64, 3, pad1) }
func BenchmarkConv3x3_64x56_N8(b *testing.B) { benchConv(b, 8, 64, 56, 56, 64, 3, pad1) }
func BenchmarkDepthwise3x3_32x112(b *testing.B) {
	benchConv(b, 1, 32, 112, 112, 32, 3, Conv2D{Groups: 32, PadT: 1, PadL: 1, PadB: 1, PadR: 1, Act: ActReLU6})
}
func BenchmarkDepthwise3x3s2_96x112(b *testing.B) {
	benchConv(b, 1, 96, 112, 112, 96, 3, Conv2D{Groups: 96, StrideH: 2, StrideW: 2, PadT: 0, PadL: 0, PadB: 1, PadR: 1})
}
func BenchmarkConv1x1_96to24_56(b *testing.B) { benchConv(b, 1, 96, 56, 56, 24, 1, Conv2D{}) }
func BenchmarkConv7x7s2_ResNetStem(b *testing.B) {
	benchConv(b, 1, 3, 224, 224, 64, 7, Conv2D{StrideH: 2, StrideW: 2, PadT: 3, PadL: 3, PadB: 3, PadR: 3, Act: ActReLU})
}

// aeLayers are the conv layers of the training benchmark's autoencoder.
var aeLayers = []struct {
	name                 string
	n, cin, h, cout, str int
}{
	{"L1_3x64to32_s2", 16, 3, 64, 32, 2},
	{"L2_32x32to64_s2", 16, 32, 32, 64, 2},
	{"L3_64x16to64", 16, 64, 16, 64, 1},
	{"L4_64x16to32", 16, 64, 16, 32, 1},
}

// BenchmarkAEConv measures forward, backward-weights+bias and
// backward-data for each autoencoder layer (L1 skips dX, as training does).
func BenchmarkAEConv(b *testing.B) {
	for _, l := range aeLayers {
		p := Conv2D{StrideH: l.str, StrideW: l.str, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
		rng := rand.New(rand.NewPCG(2, 2))
		x := randT(rng, l.n, l.cin, l.h, l.h)
		w := randT(rng, l.cout, l.cin, 3, 3)
		bias := randT(rng, l.cout)
		y := Conv2dForward(x, w, bias, p)
		dy := randT(rng, y.Shape...)
		b.Run(fmt.Sprintf("%s/fwd", l.name), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Conv2dForwardInto(y, x, w, bias, p)
			}
		})
		b.Run(fmt.Sprintf("%s/bwd", l.name), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Conv2dBackward(x, w, dy, p, l.name[:2] != "L1")
			}
		})
	}
}

// BenchmarkAEConvTranspose measures the autoencoder decoder's transposed
// convolutions (k4 s2 p1, batch 16): forward and full backward.
func BenchmarkAEConvTranspose(b *testing.B) {
	for _, l := range []struct {
		name          string
		cin, h, coutg int
	}{{"D1_32x16to32", 32, 16, 32}, {"D2_32x32to3", 32, 32, 3}} {
		p := ConvT2D{StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
		rng := rand.New(rand.NewPCG(3, 3))
		x := randT(rng, 16, l.cin, l.h, l.h)
		w := randT(rng, l.cin, l.coutg, 4, 4)
		bias := randT(rng, l.coutg)
		dy := randT(rng, ConvTranspose2dForward(x, w, bias, p).Shape...)
		b.Run(l.name+"/fwd", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvTranspose2dForward(x, w, bias, p)
			}
		})
		b.Run(l.name+"/bwd", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvTranspose2dBackward(x, w, dy, p, true)
			}
		})
	}
}

// BenchmarkResNetStemPool is ResNet-18's 3×3 stride-2 max pool on the
// stem output (64×112×112).
func BenchmarkResNetStemPool(b *testing.B) {
	x := randT(rand.New(rand.NewPCG(4, 4)), 1, 64, 112, 112)
	p := Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	for i := 0; i < b.N; i++ {
		MaxPool2dForward(x, p)
	}
}

func BenchmarkResNetStemPoolInference(b *testing.B) {
	x := randT(rand.New(rand.NewPCG(4, 4)), 1, 64, 112, 112)
	p := Pool2D{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	for i := 0; i < b.N; i++ {
		MaxPool2dInference(x, p)
	}
}

func BenchmarkBatchNormInference64x112(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := randT(rng, 1, 64, 112, 112)
	g, be, m, v := randT(rng, 64), randT(rng, 64), randT(rng, 64), randT(rng, 64)
	for i := range v.Data {
		v.Data[i] = v.Data[i]*v.Data[i] + 0.1
	}
	for i := 0; i < b.N; i++ {
		BatchNormInference(x, g, be, m, v, 1e-5)
	}
}

// BenchmarkUpsampleBilinear56to224 resizes a 64-channel feature map the way
// anomaly maps are brought back to image size.
func BenchmarkUpsampleBilinear56to224(b *testing.B) {
	x := randT(rand.New(rand.NewPCG(6, 6)), 1, 64, 56, 56)
	for i := 0; i < b.N; i++ {
		UpsampleBilinear(x, 224, 224, false)
	}
}
