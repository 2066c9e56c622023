package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ad/vigil/arch"
	"github.com/vigil-ad/vigil/nn"
	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

func TestEngineTinyCases(t *testing.T) {
	dir := t.TempDir()
	var got []Case
	o := EngineOptions{Runs: 1, Cases: []string{"conv3x3_b1", "sgemm_im2col"}, ONNXDir: dir}
	if err := Engine(context.Background(), o, func(c Case) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	// run order is the table's, not the order asked for
	if len(got) != 2 || got[0].Case != "sgemm_im2col" || got[1].Case != "conv3x3_b1" {
		t.Fatalf("cases emitted: %+v", got)
	}
	flop := map[string]float64{"sgemm_im2col": 2 * 3136 * 64 * 576, "conv3x3_b1": 2 * 64 * 64 * 9 * 56 * 56}
	for _, c := range got {
		if c.Runs != 1 || c.MS <= 0 || c.MinMS != c.MS {
			t.Errorf("%s: one run must give median == min > 0: %+v", c.Case, c)
		}
		if want := flop[c.Case] / c.MS / 1e6; c.GFLOPS != want {
			t.Errorf("%s: GFLOPS %v, want %v from %v ms", c.Case, c.GFLOPS, want, c.MS)
		}
		if c.Note == "" {
			t.Errorf("%s: no note", c.Case)
		}
	}
	// the JSON line keeps the field names bench/engine.sh parses
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(got[0]); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"case", "ms", "gflops", "min_ms", "runs", "note"} {
		if _, ok := line[k]; !ok {
			t.Errorf("JSON line %s lacks %q", buf.String(), k)
		}
	}
	// the conv graph written is the one timed: one Conv on 1x64x56x56
	m, err := onnx.ReadFile(filepath.Join(dir, "conv3x3_b1.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	if len(g.Nodes) != 1 || g.Nodes[0].OpType != "Conv" || !slices.Equal(g.Inputs[0].Shape, []int64{1, 64, 56, 56}) {
		t.Errorf("conv3x3_b1.onnx: nodes %v, input %v", g.Nodes, g.Inputs)
	}
}

func TestEngineRefusesUnknownCase(t *testing.T) {
	err := Engine(context.Background(), EngineOptions{Cases: []string{"sgemm_im2col", "sgemm_2048"}}, func(Case) error {
		t.Fatal("nothing may run when a case name is unknown")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), `"sgemm_2048"`) {
		t.Fatalf("got %v, want an error naming sgemm_2048", err)
	}
}

func TestEngineCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Engine(ctx, EngineOptions{Runs: 1}, func(Case) error {
		t.Fatal("a cancelled run emits nothing")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// The AE step's FLOP count must describe arch.ConvAE: each conv layer's
// channels and kernel come from its weight, its spatial size from a forward
// pass at 64x64, and the total matches a hand count.
func TestAEStepFlopsMatchesConvAE(t *testing.T) {
	m := arch.NewConvAE(1)
	x := nn.NewVar(tensor.New(1, 3, 64, 64))
	i := 0
	check := func(layers []nn.Module, transposed bool) {
		for _, l := range layers {
			ps := l.Params()
			if len(ps) == 0 {
				x = l.Forward(x)
				continue
			}
			w := ps[0].Value.Shape
			in := x.Value.Shape
			x = l.Forward(x)
			if i >= len(aeStepLayers) {
				t.Fatalf("ConvAE has more conv layers than aeStepLayers (%d)", len(aeStepLayers))
			}
			want := aeStepLayers[i]
			cin, cout, at := w[1], w[0], x.Value.Shape // conv: weight [out,in,k,k], sized at its output
			if transposed {
				cin, cout, at = w[0], w[1], in // transposed: weight [in,out,k,k], sized at its input
			}
			if cin != want.cin || cout != want.cout || w[2] != want.k || at[2] != want.oh || at[3] != want.ow {
				t.Errorf("layer %d: weight %v, sized at %v; table says %+v", i, w, at, want)
			}
			i++
		}
	}
	check(m.Encoder.Layers, false)
	check(m.Decoder.Layers, true)
	if i != len(aeStepLayers) {
		t.Errorf("ConvAE has %d conv layers, aeStepLayers %d", i, len(aeStepLayers))
	}
	// sum over layers of passes x 2*16*cin*cout*k*k*h*w, by hand
	if got := aeStepFlops(); got != 2422210560 {
		t.Errorf("aeStepFlops = %v, want 2422210560", got)
	}
}
