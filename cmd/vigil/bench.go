package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// benchCase is one line of `vigil bench engine --json`.
type benchCase struct {
	Case   string  `json:"case"`
	MS     float64 `json:"ms"`
	GFLOPS float64 `json:"gflops,omitempty"`
	MinMS  float64 `json:"min_ms"`
	Runs   int     `json:"runs"`
	Note   string  `json:"note,omitempty"`
}

// timeIt runs fn after warm-up until runs samples or budget are spent and
// returns the median and minimum in milliseconds.
func timeIt(runs int, budget time.Duration, fn func()) (median, best float64, n int) {
	fn() // warm-up: buffers, packing pools, page faults
	var ts []float64
	start := time.Now()
	for len(ts) < runs && (len(ts) < 3 || time.Since(start) < budget) {
		t0 := time.Now()
		fn()
		ts = append(ts, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	sort.Float64s(ts)
	return ts[len(ts)/2], ts[0], len(ts)
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.Float64()*2 - 1)
	}
	return t
}

func cmdBench(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "engine" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "Usage: vigil bench engine [--json] [--write-onnx DIR] [--runs N] [--cases a,b]")
			return nil
		}
		return usagef("usage: vigil bench engine [--json] [--write-onnx DIR]")
	}
	fs := newFlags("bench engine", "bench engine [--json] [--write-onnx DIR] [--runs N] [--cases a,b]", stdout)
	asJSON := fs.Bool("json", false, "one JSON object per line: {\"case\", \"ms\" (median), \"gflops\"}")
	onnxDir := fs.String("write-onnx", "", "write the ONNX graphs timed here (resnet18_b1.onnx, conv3x3_b1.onnx, conv3x3_b8.onnx) for ONNX Runtime")
	runs := fs.Int("runs", 20, "timed runs per case (after one warm-up)")
	only := fs.String("cases", "", "comma-separated subset of cases")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*only, ",") {
		if c != "" {
			want[c] = true
		}
	}
	if *onnxDir != "" {
		if err := os.MkdirAll(*onnxDir, 0o755); err != nil {
			return err
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	budget := 20 * time.Second
	emit := func(c benchCase) error {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(c)
		}
		fmt.Fprintf(stdout, "%-14s median %9.3f ms  min %9.3f ms  %8.1f GFLOP/s  (%d runs) %s\n", c.Case, c.MS, c.MinMS, c.GFLOPS, c.Runs, c.Note)
		return nil
	}
	type benchFn func() (benchCase, error)
	sgemm := func(name string, m, n, k int) benchFn {
		return func() (benchCase, error) {
			a, b, c := randTensor(r, m, k), randTensor(r, k, n), tensor.New(m, n)
			med, best, cnt := timeIt(*runs, budget, func() { gemm.Sgemm(false, false, m, n, k, 1, a.Data, k, b.Data, n, 0, c.Data, n) })
			return benchCase{Case: name, MS: med, MinMS: best, Runs: cnt, GFLOPS: 2 * float64(m*n*k) / med / 1e6,
				Note: fmt.Sprintf("M=%d N=%d K=%d kernel=%s", m, n, k, gemm.Kernel())}, nil
		}
	}
	conv := func(name string, batch int) benchFn {
		return func() (benchCase, error) {
			x, w, b := randTensor(r, batch, 64, 56, 56), randTensor(r, 64, 64, 3, 3), randTensor(r, 64)
			p := ops.Conv2D{StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1}
			y := tensor.New(batch, 64, 56, 56)
			if *onnxDir != "" {
				bl := onnx.NewBuilder(name)
				bl.Input("input", batch, 64, 56, 56)
				bl.Initializer("weight", []int{64, 64, 3, 3}, w.Data)
				bl.Initializer("bias", []int{64}, b.Data)
				bl.Node("Conv", "conv", []string{"input", "weight", "bias"}, []string{"output"},
					onnx.IntsAttr("kernel_shape", 3, 3), onnx.IntsAttr("pads", 1, 1, 1, 1), onnx.IntsAttr("strides", 1, 1))
				bl.Output("output", batch, 64, 56, 56)
				if err := onnx.WriteFile(filepath.Join(*onnxDir, name+".onnx"), bl.Model()); err != nil {
					return benchCase{}, err
				}
			}
			med, best, cnt := timeIt(*runs, budget, func() { ops.Conv2dForwardInto(y, x, w, b, p) })
			fl := 2 * float64(batch*64*64*9*56*56)
			return benchCase{Case: name, MS: med, MinMS: best, Runs: cnt, GFLOPS: fl / med / 1e6, Note: fmt.Sprintf("%dx64x56x56 k3 p1 -> 64", batch)}, nil
		}
	}
	cases := []struct {
		name string
		fn   benchFn
	}{
		{"sgemm_1024", sgemm("sgemm_1024", 1024, 1024, 1024)},
		{"sgemm_im2col", sgemm("sgemm_im2col", 3136, 64, 576)},
		{"conv3x3_b1", conv("conv3x3_b1", 1)},
		{"conv3x3_b8", conv("conv3x3_b8", 8)},
		{"resnet18_b1", func() (benchCase, error) {
			m := arch.NewResNet18(1000, 1)
			model := m.ExportONNX()
			path := filepath.Join(os.TempDir(), fmt.Sprintf("vigil-bench-resnet18-%d.onnx", os.Getpid()))
			if *onnxDir != "" {
				path = filepath.Join(*onnxDir, "resnet18_b1.onnx")
			} else {
				defer os.Remove(path)
			}
			if err := onnx.WriteFile(path, model); err != nil {
				return benchCase{}, err
			}
			// Time the graph as read back from the file, as ONNX Runtime sees it.
			back, err := onnx.ReadFile(path)
			if err != nil {
				return benchCase{}, err
			}
			out := back.Graph.Outputs[0].Name
			ex, err := onnx.NewExecutor(back, []string{out})
			if err != nil {
				return benchCase{}, err
			}
			in := map[string]*tensor.Tensor{back.Graph.Inputs[0].Name: randTensor(r, 1, 3, 224, 224)}
			var runErr error
			med, best, cnt := timeIt(*runs, budget, func() {
				if _, err := ex.Run(in); err != nil {
					runErr = err
				}
			})
			return benchCase{Case: "resnet18_b1", MS: med, MinMS: best, Runs: cnt, GFLOPS: 3.64 / med * 1e3, Note: "1x3x224x224, exported ONNX graph"}, runErr
		}},
		{"ae_step_b16", func() (benchCase, error) {
			m := arch.NewConvAE(1)
			opt := optim.NewAdam(m.Params(), 1e-3, 0)
			x := tensor.New(16, 3, 64, 64)
			for i := range x.Data {
				x.Data[i] = r.Float32()
			}
			xv := nn.NewVar(x)
			med, best, cnt := timeIt(*runs, budget, func() {
				opt.ZeroGrad()
				loss := nn.MSELoss(m.Forward(xv), xv)
				nn.Backward(loss)
				opt.Step()
			})
			return benchCase{Case: "ae_step_b16", MS: med, MinMS: best, Runs: cnt, GFLOPS: aeStepFlops() / med / 1e6,
				Note: "ConvAE 16x3x64x64, MSE, forward+backward+Adam; GFLOP/s counts conv and transposed-conv work only"}, nil
		}},
	}
	for _, c := range cases {
		if len(want) > 0 && !want[c.name] {
			continue
		}
		res, err := c.fn()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		if err := emit(res); err != nil {
			return err
		}
	}
	return nil
}

// aeStepFlops counts the convolution work of one ConvAE training step at
// batch 16: each layer's forward, weight gradient and input gradient
// (2·N·Cout·Cin·K²·OH·OW each), except the first layer's input gradient,
// which the image does not need.
func aeStepFlops() float64 {
	const n = 16
	type layer struct{ cin, cout, k, oh, ow int }
	layers := []layer{
		{3, 32, 3, 32, 32}, {32, 64, 3, 16, 16}, {64, 64, 3, 16, 16}, {64, 32, 3, 16, 16}, // encoder
		{32, 32, 4, 16, 16}, {32, 3, 4, 32, 32}, // decoder, sized at the transposed convs' inputs
	}
	total := 0.0
	for i, l := range layers {
		f := 2 * float64(n*l.cin*l.cout*l.k*l.k*l.oh*l.ow)
		passes := 3.0
		if i == 0 {
			passes = 2
		}
		total += passes * f
	}
	return total
}
