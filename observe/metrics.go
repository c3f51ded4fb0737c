package observe

import "github.com/prometheus/client_golang/prometheus"

// Metric family names exported by Tracing and Profiler (D6: the monitor is monitored too).
const (
	MetricSpansDropped    = "bulwark_spans_dropped_total"
	MetricSpanQueueLength = "bulwark_span_queue_length"
	MetricTraceSampleRate = "bulwark_trace_sample_rate"
	MetricProfilesWritten = "bulwark_profiles_written_total"
)

var (
	descSpansDropped = prometheus.NewDesc(MetricSpansDropped,
		"Sampled spans dropped because the export queue was full (or tracing had shut down).", nil, nil)
	descSpanQueue = prometheus.NewDesc(MetricSpanQueueLength,
		"Spans waiting for export: the queue plus the batch being exported.", nil, nil)
	descSampleRate = prometheus.NewDesc(MetricTraceSampleRate,
		"Share of new traces sampled at this process (parent-based: callers' decisions are kept).", nil, nil)
	descProfilesWritten = prometheus.NewDesc(MetricProfilesWritten,
		"Continuous-profiling files written (CPU and heap).", nil, nil)
)

// Describe sends the descriptors of the tracing metrics.
func (t *Tracing) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSpansDropped
	ch <- descSpanQueue
	ch <- descSampleRate
}

// Collect sends bulwark_spans_dropped_total, bulwark_span_queue_length and
// bulwark_trace_sample_rate, read at scrape time. While tracing is off the first two are 0.
func (t *Tracing) Collect(ch chan<- prometheus.Metric) {
	st := t.Stats()
	ch <- prometheus.MustNewConstMetric(descSpansDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descSpanQueue, prometheus.GaugeValue, float64(st.Queued))
	ch <- prometheus.MustNewConstMetric(descSampleRate, prometheus.GaugeValue, t.SampleRate())
}

// Describe sends the descriptor of the profiler's metric.
func (p *Profiler) Describe(ch chan<- *prometheus.Desc) { ch <- descProfilesWritten }

// Collect sends bulwark_profiles_written_total.
func (p *Profiler) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descProfilesWritten, prometheus.CounterValue, float64(p.written.Load()))
}

var (
	_ prometheus.Collector = (*Tracing)(nil)
	_ prometheus.Collector = (*Profiler)(nil)
)
