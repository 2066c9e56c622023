package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, all prefixed vigil_, on a
// registry of their own (several servers in one process, as in tests, do
// not collide). Label values are only route names, known model names and
// status codes, never raw request input, so their number stays bounded.
type metrics struct {
	reg          *prometheus.Registry
	latency      *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	queueDepth   prometheus.Gauge
	busyWorkers  prometheus.Gauge
	rejected     *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	scores       *prometheus.HistogramVec
	pvalues      *prometheus.HistogramVec
	images       *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	modelsLoaded prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vigil_request_duration_seconds", Help: "HTTP request latency by route, model and status code.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "model", "status"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_in_flight_requests", Help: "Requests being served now."})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_queue_depth", Help: "Admitted predict requests waiting for a worker."})
	m.busyWorkers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_busy_workers", Help: "Workers scoring now."})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_rejected_requests_total",
		Help: "Requests refused, by reason (overloaded, loading, too_large, too_many_pixels, unauthorized, ...)."}, []string{"reason"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_decisions_total",
		Help: "Scored images by model and outcome (anomalous, normal, error)."}, []string{"model", "outcome"})
	// scores have each model's own scale: wide exponential buckets; the
	// p-value histogram is scale-free (uniform on normal data, so drift
	// shows as mass moving towards 0)
	m.scores = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_score",
		Help: "Image anomaly scores by model.", Buckets: prometheus.ExponentialBuckets(1.0/1024, 2, 26)}, []string{"model"})
	m.pvalues = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_p_value",
		Help: "Conformal p-values of scored images by model.", Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, .75, 1}}, []string{"model"})
	m.images = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_images_total", Help: "Images scored by model."}, []string{"model"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_model_loads_total",
		Help: "Model file loads by model and result (loaded, failed)."}, []string{"model", "result"})
	m.modelsLoaded = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_models_loaded", Help: "Models being served."})
	m.reg.MustRegister(m.latency, m.inFlight, m.queueDepth, m.busyWorkers, m.rejected, m.decisions, m.scores, m.pvalues,
		m.images, m.reloads, m.modelsLoaded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
