package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric family names of traffic coloring (issue 7, SEEDS.md C4).
const (
	NameColoredRequests = "bulwark_colored_requests_total"
	NameColorStripped   = "bulwark_color_stripped_total"
)

// Colored results: the result label of bulwark_colored_requests_total, what the gateway did
// with a request whose color it kept.
const (
	ColorShadow      = "shadow"      // sent to the service's shadow hosts
	ColorPassthrough = "passthrough" // sent to the production hosts of a shadow: passthrough service
	ColorRejected    = "rejected"    // refused: 503, Bulwark-Reject: no-shadow
)

// colorMetrics are the two color families. Both are plain counters the core resolves once
// (per service for the colored requests) and then only increments.
type colorMetrics struct {
	colored  *prometheus.CounterVec
	stripped prometheus.Counter
}

func newColorMetrics() colorMetrics {
	return colorMetrics{
		colored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameColoredRequests,
			Help: "Colored (load-test) requests whose color the gateway kept, by service and result: shadow, passthrough or rejected (no-shadow).",
		}, []string{"service", "result"}),
		stripped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: NameColorStripped,
			Help: "Requests whose color (Bulwark-Color or the baggage member bulwark.color) the gateway removed: not proven by the token or a trusted address, or not a valid color.",
		}),
	}
}

func (c colorMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.colored, c.stripped}
}

// Colored returns the counter of bulwark_colored_requests_total for service and result (one
// of the Color* constants), creating the series at 0. Resolve it once per service (at config
// build) and keep it: Inc on the result costs no allocations.
func (m *Metrics) Colored(service, result string) prometheus.Counter {
	if m == nil {
		return discardCounter
	}
	return m.color.colored.WithLabelValues(service, result)
}

// ColorStripped returns the counter of bulwark_color_stripped_total.
func (m *Metrics) ColorStripped() prometheus.Counter {
	if m == nil {
		return discardCounter
	}
	return m.color.stripped
}
