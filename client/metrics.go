package client

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric family names, documented in the package comment.
const (
	NameRequests         = "bulwark_client_requests_total"
	NameCalls            = "bulwark_client_calls_total"
	NameFailovers        = "bulwark_client_failovers_total"
	NameFreezes          = "bulwark_client_freezes_total"
	NameFrozenRejections = "bulwark_client_frozen_rejections_total"
	NameProbes           = "bulwark_client_probes_total"
	NameFrozen           = "bulwark_client_frozen"
)

// Names lists every metric family a Client exports.
func Names() []string {
	return []string{NameRequests, NameCalls, NameFailovers, NameFreezes, NameFrozenRejections,
		NameProbes, NameFrozen}
}

// callResult is the metric result of one RoundTrip call.
type callResult int

const (
	callResponse    callResult = iota // a response was returned
	callError                         // a single attempt's error was returned
	callCanceled                      // the caller's context ended the call
	callFrozen                        // ErrFrozen: refused while frozen, or the freeze began
	callNetworkDown                   // ErrNetworkDown
	callBothDown                      // ErrBothDown with no probe configured
	numCalls
)

var callNames = [numCalls]string{"response", "error", "canceled", "frozen", "network_down", "both_down"}

const (
	probeUp = iota
	probeDown
)

// counters are read at Collect time; the request path only adds to them.
type counters struct {
	attempts         [2][numResults]atomic.Uint64 // [center index][result]
	calls            [numCalls]atomic.Uint64
	failovers        atomic.Uint64 // home to other: the only direction there is
	freezes          atomic.Uint64
	frozenRejections atomic.Uint64
	probes           [2]atomic.Uint64 // [probeUp, probeDown]
}

var (
	descRequests = prometheus.NewDesc(NameRequests,
		"Attempts sent to a center, by the center's name and the attempt's result "+
			"(gateway, ok, 5xx, timeout, error, canceled).",
		[]string{"center", "result"}, nil)
	descCalls = prometheus.NewDesc(NameCalls,
		"RoundTrip calls by how they ended "+
			"(response, error, canceled, frozen, network_down, both_down).",
		[]string{"result"}, nil)
	descFailovers = prometheus.NewDesc(NameFailovers,
		"Second attempts sent to the other center after the first failed.",
		[]string{"from", "to"}, nil)
	descFreezes = prometheus.NewDesc(NameFreezes,
		"Freezes started: both centers failed while the network probe succeeded.", nil, nil)
	descFrozenRejections = prometheus.NewDesc(NameFrozenRejections,
		"Calls refused at once, without I/O, because the client was frozen.", nil, nil)
	descProbes = prometheus.NewDesc(NameProbes,
		"Network probes run after both centers failed, by verdict (up, down).",
		[]string{"result"}, nil)
	descFrozen = prometheus.NewDesc(NameFrozen,
		"1 while the client is frozen (refusing every call), else 0.", nil, nil)
)

// Describe sends the descriptors of every metric Collect sends.
func (c *Client) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range [...]*prometheus.Desc{descRequests, descCalls, descFailovers, descFreezes,
		descFrozenRejections, descProbes, descFrozen} {
		ch <- d
	}
}

// Collect sends the current value of every series, zeros included, so that a dashboard sees
// each series from the first scrape. The frozen gauge is computed from the Clock now.
//
// The series carry no label that tells two Clients apart: register each Client in its own
// registry, or wrap the registerer (prometheus.WrapRegistererWith) with a distinguishing label.
func (c *Client) Collect(ch chan<- prometheus.Metric) {
	for i := range c.centers {
		for r := range numResults {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue,
				float64(c.m.attempts[i][r].Load()), c.centers[i].name, resultNames[r])
		}
	}
	for r := range numCalls {
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue,
			float64(c.m.calls[r].Load()), callNames[r])
	}
	ch <- prometheus.MustNewConstMetric(descFailovers, prometheus.CounterValue,
		float64(c.m.failovers.Load()), c.centers[0].name, c.centers[1].name)
	ch <- prometheus.MustNewConstMetric(descFreezes, prometheus.CounterValue, float64(c.m.freezes.Load()))
	ch <- prometheus.MustNewConstMetric(descFrozenRejections, prometheus.CounterValue,
		float64(c.m.frozenRejections.Load()))
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue,
		float64(c.m.probes[probeUp].Load()), "up")
	ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue,
		float64(c.m.probes[probeDown].Load()), "down")
	frozen := 0.0
	if c.frozenNow() != nil {
		frozen = 1
	}
	ch <- prometheus.MustNewConstMetric(descFrozen, prometheus.GaugeValue, frozen)
}
