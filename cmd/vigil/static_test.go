package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// No package of Vigil or of its dependencies uses cgo. The standard
// library's net and os/user have cgo resolvers that Go links (against
// libc) whenever cgo is enabled, and `vigil serve` / `vigil worker` need
// net; so the static binary is `CGO_ENABLED=0 go build ./cmd/vigil`
// (README), and this test builds it that way and checks it is static.
func TestBinaryNeedsNoCgo(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH: cannot list or build the binary")
	}
	// Every package whose own files use cgo, as the default build sees them.
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if .CgoFiles}}{{.ImportPath}}{{end}}", "github.com/vigil-ad/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "net", "os/user", "runtime/cgo": // resolvers only: gone with CGO_ENABLED=0
		default:
			t.Errorf("cmd/vigil depends on %s, which uses cgo", p)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Skipf("binary is not ELF on this platform (%v): nothing to check", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("CGO_ENABLED=0 binary has a %v segment: it is dynamically linked", p.Type)
		}
	}
}
