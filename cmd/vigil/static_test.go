package main

import (
	"os/exec"
	"strings"
	"testing"
)

// `go build ./cmd/vigil` must give one static binary even where cgo is
// enabled: no package of the binary may pull in cgo (package net and
// os/user do, through their resolvers).
func TestBinaryNeedsNoCgo(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/vigil-ad/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "runtime/cgo", "net", "os/user", "plugin":
			t.Errorf("cmd/vigil depends on %s, which links the binary against libc when cgo is enabled", p)
		}
	}
}
