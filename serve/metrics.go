package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series, in a registry of its own: mounting two Servers in one process,
// or importing this package, touches no global registry.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	rejected   *prometheus.CounterVec
	queued     prometheus.Gauge
	running    prometheus.Gauge
	tokens     *prometheus.CounterVec
	steps      prometheus.Counter
	batchRows  prometheus.Histogram
	batchTime  prometheus.Histogram
	batchFails prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llada_requests_total",
		Help: "Generation requests by endpoint and HTTP status."}, []string{"endpoint", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llada_request_duration_seconds",
		Help: "Generation request latency, admission to last byte.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 15)}, []string{"endpoint"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llada_rejected_total",
		Help: "Requests not served to the end, by reason (auth, queue_full, draining, timeout, cancelled)."}, []string{"reason"})
	m.queued = prometheus.NewGauge(prometheus.GaugeOpts{Name: "llada_queued_requests", Help: "Requests waiting for a generation slot."})
	m.running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "llada_running_generations", Help: "Generations running."})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llada_tokens_total",
		Help: "Tokens processed, by kind (prompt, completion)."}, []string{"kind"})
	m.steps = prometheus.NewCounter(prometheus.CounterOpts{Name: "llada_denoising_steps_total", Help: "Denoising steps over all generations."})
	m.batchRows = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llada_batch_rows",
		Help: "Rows per batched forward pass.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}})
	m.batchTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "llada_batch_forward_seconds",
		Help: "Time of one batched forward pass.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.batchFails = prometheus.NewCounter(prometheus.CounterOpts{Name: "llada_batch_errors_total", Help: "Batched forward passes that failed."})
	m.reg.MustRegister(m.requests, m.latency, m.rejected, m.queued, m.running, m.tokens, m.steps,
		m.batchRows, m.batchTime, m.batchFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observeBatch(b batchStats) {
	m.batchRows.Observe(float64(b.Rows))
	m.batchTime.Observe(b.Elapsed.Seconds())
	if b.Err != nil {
		m.batchFails.Inc()
	}
}
