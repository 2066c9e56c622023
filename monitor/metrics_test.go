package monitor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics: alarms are counted per stream and the gauge follows S
// (restarting at 0 after an alarm).
func TestMetrics(t *testing.T) {
	ref := make([]float64, 99)
	for i := range ref {
		ref[i] = float64(i + 1)
	}
	c, err := New(ref, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	mon := NewMonitor(c)
	met := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(met)
	for _, x := range []float64{1000, 1000, 1000, 1000, 1000} { // alarm at the 2nd and 4th
		a, err := mon.Observe("cam", "", x)
		if err != nil {
			t.Fatal(err)
		}
		met.Record(mon, "cam", a)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != "cam" {
				t.Errorf("%s: labels %v", f.GetName(), m.GetLabel())
			}
			if m.Counter != nil {
				got[f.GetName()] = m.GetCounter().GetValue()
			} else {
				got[f.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	if v := got["vigil_monitor_alarms_total"]; v != 2 {
		t.Errorf("alarms counter %v, want 2", v)
	}
	if v, want := got["vigil_monitor_cusum"], Z(ref, 1000)-0.5; v != want {
		t.Errorf("statistic gauge %v, want %v", v, want)
	}
}
