package httpmw

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ServerStats is a snapshot of a Handler's counts.
type ServerStats struct {
	Inflight   int64             `json:"inflight"`   // requests inside the middleware now, waiting included
	Served     uint64            `json:"served"`     // requests the wrapped handler completed
	Panics     uint64            `json:"panics"`     // panics recovered (answered 500 or aborted)
	Reports    uint64            `json:"reports"`    // responses that carried Bulwark-Overload: 1
	Overloaded bool              `json:"overloaded"` // the detector is not normal now
	Rejected   map[string]uint64 `json:"rejected"`   // refusals by reason (Bulwark-Reject values)
}

// Stats returns the Handler's counts. They are read one by one, so under load they need not
// agree exactly with one another.
func (h *Handler) Stats() ServerStats {
	st := ServerStats{Inflight: h.inflight.Load(), Served: h.served.Load(), Panics: h.panics.Load(),
		Reports: h.reports.Load(), Rejected: make(map[string]uint64, numReasons)}
	if d := h.s.detector; d != nil {
		st.Overloaded = d.Overloaded()
	}
	for i, name := range reasonNames {
		st.Rejected[name] = h.rejected[i].Load()
	}
	return st
}

var (
	descServed = prometheus.NewDesc("bulwark_httpmw_requests_total",
		"Requests that reached the wrapped handler and completed, by handler.", []string{"handler"}, nil)
	descRejected = prometheus.NewDesc("bulwark_httpmw_rejections_total",
		"Requests the middleware refused, by handler and reason (the Bulwark-Reject value).",
		[]string{"handler", "reason"}, nil)
	descPanics = prometheus.NewDesc("bulwark_panics_total",
		"Panics recovered, by component and handler.", []string{"component", "handler"}, nil)
	descInflight = prometheus.NewDesc("bulwark_httpmw_inflight",
		"Requests inside the middleware now, waiting for admission included.", []string{"handler"}, nil)
	descOverloaded = prometheus.NewDesc("bulwark_httpmw_overloaded",
		"1 while the overload detector is not normal (responses carry Bulwark-Overload: 1).",
		[]string{"handler"}, nil)
	descReports = prometheus.NewDesc("bulwark_httpmw_overload_reports_total",
		"Responses that carried Bulwark-Overload: 1.", []string{"handler"}, nil)
)

// Describe sends the descriptors of the Handler's metrics.
func (h *Handler) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descServed, descRejected, descPanics, descInflight, descOverloaded, descReports} {
		ch <- d
	}
}

// Collect sends the Handler's metrics, labelled with its name (WithName).
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	st := h.Stats()
	name := h.s.name
	ch <- prometheus.MustNewConstMetric(descServed, prometheus.CounterValue, float64(st.Served), name)
	for _, reason := range reasonNames {
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(st.Rejected[reason]), name, reason)
	}
	ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(st.Panics), "httpmw", name)
	ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(st.Inflight), name)
	overloaded := 0.0
	if st.Overloaded {
		overloaded = 1
	}
	ch <- prometheus.MustNewConstMetric(descOverloaded, prometheus.GaugeValue, overloaded, name)
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(st.Reports), name)
}

var _ prometheus.Collector = (*Handler)(nil)
