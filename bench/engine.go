package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/gemm"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/ops"
	"github.com/vigil-ad/vigil/optim"
	"github.com/vigil-ad/vigil/tensor"
)

// EngineOptions configures Engine.
type EngineOptions struct {
	// Runs is the number of timed runs per case after one warm-up (<= 0: 20).
	Runs int
	// Budget caps the timed runs of one case once three are done
	// (<= 0: 20 s), so slow cases on a slow machine still finish.
	Budget time.Duration
	// Cases selects a subset by name (EngineCases); empty runs them all.
	Cases []string
	// ONNXDir, when set, receives the ONNX graphs timed (resnet18_b1.onnx,
	// resnet50_b1.onnx, conv3x3_b1.onnx, conv3x3_b8.onnx) so ONNX Runtime can time the very
	// same graphs (bench/engine.sh).
	ONNXDir string
}

// Case is one result, one line of `vigil bench engine --json`; the field
// names are what bench/engine.sh parses.
type Case struct {
	Case   string  `json:"case"`
	MS     float64 `json:"ms"` // median
	GFLOPS float64 `json:"gflops,omitempty"`
	MinMS  float64 `json:"min_ms"`
	Runs   int     `json:"runs"`
	Note   string  `json:"note,omitempty"`
}

// engineCases lists the cases in the order they run.
var engineCases = []struct {
	name string
	run  func(e *engineRun) (Case, error)
}{
	{"sgemm_1024", func(e *engineRun) (Case, error) { return e.sgemm("sgemm_1024", 1024, 1024, 1024) }},
	{"sgemm_im2col", func(e *engineRun) (Case, error) { return e.sgemm("sgemm_im2col", 3136, 64, 576) }},
	{"conv3x3_b1", func(e *engineRun) (Case, error) { return e.conv("conv3x3_b1", 1) }},
	{"conv3x3_b8", func(e *engineRun) (Case, error) { return e.conv("conv3x3_b8", 8) }},
	{"resnet18_b1", (*engineRun).resnet18},
	{"resnet50_b1", (*engineRun).resnet50},
	{"ae_step_b16", (*engineRun).aeStep},
}

// EngineCases returns the names of Engine's cases in run order.
func EngineCases() []string {
	names := make([]string, len(engineCases))
	for i, c := range engineCases {
		names[i] = c.name
	}
	return names
}

// Engine times the engine's kernels (SGEMM, 3x3 convolution, an exported
// ResNet-18 graph, a ConvAE training step) and hands each result to emit
// as soon as it is measured. Inputs come from a fixed seed, so runs compare
// like with like. An unknown case name is an error before anything runs.
func Engine(ctx context.Context, o EngineOptions, emit func(Case) error) error {
	known := EngineCases()
	want := map[string]bool{}
	for _, c := range o.Cases {
		if !slices.Contains(known, c) {
			return fmt.Errorf("bench: unknown engine case %q (cases: %s)", c, strings.Join(known, ", "))
		}
		want[c] = true
	}
	if o.Runs <= 0 {
		o.Runs = 20
	}
	if o.Budget <= 0 {
		o.Budget = 20 * time.Second
	}
	if o.ONNXDir != "" {
		if err := os.MkdirAll(o.ONNXDir, 0o755); err != nil {
			return fmt.Errorf("bench: ONNX directory: %w", err)
		}
	}
	e := &engineRun{ctx: ctx, o: o, r: rand.New(rand.NewPCG(1, 2))}
	for _, c := range engineCases {
		if len(want) > 0 && !want[c.name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := c.run(e)
		if err == nil {
			err = ctx.Err() // a cancelled case's timings are partial
		}
		if err != nil {
			return fmt.Errorf("bench: %s: %w", c.name, err)
		}
		if err := emit(res); err != nil {
			return err
		}
	}
	return nil
}

// engineRun is the state the cases share: options and one random stream.
type engineRun struct {
	ctx context.Context
	o   EngineOptions
	r   *rand.Rand
}

// time runs fn after warm-up until o.Runs samples or the budget are spent
// (or ctx is cancelled) and returns the median and minimum in milliseconds.
func (e *engineRun) time(fn func()) (median, best float64, n int) {
	fn() // warm-up: buffers, packing pools, page faults
	var ts []float64
	start := time.Now()
	for len(ts) < e.o.Runs && (len(ts) < 3 || time.Since(start) < e.o.Budget) && e.ctx.Err() == nil {
		t0 := time.Now()
		fn()
		ts = append(ts, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	if len(ts) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], ts[0], len(ts)
}

func (e *engineRun) randTensor(shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(e.r.Float64()*2 - 1)
	}
	return t
}

func (e *engineRun) sgemm(name string, m, n, k int) (Case, error) {
	a, b, c := e.randTensor(m, k), e.randTensor(k, n), tensor.New(m, n)
	med, best, cnt := e.time(func() { gemm.Sgemm(false, false, m, n, k, 1, a.Data, k, b.Data, n, 0, c.Data, n) })
	return Case{Case: name, MS: med, MinMS: best, Runs: cnt, GFLOPS: gflops(2*float64(m*n*k), med),
		Note: fmt.Sprintf("M=%d N=%d K=%d kernel=%s", m, n, k, gemm.Kernel())}, nil
}

func (e *engineRun) conv(name string, batch int) (Case, error) {
	x, w, b := e.randTensor(batch, 64, 56, 56), e.randTensor(64, 64, 3, 3), e.randTensor(64)
	p := ops.Conv2D{StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
	y := tensor.New(batch, 64, 56, 56)
	if e.o.ONNXDir != "" {
		bl := onnx.NewBuilder(name)
		bl.Input("input", batch, 64, 56, 56)
		bl.Initializer("weight", []int{64, 64, 3, 3}, w.Data)
		bl.Initializer("bias", []int{64}, b.Data)
		bl.Node("Conv", "conv", []string{"input", "weight", "bias"}, []string{"output"},
			onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1), onnx.IntsAttr("strides", 1, 1))
		bl.Output("output", batch, 64, 56, 56)
		if err := onnx.WriteFile(filepath.Join(e.o.ONNXDir, name+".onnx"), bl.Model()); err != nil {
			return Case{}, err
		}
	}
	med, best, cnt := e.time(func() { ops.Conv2dForwardInto(y, x, w, b, p) })
	fl := 2 * float64(batch*64*64*9*56*56)
	return Case{Case: name, MS: med, MinMS: best, Runs: cnt, GFLOPS: gflops(fl, med), Note: fmt.Sprintf("%dx64x56x56 k3 p1 -> 64", batch)}, nil
}

// resnet18FLOPs is ResNet-18's forward work at 1x3x224x224 (1.82 GMACs).
const resnet18FLOPs = 3.64e9

func (e *engineRun) resnet18() (Case, error) {
	return e.resnetGraph("resnet18_b1", arch.NewResNet18(1000, 1).ExportONNX(), resnet18FLOPs)
}

// resnet50FLOPs is ResNet-50's forward work at 1x3x224x224 (4.09 GMACs).
const resnet50FLOPs = 8.18e9

func (e *engineRun) resnet50() (Case, error) {
	return e.resnetGraph("resnet50_b1", arch.NewResNet50(1000, 1).ExportONNX(), resnet50FLOPs)
}

// resnetGraph writes model to name.onnx (in ONNXDir, else a temporary
// file), reads it back and times the executor on one 1x3x224x224 input.
func (e *engineRun) resnetGraph(name string, model *onnx.Model, flops float64) (Case, error) {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("vigil-bench-%s-%d.onnx", name, os.Getpid()))
	if e.o.ONNXDir != "" {
		path = filepath.Join(e.o.ONNXDir, name+".onnx")
	} else {
		defer os.Remove(path)
	}
	if err := onnx.WriteFile(path, model); err != nil {
		return Case{}, err
	}
	// Time the graph as read back from the file, as ONNX Runtime sees it.
	back, err := onnx.ReadFile(path)
	if err != nil {
		return Case{}, err
	}
	out := back.Graph.Outputs[0].Name
	ex, err := onnx.NewExecutor(back, []string{out})
	if err != nil {
		return Case{}, err
	}
	in := map[string]*tensor.Tensor{back.Graph.Inputs[0].Name: e.randTensor(1, 3, 224, 224)}
	var runErr error
	med, best, cnt := e.time(func() {
		if _, err := ex.Run(in); err != nil {
			runErr = err
		}
	})
	return Case{Case: name, MS: med, MinMS: best, Runs: cnt, GFLOPS: gflops(flops, med), Note: "1x3x224x224, exported ONNX graph"}, runErr
}

func (e *engineRun) aeStep() (Case, error) {
	m := arch.NewConvAE(1)
	opt := optim.NewAdam(m.Params(), 1e-3, 0)
	x := tensor.New(16, 3, 64, 64)
	for i := range x.Data {
		x.Data[i] = e.r.Float32()
	}
	xv := nn.NewVar(x)
	med, best, cnt := e.time(func() {
		opt.ZeroGrad()
		loss := nn.MSELoss(m.Forward(xv), xv)
		nn.Backward(loss)
		opt.Step()
	})
	return Case{Case: "ae_step_b16", MS: med, MinMS: best, Runs: cnt, GFLOPS: gflops(aeStepFlops(), med),
		Note: "ConvAE 16x3x64x64, MSE, forward+backward+Adam; GFLOP/s counts conv and transposed-conv work only"}, nil
}

// gflops is the rate of flop floating-point operations done in ms
// milliseconds (0 when nothing was timed).
func gflops(flop, ms float64) float64 {
	if ms <= 0 {
		return 0
	}
	return flop / ms / 1e6
}

// aeStepLayers is the ConvAE's convolution geometry at 16x3x64x64: the
// encoder's convs at their outputs, the decoder's transposed convs at their
// inputs (where the work is N·Cout·Cin·K²·IH·IW).
var aeStepLayers = []struct{ cin, cout, k, oh, ow int }{
	{3, 32, 3, 32, 32}, {32, 64, 3, 16, 16}, {64, 64, 3, 16, 16}, {64, 32, 3, 16, 16}, // encoder
	{32, 32, 4, 16, 16}, {32, 3, 4, 32, 32}, // decoder
}

// aeStepFlops counts the convolution work of one ConvAE training step at
// batch 16: each layer's forward, weight gradient and input gradient
// (2·N·Cout·Cin·K²·OH·OW each), except the first layer's input gradient,
// which the image does not need.
func aeStepFlops() float64 {
	const n = 16
	total := 0.0
	for i, l := range aeStepLayers {
		f := 2 * float64(n*l.cin*l.cout*l.k*l.k*l.oh*l.ow)
		passes := 3.0
		if i == 0 {
			passes = 2
		}
		total += passes * f
	}
	return total
}
