package httpmw

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-go/bulwark/breaker"
)

// callOutcome is how one call ended: an index into callOutcomeNames and the counters.
type callOutcome uint8

const (
	callOK callOutcome = iota
	callError5xx
	callOverloaded
	callFailed
	callTimeout
	callDeadline
	callCanceled
	callBreakerOpen
	callRateLimited
	callDegraded
	numCallOutcomes
)

// callOutcomeNames are the outcome label values, in callOutcome order.
var callOutcomeNames = [numCallOutcomes]string{"ok", "error_5xx", "overloaded", "failed", "timeout",
	"deadline", "canceled", "breaker_open", "rate_limited", "degraded"}

var (
	descClientRequests = prometheus.NewDesc("bulwark_httpmw_client_requests_total",
		"Calls through the protecting transport, by client, target host and outcome.",
		[]string{"client", "host", "outcome"}, nil)
	descClientFallbacks = prometheus.NewDesc("bulwark_httpmw_client_fallbacks_total",
		"Refused or failed calls that the fallback answered, by client and target host.",
		[]string{"client", "host"}, nil)
	descClientTimeout = prometheus.NewDesc("bulwark_httpmw_client_timeout_seconds",
		"The current EMA dynamic timeout of the target host.", []string{"client", "host"}, nil)
	descClientBreakerOpen = prometheus.NewDesc("bulwark_httpmw_client_breaker_open",
		"1 while the target host's breaker is not closed (it refuses calls), else 0.",
		[]string{"client", "host"}, nil)
)

// Describe sends the descriptors of the RoundTripper's metrics.
func (t *RoundTripper) Describe(ch chan<- *prometheus.Desc) {
	ch <- descClientRequests
	ch <- descClientFallbacks
	ch <- descClientTimeout
	ch <- descClientBreakerOpen
}

// Collect sends the RoundTripper's metrics for every host it has called. The counters and the
// timeout are atomic reads; the breaker's state is read with State, which takes the breaker's
// own short lock. client is the WithName value and host the target host (URL.Host):
//
//   - bulwark_httpmw_client_requests_total{client,host,outcome} (counter): calls by outcome.
//     ok: a response below 500 without Bulwark-Overload: 1. error_5xx: a 5xx response.
//     overloaded: a response below 500 with Bulwark-Overload: 1. failed: the base RoundTripper
//     failed (connection refused, reset). timeout: the dynamic timeout passed before the
//     response headers (ErrTimeout). deadline: the caller's deadline passed first. canceled:
//     the caller cancelled. breaker_open, rate_limited, degraded: refused before any request
//     was sent. The breaker counts error_5xx, overloaded, failed, timeout and deadline as
//     failures and ok as a success, and is not told of the others.
//   - bulwark_httpmw_client_fallbacks_total{client,host} (counter): refused or failed calls
//     that the fallback of WithDegrade answered.
//   - bulwark_httpmw_client_timeout_seconds{client,host} (gauge): the host's current dynamic
//     timeout (absent with WithoutTimeout).
//   - bulwark_httpmw_client_breaker_open{client,host} (gauge): 1 while the host's breaker is not
//     closed, that is while it refuses calls (the SRE breaker drops with p > 0; the classic
//     breaker is open or half-open), else 0 (absent with WithoutBreaker).
func (t *RoundTripper) Collect(ch chan<- prometheus.Metric) {
	t.hosts.Range(func(_, v any) bool {
		h := v.(*clientHost)
		for o, name := range callOutcomeNames {
			ch <- prometheus.MustNewConstMetric(descClientRequests, prometheus.CounterValue,
				float64(h.counts[o].Load()), t.name, h.name, name)
		}
		ch <- prometheus.MustNewConstMetric(descClientFallbacks, prometheus.CounterValue,
			float64(h.fallbacks.Load()), t.name, h.name)
		if h.timeout != nil {
			ch <- prometheus.MustNewConstMetric(descClientTimeout, prometheus.GaugeValue,
				h.timeout.Timeout().Seconds(), t.name, h.name)
		}
		if h.breaker != nil {
			open := 0.0
			if h.breaker.State() != breaker.StateClosed {
				open = 1
			}
			ch <- prometheus.MustNewConstMetric(descClientBreakerOpen, prometheus.GaugeValue, open, t.name, h.name)
		}
		return true
	})
}

var _ prometheus.Collector = (*RoundTripper)(nil)
