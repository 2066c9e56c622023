package backbone

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-ad/vigil/onnx"
	"github.com/vigil-ad/vigil/tensor"
)

// withTestBuiltin registers a fake built-in whose pinned digest is that of
// content, and serves files from a local server (tests never touch the
// network). It returns the server's request counter.
func withTestBuiltin(t *testing.T, content []byte, serve []byte) *atomic.Int32 {
	t.Helper()
	sum := sha256.Sum256(content)
	oldB, oldURL := builtins, pullBaseURL
	builtins = append(slices.Clone(builtins), Builtin{
		Name: "test_net", File: "test_net.tflite", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)),
	})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/test_net.tflite" {
			http.NotFound(w, r)
			return
		}
		w.Write(serve)
	}))
	pullBaseURL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		builtins, pullBaseURL = oldB, oldURL
	})
	return &hits
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func TestPullVerifiesAndIsIdempotent(t *testing.T) {
	needFetchTool(t)
	content := randomBytes(100_000, 1)
	hits := withTestBuiltin(t, content, content)
	dir := filepath.Join(t.TempDir(), "new", "backbones")
	var log bytes.Buffer
	p, err := Pull(context.Background(), "test_net", dir, &log)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("pulled file differs (err %v)", err)
	}
	if p != filepath.Join(dir, "test_net.tflite") || !strings.Contains(log.String(), "sha256 verified") {
		t.Fatalf("path %s, log %q", p, log.String())
	}
	// Present and valid: no second download.
	if _, err := Pull(context.Background(), "test_net", dir, nil); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests, want 1", hits.Load())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(entries))
	}
}

func TestPullRejectsCorruptDownload(t *testing.T) {
	needFetchTool(t)
	content := randomBytes(50_000, 2)
	bad := bytes.Clone(content)
	bad[1234] ^= 0xff
	for _, tc := range []struct {
		name  string
		serve []byte
		want  string
	}{
		{"flipped byte", bad, "sha256"},
		{"truncated", content[:40_000], "bytes"},
		{"oversized", append(bytes.Clone(content), 1, 2, 3), "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withTestBuiltin(t, content, tc.serve)
			dir := t.TempDir()
			_, err := Pull(context.Background(), "test_net", dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("corrupt download left %d files behind", len(entries))
			}
		})
	}
	if _, err := Pull(context.Background(), "no_such_net", t.TempDir(), nil); err == nil {
		t.Fatal("unknown name accepted")
	}
}

func TestPullHTTPError(t *testing.T) {
	needFetchTool(t)
	withTestBuiltin(t, []byte("x"), nil)
	pullBaseURL += "/missing"
	dir := t.TempDir()
	if _, err := Pull(context.Background(), "test_net", dir, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v, want 404", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("failed download left files behind")
	}
}

func TestLocateOrderAndMissingMessage(t *testing.T) {
	root := t.TempDir()
	optDir, envDir, home := filepath.Join(root, "opt"), filepath.Join(root, "env"), filepath.Join(root, "home")
	t.Setenv("VIGIL_BACKBONE_DIR", envDir)
	t.Setenv("VIGIL_HOME", home)
	file := "mobilenet_v2_1.0_224_quant.tflite"
	if _, err := Locate("mobilenet_v2", OpenOptions{BackboneDir: optDir}); err == nil ||
		!strings.Contains(err.Error(), "vigil backbone pull mobilenet_v2") || !strings.Contains(err.Error(), "--backbone-dir") ||
		!strings.Contains(err.Error(), optDir) || !strings.Contains(err.Error(), envDir) {
		t.Fatalf("missing-file error should say how to get it and where it looked: %v", err)
	}
	put := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	homeFile := filepath.Join(home, "backbones", file)
	put(homeFile)
	if p, err := Locate("mobilenet_v2", OpenOptions{BackboneDir: optDir}); err != nil || p != homeFile {
		t.Fatalf("got %q %v, want %s", p, err, homeFile)
	}
	envFile := filepath.Join(envDir, "mobilenet_v2_1.0_224_quant", file) // shared/models layout
	put(envFile)
	if p, err := Locate("mobilenet_v2", OpenOptions{BackboneDir: optDir}); err != nil || p != envFile {
		t.Fatalf("got %q %v, want %s", p, err, envFile)
	}
	optFile := filepath.Join(optDir, file)
	put(optFile)
	if p, err := Locate("mobilenet_v2", OpenOptions{BackboneDir: optDir}); err != nil || p != optFile {
		t.Fatalf("got %q %v, want %s", p, err, optFile)
	}
	// The placeholder bytes fail the pinned digest.
	if _, err := Open("mobilenet_v2", OpenOptions{BackboneDir: optDir}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("corrupt file: %v", err)
	}
	if d, err := DefaultDir(); err != nil || d != envDir {
		t.Fatalf("DefaultDir %q %v", d, err)
	}
	t.Setenv("VIGIL_BACKBONE_DIR", "")
	if d, err := DefaultDir(); err != nil || d != filepath.Join(home, "backbones") {
		t.Fatalf("DefaultDir %q %v", d, err)
	}
	if _, err := Open("resnet1000", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "mobilenet_v2") {
		t.Fatalf("unknown name error should list the known ones: %v", err)
	}
	if _, err := Open(filepath.Join(root, "nope.tflite"), OpenOptions{}); err == nil || !strings.Contains(err.Error(), "nope.tflite") {
		t.Fatalf("missing path: %v", err)
	}
}

func TestAutoTaps(t *testing.T) {
	shapes := []tapShape{
		{"stem", 112, 32, 0}, {"b1", 56, 64, 1}, {"b1.relu", 56, 64, 2}, {"b2", 28, 128, 3},
		{"b2.out", 28, 128, 5}, {"b2.mid", 28, 128, 4}, {"b3", 14, 256, 6}, {"b4", 7, 512, 7}, {"const", 14, 1, -1},
	}
	got, err := autoTaps(shapes, 224)
	if err != nil || !slices.Equal(got, []string{"b1.relu", "b2.out", "b3"}) {
		t.Fatalf("autoTaps = %v, %v", got, err)
	}
	if _, err := autoTaps(shapes[:3], 224); err == nil || !strings.Contains(err.Error(), "stride 8") {
		t.Fatalf("missing stride: %v", err)
	}
}

// writeStrideModel writes an ONNX model of identity 1×1 convolutions with
// strides 4, then 2, then 2 (plus a Relu at stride 4 computed last there),
// so each tap is the normalised input subsampled.
func writeStrideModel(t *testing.T, batch int) string {
	t.Helper()
	b := onnx.NewBuilder("strides")
	b.Input("image", batch, 3, -1, -1)
	eye := []float32{1, 0, 0, 0, 1, 0, 0, 0, 1}
	b.Initializer("w", []int{3, 3, 1, 1}, eye)
	b.Node("Conv", "c4", []string{"image", "w"}, []string{"s4"}, onnx.IntsAttr("strides", 4, 4))
	b.Node("Conv", "c8", []string{"s4", "w"}, []string{"s8"}, onnx.IntsAttr("strides", 2, 2))
	b.Node("Relu", "r4", []string{"s4"}, []string{"s4relu"})
	b.Node("Conv", "c16", []string{"s8", "w"}, []string{"s16"}, onnx.IntsAttr("strides", 2, 2))
	b.Output("s16", 1, 3, -1, -1)
	p := filepath.Join(t.TempDir(), "strides.onnx")
	if err := onnx.WriteFile(p, b.Model()); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestONNXBackbone(t *testing.T) {
	// Fixed batch 1 (run in chunks) and dynamic batch.
	for _, batch := range []int{1, -1} {
		testONNXBackbone(t, writeStrideModel(t, batch))
	}
}

func testONNXBackbone(t *testing.T, p string) {
	e, err := NewONNX(p, []string{"s16", "s4", "s8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Tap{{"s16", 16, 3}, {"s4", 4, 3}, {"s8", 8, 3}}
	if !slices.Equal(e.Taps(), want) {
		t.Fatalf("taps %v, want %v", e.Taps(), want)
	}
	r := rand.New(rand.NewPCG(5, 6))
	x := tensor.New(2, 3, 32, 48)
	for i := range x.Data {
		x.Data[i] = float32(r.Float64())
	}
	f, err := e.Features(x)
	if err != nil {
		t.Fatal(err)
	}
	checkTapShapes(t, e, f, 2, 32, 48)
	for k, tp := range e.Taps() {
		m := f[k]
		oh, ow := m.Shape[2], m.Shape[3]
		for n := range 2 {
			for c := range 3 {
				for i := range oh {
					for j := range ow {
						xv := x.Data[((n*3+c)*32+i*tp.Stride)*48+j*tp.Stride]
						wantV := (xv - ImageNetMean[c]) / ImageNetStd[c]
						if got := m.Data[((n*3+c)*oh+i)*ow+j]; math.Abs(float64(got-wantV)) > 1e-5 {
							t.Fatalf("%s[%d,%d,%d,%d] = %g, want %g", tp.Name, n, c, i, j, got, wantV)
						}
					}
				}
			}
		}
	}
	// Automatic taps: the last map computed at each stride.
	ea, err := Open(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tapNames(ea.Taps()); !slices.Equal(got, []string{"s4relu", "s8", "s16"}) {
		t.Fatalf("auto taps %v", got)
	}
	if _, err := NewONNX(p, []string{"nonexistent"}); err == nil {
		t.Fatal("unknown layer accepted")
	}
	if _, err := e.Features(tensor.New(1, 1, 8, 8)); err == nil {
		t.Fatal("1-channel input accepted")
	}
}

// needFetchTool skips download tests on machines with neither curl nor
// wget (Pull's error then says so; see TestFetchWithoutTool).
func needFetchTool(t *testing.T) {
	t.Helper()
	for _, tool := range fetchTools {
		if _, err := exec.LookPath(tool.name); err == nil {
			return
		}
	}
	t.Skip("neither curl nor wget is installed")
}

func TestFetchWithoutTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := fetch(context.Background(), "http://127.0.0.1:1/x")
	if err == nil || !strings.Contains(err.Error(), "curl") || !strings.Contains(err.Error(), "http://127.0.0.1:1/x") {
		t.Fatalf("want an error naming the tools and the URL, got %v", err)
	}
}
