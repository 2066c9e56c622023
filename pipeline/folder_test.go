package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModelFolder: the lookup rules the server and the workers share.
func TestModelFolder(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	touch(t, filepath.Join(dir, "a.safetensors"))
	touch(t, filepath.Join(dir, "a", "model.safetensors")) // shadowed by a.safetensors
	touch(t, filepath.Join(dir, "demo", "model.safetensors"))
	touch(t, filepath.Join(dir, ".tmp-123.safetensors")) // an atomic save in progress
	touch(t, filepath.Join(dir, "bad name.safetensors"))
	touch(t, filepath.Join(dir, "notes.txt"))
	touch(t, filepath.Join(outside, "secret.safetensors"))
	links := os.Symlink(filepath.Join(outside, "secret.safetensors"), filepath.Join(dir, "secret.safetensors")) == nil

	for name, want := range map[string]string{"a": "a.safetensors", "demo": "demo/model.safetensors"} {
		got, err := ModelFile(dir, name)
		if err != nil || got != filepath.Join(dir, want) {
			t.Errorf("ModelFile(%q) = %q, %v; want %s", name, got, err, want)
		}
	}
	for _, name := range []string{"../x", "a/b", "", ".hidden", "bad name", strings.Repeat("x", 129)} {
		if _, err := ModelFile(dir, name); err == nil || !strings.Contains(err.Error(), "not valid") {
			t.Errorf("ModelFile(%q): err %v, want 'not valid'", name, err)
		}
	}
	if _, err := ModelFile(dir, "nothere"); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "nothere.safetensors") {
		t.Errorf("unknown model: err %v", err)
	}
	if links {
		if _, err := ModelFile(dir, "secret"); err == nil || !strings.Contains(err.Error(), "outside the models folder") {
			t.Errorf("symbolic link out of the folder: err %v", err)
		}
	}

	got, skipped, err := ModelFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"] != filepath.Join(dir, "a.safetensors") || got["demo"] != filepath.Join(dir, "demo", "model.safetensors") {
		t.Errorf("ModelFiles = %v", got)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[filepath.Base(filepath.Dir(s.Path))+"/"+filepath.Base(s.Path)] = s.Reason
	}
	wantSkipped := map[string]string{
		"a/model.safetensors":                        "served from",
		filepath.Base(dir) + "/bad name.safetensors": "not a valid model name",
	}
	if links {
		wantSkipped[filepath.Base(dir)+"/secret.safetensors"] = "outside the models folder"
	}
	if len(reasons) != len(wantSkipped) {
		t.Errorf("skipped %v, want %v", reasons, wantSkipped)
	}
	for k, frag := range wantSkipped {
		if !strings.Contains(reasons[k], frag) {
			t.Errorf("skipped %s: reason %q, want it to contain %q", k, reasons[k], frag)
		}
	}
	if _, _, err := ModelFiles(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: err %v", err)
	}
}
