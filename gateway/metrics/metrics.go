// Package metrics holds the gateway's Prometheus metrics: the metric names, which are a
// contract (the README lists them), and a hot-path API the gateway core calls once per request
// and once per upstream attempt.
//
// # Design
//
// A Metrics owns its own prometheus.Registry, never the global one, so two gateways in one
// process (the demo runs two) keep separate metrics, and tests start from zero.
//
// Three kinds of series:
//
//   - Counters and histograms the core drives: bulwark_requests_total,
//     bulwark_failovers_total, bulwark_local_retries_total, bulwark_rejections_total,
//     bulwark_faults_injected_total, bulwark_colored_requests_total,
//     bulwark_color_stripped_total, bulwark_request_duration_seconds and
//     bulwark_upstream_duration_seconds.
//   - Gauges computed at scrape time from a Snapshot the core hands over through a callback:
//     bulwark_retry_window, bulwark_breaker_state, bulwark_host_state, bulwark_inflight,
//     bulwark_cpu_permille and bulwark_adaptive_max_inflight. A service or host that is missing
//     from the snapshot (removed on reload) simply stops being exported; nothing to forget.
//   - bulwark_build_info, and the standard go_* and process_* families of client_golang's Go
//     and process collectors.
//
// The request path pays for label resolution once, not per request. Route resolves a route's
// label values at config build time; the returned RouteMetrics keeps the duration observer and
// caches one counter child per (code, outcome) it has seen, in a copy-on-write map read without
// locks, so Observe on a seen (code, outcome) makes no allocations. Upstream returns an
// observer the caller caches per host.
//
// Both duration histograms are classic (fixed buckets, readable by any Prometheus) and native
// at once (NativeHistogramBucketFactor 1.1, at most 100 buckets; past that the resolution is
// halved). A scrape in the Prometheus protobuf format carries both; the text formats carry the
// classic buckets.
//
// # Decisions where the spec is silent
//
//   - Label values are taken as given, including an outcome or result outside the documented
//     sets: it is counted, just without the per-route cache (one allocation per call). Keeping
//     the sets small is the caller's part of the contract.
//   - The level label is the decimal level ("1".."4"); "0" means none (unrouted requests).
//   - The code label is the decimal status code, 499 included for clients that went away.
//   - Duplicate services, windows or hosts in a Snapshot are exported once: the first wins, so
//     one bad entry cannot fail the whole scrape with a duplicate-series error.
//   - A host state outside the five is exported with all five state series at 0.
//   - A snapshot callback that panics fails that scrape with an error (HTTP 500 from Handler)
//     instead of crashing the gateway; a nil callback exports no snapshot gauges.
//   - Forget drops a removed service's counter and histogram series; calling it is optional,
//     because stale counters are harmless to Prometheus.
package metrics

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric family names. Every name here is listed by Names and in the README.
const (
	NameRequests            = "bulwark_requests_total"
	NameFailovers           = "bulwark_failovers_total"
	NameLocalRetries        = "bulwark_local_retries_total"
	NameRejections          = "bulwark_rejections_total"
	NameRequestDuration     = "bulwark_request_duration_seconds"
	NameUpstreamDuration    = "bulwark_upstream_duration_seconds"
	NameRetryWindow         = "bulwark_retry_window"
	NameBreakerState        = "bulwark_breaker_state"
	NameHostState           = "bulwark_host_state"
	NameInflight            = "bulwark_inflight"
	NameCPUPermille         = "bulwark_cpu_permille"
	NameAdaptiveMaxInflight = "bulwark_adaptive_max_inflight"
	NameBuildInfo           = "bulwark_build_info"
	NameFaultsInjected      = "bulwark_faults_injected_total"
	NamePanics              = "bulwark_panics_total"
)

// Names returns every metric family name this package defines, sorted. It does not list the
// go_* and process_* families of the standard Go and process collectors, which the registry
// also exports. The returned slice is the caller's to keep.
func Names() []string {
	names := []string{
		NameRequests, NameFailovers, NameLocalRetries, NameRejections,
		NameRequestDuration, NameUpstreamDuration,
		NameRetryWindow, NameBreakerState, NameHostState, NameInflight,
		NameCPUPermille, NameAdaptiveMaxInflight, NameBuildInfo, NameFaultsInjected, NamePanics,
		NameFleetRedisUp, NameFleetRedisErrors, NameRateLimitMode, NameCacheLookups, NameCacheHits,
		NameCacheSkipped, NameDRLookups, NameDRHitRatio, NameFallbacks,
		NameColoredRequests, NameColorStripped,
	}
	slices.Sort(names)
	return names
}

// DurationBuckets are the classic buckets, in seconds, of both duration histograms: 1 ms to
// 10 s, denser where a gateway's requests live (single-digit to tens of milliseconds).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Native histogram settings shared by both duration histograms.
const (
	nativeBucketFactor = 1.1
	nativeMaxBuckets   = 100
)

// Metrics is the gateway's set of Prometheus metrics with its own registry. All methods are
// safe for concurrent use. A nil *Metrics is valid and records nothing, so the core can run
// without metrics. Label values must be valid UTF-8 (client_golang panics otherwise); every
// value the core passes comes from the config or from constants, which are.
type Metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec
	failovers        *prometheus.CounterVec
	localRetries     *prometheus.CounterVec
	rejections       *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	upstreamDuration *prometheus.HistogramVec
	faults           *prometheus.CounterVec
	panics           prometheus.Counter
	color            colorMetrics
}

// Option configures New.
type Option func(*options)

type options struct {
	version string
}

// WithVersion sets the version label of bulwark_build_info. The default is the main module's
// version from the binary's build info, or "(devel)" when there is none.
func WithVersion(v string) Option {
	return func(o *options) { o.version = v }
}

// New builds the metrics and registers them, the Go collector and the process collector on a
// new registry of their own. snapshot is called at every scrape, possibly from several
// scrapes at once, and must be safe for that; it is never called under a lock of this package.
// A nil snapshot exports none of the snapshot gauges.
func New(snapshot func() Snapshot, opts ...Option) *Metrics {
	return newMetrics(prometheus.NewRegistry(), snapshot, opts...)
}

// newMetrics is New on a given registry; tests pass a pedantic one.
func newMetrics(reg *prometheus.Registry, snapshot func() Snapshot, opts ...Option) *Metrics {
	o := options{version: mainVersion()}
	for _, opt := range opts {
		opt(&o)
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRequests,
			Help: "Requests the gateway finished, by route, service, level, the route's center, status code and outcome.",
		}, []string{"route", "service", "level", "center", "code", "outcome"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameFailovers,
			Help: "Failover decisions toward a remote center, by service, target center and result.",
		}, []string{"service", "to", "result"}),
		localRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameLocalRetries,
			Help: "Retries on another host of the local center, by service and result.",
		}, []string{"service", "result"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRejections,
			Help: "Requests the gateway refused itself, by the Bulwark-Reject reason.",
		}, []string{"reason"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                           NameRequestDuration,
			Help:                           "Time from accepting a request to finishing its response, failover included.",
			Buckets:                        DurationBuckets,
			NativeHistogramBucketFactor:    nativeBucketFactor,
			NativeHistogramMaxBucketNumber: nativeMaxBuckets,
		}, []string{"route", "service", "level"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                           NameUpstreamDuration,
			Help:                           "Duration of one attempt at an upstream host, by service, center and host.",
			Buckets:                        DurationBuckets,
			NativeHistogramBucketFactor:    nativeBucketFactor,
			NativeHistogramMaxBucketNumber: nativeMaxBuckets,
		}, []string{"service", "center", "host"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameFaultsInjected,
			Help: "Faults injected into requests through the admin API, by service and kind (delay or abort).",
		}, []string{"service", "kind"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        NamePanics,
			Help:        "Panics recovered while serving a request: answered 500, or the connection cut.",
			ConstLabels: prometheus.Labels{"component": "gateway"},
		}),
		color: newColorMetrics(),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        NameBuildInfo,
		Help:        "Always 1; the labels name the gateway's version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": o.version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		m.requests, m.failovers, m.localRetries, m.rejections,
		m.requestDuration, m.upstreamDuration, m.faults, m.panics,
		buildInfo,
		newSnapshotCollector(snapshot),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(m.color.collectors()...)
	return m
}

// mainVersion is the main module's version from the build info, "(devel)" when unknown.
func mainVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Registry returns the registry every metric of m is registered on, for tests and for callers
// that add collectors of their own (their names are then theirs to document).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry's metrics over HTTP, negotiating the format with the scraper:
// OpenMetrics when asked for, the Prometheus protobuf format (with native histograms) when
// asked for, text otherwise. A scrape during which a collector failed answers 500.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Upstream returns the observer of bulwark_upstream_duration_seconds for one host, taking
// seconds. Resolve it once per host (at config build or reload) and keep it: the lookup costs
// a label hash, Observe on the result costs no allocations.
func (m *Metrics) Upstream(service, center, host string) prometheus.Observer {
	if m == nil {
		return discard
	}
	return m.upstreamDuration.WithLabelValues(service, center, host)
}

// Fault returns the counter of bulwark_faults_injected_total for service and kind, creating
// the series at 0. Resolve it once (when a fault is added, or a service is built) and keep
// it: Inc on the result costs no allocations.
func (m *Metrics) Fault(service, kind string) prometheus.Counter {
	if m == nil {
		return discardCounter
	}
	return m.faults.WithLabelValues(service, kind)
}

// Failover counts one failover decision for service toward center to. result is one of the
// Result* constants; another string is counted as given.
func (m *Metrics) Failover(service, to, result string) {
	if m == nil {
		return
	}
	m.failovers.WithLabelValues(service, to, result).Inc()
}

// LocalRetry counts one retry of a request on another host of the local center. result is
// "ok" when the retry answered, "error" when it failed, or another short reason the caller
// documents.
func (m *Metrics) LocalRetry(service, result string) {
	if m == nil {
		return
	}
	m.localRetries.WithLabelValues(service, result).Inc()
}

// Panic counts one recovered panic.
func (m *Metrics) Panic() {
	if m != nil {
		m.panics.Inc()
	}
}

// Rejection counts one request the gateway refused itself, by the reason it sent in the
// Bulwark-Reject header. The set of reasons is the core's; it must stay small and fixed.
func (m *Metrics) Rejection(reason string) {
	if m == nil {
		return
	}
	m.rejections.WithLabelValues(reason).Inc()
}

// Forget deletes every counter and histogram series whose service label is service, for a
// service removed on reload. RouteMetrics and observers resolved for that service before the
// call keep working but are no longer exported, so call it only once nothing uses them (a
// request still in flight on the old config loses its count). The snapshot gauges need no
// Forget: they follow the snapshot. It returns the number of series deleted.
func (m *Metrics) Forget(service string) int {
	if m == nil {
		return 0
	}
	l := prometheus.Labels{"service": service}
	return m.requests.DeletePartialMatch(l) +
		m.failovers.DeletePartialMatch(l) +
		m.localRetries.DeletePartialMatch(l) +
		m.requestDuration.DeletePartialMatch(l) +
		m.upstreamDuration.DeletePartialMatch(l) +
		m.faults.DeletePartialMatch(l) +
		m.color.colored.DeletePartialMatch(l)
}

// discard is the observer a nil *Metrics hands out.
var discard = prometheus.ObserverFunc(func(float64) {})

// discardCounter is the counter a nil *Metrics hands out; it is registered nowhere.
var discardCounter = prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded", Help: "Not exported."})

// levelLabel is the level label value of a service level.
func levelLabel(level int) string { return strconv.Itoa(level) }

// recoveredError turns a recovered panic value into an error.
func recoveredError(what string, v any) error {
	if err, ok := v.(error); ok {
		return fmt.Errorf("metrics: %s panicked: %w", what, err)
	}
	return fmt.Errorf("metrics: %s panicked: %v", what, v)
}
