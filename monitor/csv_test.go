package monitor

import (
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	ps, err := ReadCSV(strings.NewReader("1.5\n2\n\n-3e-1\n"), "a.csv")
	if err != nil || len(ps) != 3 || ps[2].Score != -0.3 || ps[0].Stream != "" {
		t.Fatalf("plain: %v %+v", err, ps)
	}
	ps, err = ReadCSV(strings.NewReader("path,camera,score\nx.png,cam1,0.5\ny.png,cam2,0.25\n"), "b.csv")
	if err != nil || len(ps) != 2 || ps[1] != (Point{Stream: "cam2", Name: "y.png", Score: 0.25}) {
		t.Fatalf("header: %v %+v", err, ps)
	}
	for in, want := range map[string]string{
		"name,value\na,1\n": "no score column",
		"score\n1\nNaN\n":   "c.csv:3: score \"NaN\" is not finite",
		"score\n1\nabc\n":   "c.csv:3: score \"abc\" is not a number",
		"score\n":           "no scores",
	} {
		if _, err := ReadCSV(strings.NewReader(in), "c.csv"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}
