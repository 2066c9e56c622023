package monitor

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the monitor's Prometheus series: alarms counted and the
// current CUSUM statistic, per stream. Register them on any registry
// (vigil serve's, or the one 'vigil monitor --metrics-listen' serves).
type Metrics struct {
	Alarms    *prometheus.CounterVec
	Statistic *prometheus.GaugeVec
}

// NewMetrics makes the series (unregistered).
func NewMetrics() *Metrics {
	return &Metrics{
		Alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_monitor_alarms_total",
			Help: "CUSUM alarms (score shift or drift) by stream."}, []string{"stream"}),
		Statistic: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_monitor_cusum",
			Help: "Current CUSUM statistic by stream (restarts at 0 after an alarm)."}, []string{"stream"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.Alarms.Describe(ch)
	m.Statistic.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.Alarms.Collect(ch)
	m.Statistic.Collect(ch)
}

// Record updates the series after a Monitor.Observe on stream.
func (m *Metrics) Record(mon *Monitor, stream string, alarm *Alarm) {
	if alarm != nil {
		m.Alarms.WithLabelValues(stream).Inc()
	}
	if st := mon.streams[stream]; st != nil {
		m.Statistic.WithLabelValues(stream).Set(st.c.s)
	}
}
