package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// StateTensors returns m's parameters followed by its buffers as named
// float32 safetensors entries (the module's state dict).
func StateTensors(m Module) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, p := range m.Params() {
		ts = append(ts, safetensors.F32(p.Name, p.Value.Shape, p.Value.Data))
	}
	for _, b := range BuffersOf(m) {
		ts = append(ts, safetensors.F32(b.Name, b.T.Shape, b.T.Data))
	}
	return ts
}

// SaveParams writes m's parameters and buffers to path as safetensors
// (atomically).
func SaveParams(path string, m Module) error {
	return safetensors.WriteFile(path, map[string]string{"format": "vigil-nn"}, StateTensors(m))
}

// LoadParams reads parameters and buffers saved by SaveParams into m. Every
// parameter and buffer of m must be present with the same shape, and the
// file must hold nothing else; otherwise the error names the tensor and m
// is left unchanged.
func LoadParams(path string, m Module) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	if err := LoadState(f, m, "", true); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// LoadState copies tensors named prefix+name from f into m's parameters and
// buffers. With strict, tensors under prefix that m does not have are an
// error (except PyTorch's "*.num_batches_tracked" counters). Everything is
// validated before anything is copied.
func LoadState(f *safetensors.File, m Module, prefix string, strict bool) error {
	type dst struct {
		name string
		t    *tensor.Tensor
	}
	var dsts []dst
	for _, p := range m.Params() {
		dsts = append(dsts, dst{p.Name, p.Value})
	}
	for _, b := range BuffersOf(m) {
		dsts = append(dsts, dst{b.Name, b.T})
	}
	want := map[string]bool{}
	vals := make([][]float32, len(dsts))
	for i, d := range dsts {
		key := prefix + d.name
		want[key] = true
		st, ok := f.Tensors[key]
		if !ok {
			return fmt.Errorf("missing tensor %q", key)
		}
		if !sameShape(st.Shape, d.t.Shape) {
			return fmt.Errorf("tensor %q has shape %v, model expects %v", key, st.Shape, d.t.Shape)
		}
		v, err := st.Float32s()
		if err != nil {
			return err
		}
		vals[i] = v
	}
	if strict {
		var extra []string
		for name := range f.Tensors {
			// PyTorch's BatchNorm counter has no counterpart here (momentum
			// is fixed), so state dicts exported from PyTorch still load.
			if strings.HasPrefix(name, prefix) && !want[name] && !strings.HasSuffix(name, ".num_batches_tracked") {
				extra = append(extra, name)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			return fmt.Errorf("unexpected tensor %q not in the model", extra[0])
		}
	}
	for i, d := range dsts {
		copy(d.t.Data, vals[i])
	}
	return nil
}
