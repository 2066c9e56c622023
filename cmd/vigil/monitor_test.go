package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMonitorCommand: vigil monitor --reference --scores --json on a
// stream that is in control for 3000 images and then shifts up: alarms
// cluster after the shift, observed_arl0 is printed, and a NaN score is
// an error naming its line.
func TestMonitorCommand(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var ref, stream strings.Builder
	ref.WriteString("score\n")
	for range 400 {
		fmt.Fprintf(&ref, "%g\n", math.Exp(0.5*rng.NormFloat64()))
	}
	stream.WriteString("camera,name,score\n")
	for i := range 3200 {
		s := math.Exp(0.5 * rng.NormFloat64())
		if i >= 3000 {
			s += 1.5
		}
		fmt.Fprintf(&stream, "cam1,img%04d.png,%g\n", i, s)
	}
	refPath, scoresPath := filepath.Join(dir, "ref.csv"), filepath.Join(dir, "stream.csv")
	os.WriteFile(refPath, []byte(ref.String()), 0o644)
	os.WriteFile(scoresPath, []byte(stream.String()), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"monitor", "--reference", refPath, "--scores", scoresPath, "--arl0", "500", "--mc-runs", "300", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res struct {
		H            float64  `json:"h"`
		ObservedARL0 *float64 `json:"observed_arl0"`
		Alarms       []struct {
			Stream string `json:"stream"`
			Index  int    `json:"index"`
			Name   string `json:"name"`
		} `json:"alarms"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	after := 0
	for _, a := range res.Alarms {
		if a.Stream != "cam1" || a.Name != fmt.Sprintf("img%04d.png", a.Index) {
			t.Errorf("alarm %+v", a)
		}
		if a.Index >= 3000 {
			after++
		}
	}
	// 3000 in-control images at ARL0 500: a handful of false alarms; 200
	// shifted ones at a few images' delay: many
	if after < 10 || len(res.Alarms)-after > 20 || res.ObservedARL0 == nil || res.H <= 0 {
		t.Errorf("%d alarms before the shift, %d after; observed_arl0 %v, h %v", len(res.Alarms)-after, after, res.ObservedARL0, res.H)
	}
	os.WriteFile(scoresPath, []byte("score\n1\nNaN\n"), 0o644)
	errb.Reset()
	if code := run([]string{"monitor", "--reference", refPath, "--scores", scoresPath}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "stream.csv:3") {
		t.Errorf("NaN score: exit %d, %s", code, errb.String())
	}
}
