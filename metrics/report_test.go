package metrics

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestReadScoresCSV(t *testing.T) {
	in := "score,label,name\n0.5,0,a.png\n 0.9, 1 ,b.png\n\n0.1,0\n"
	s, l, n, err := ReadScoresCSV(strings.NewReader(in), "s.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s, []float64{0.5, 0.9, 0.1}) || !slices.Equal(l, []int{0, 1, 0}) || !slices.Equal(n, []string{"a.png", "b.png", ""}) {
		t.Fatalf("got %v %v %q", s, l, n)
	}
	// No header: the first row is data, even behind a byte-order mark.
	s, _, _, err = ReadScoresCSV(strings.NewReader("\ufeff1e-3,1\n2,0\n"), "x.csv")
	if err != nil || !slices.Equal(s, []float64{1e-3, 2}) {
		t.Fatalf("no header: %v %v", s, err)
	}
	bad := []struct{ in, want string }{
		{"score,label\n0.5,2\n", "s.csv:2: label \"2\""},
		{"0.5,0\nabc,1\n", "s.csv:2: score \"abc\""},
		{"0.5,0\n0.7\n", "s.csv:2: got 1 fields"},
		{"0.5,0\n0.7,1,x,y\n", "s.csv:2: got 4 fields"},
		{"0.5,0\nNaN,1\n", "s.csv:2: score \"NaN\" is not finite"},
		{"score,label\n", "s.csv: no score rows"},
		{"0.5,0\n\"x,1\n", "s.csv:2:"},
	}
	for _, b := range bad {
		_, _, _, err := ReadScoresCSV(strings.NewReader(b.in), "s.csv")
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: error %v, want it to contain %q", b.in, err, b.want)
		}
	}
}

func TestImageMetricsReport(t *testing.T) {
	s := []float64{0.1, 0.4, 0.35, 0.8, 0.2}
	l := []int{0, 0, 1, 1, 0}
	r, err := ImageMetrics(s, l)
	if err != nil {
		t.Fatal(err)
	}
	auroc, _ := AUROC(s, l)
	ap, _ := AveragePrecision(s, l)
	f, ft := F1Max(s, l)
	if r.AUROC != auroc || r.AP != ap || r.F1Max != f || r.F1MaxThreshold != ft || r.NNormal != 3 || r.NAnomalous != 2 {
		t.Fatalf("report %+v", r)
	}
	if r.Confusion != nil {
		t.Fatal("confusion must be absent unless asked")
	}
	r = r.WithConfusion(s, l, 0.35)
	buf, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	_ = json.Unmarshal(buf, &back)
	for _, k := range []string{"auroc", "ap", "f1_max", "f1_max_threshold", "closest_threshold", "youden_threshold", "n_normal", "n_anomalous", "confusion"} {
		if _, ok := back[k]; !ok {
			t.Fatalf("JSON lacks %q: %s", k, buf)
		}
	}
	c := back["confusion"].(map[string]any)
	// >= 0.35 flags 0.4 (normal), 0.35 and 0.8 (anomalous).
	if c["tp"].(float64) != 2 || c["fp"].(float64) != 1 || c["tn"].(float64) != 2 || c["fn"].(float64) != 0 || c["threshold"].(float64) != 0.35 {
		t.Fatalf("confusion JSON %v", c)
	}
	if _, err := ImageMetrics([]float64{1}, []int{1}); err == nil {
		t.Fatal("one class: want error")
	}
}
