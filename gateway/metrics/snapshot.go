package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is the gateway state behind the scrape-time gauges, built by the core's callback
// when a scrape asks for it. This package reads it only during that scrape and keeps nothing,
// but scrapes can overlap, so the callback should return a fresh Snapshot (or one it does not
// change afterwards).
type Snapshot struct {
	CPUPermille         int64             // bulwark_cpu_permille: process CPU use, 0..1000
	AdaptiveMaxInflight int64             // bulwark_adaptive_max_inflight: MaxPass × MinRt now
	Services            []ServiceSnapshot // one per configured service
	Fleet               *FleetSnapshot    // nil without a fleet section
	Cache               *CacheSnapshot    // nil when no service has a proxy cache
}

// ServiceSnapshot is one service's state. Name must be unique in the Snapshot; a duplicate is
// skipped.
type ServiceSnapshot struct {
	Name     string
	Inflight int64            // bulwark_inflight{service}: requests in progress now
	Windows  []WindowSnapshot // one per remote center the service can fail over to
	Hosts    []HostSnapshot   // every upstream host of the service, all centers
	Fleet    ServiceFleetSnapshot
}

// WindowSnapshot is the retry window toward one remote center.
type WindowSnapshot struct {
	Center string // the remote center
	Size   int    // f(i) of SEEDS.md A2: failover requests allowed in the current period
}

// HostSnapshot is one upstream host's state.
type HostSnapshot struct {
	Addr    string // host:port, the host label; unique within its service (a duplicate is skipped)
	State   string // one of the State* constants
	Breaker int    // BreakerClosed, BreakerHalfOpen or BreakerOpen
}

// snapshotCollector exports the snapshot gauges. It calls the snapshot callback once per
// Collect, holding no lock.
type snapshotCollector struct {
	snapshot func() Snapshot

	cpu, adaptive, inflight, retryWindow, breakerState, hostState *prometheus.Desc
	fleet                                                         fleetDescs
}

func newSnapshotCollector(snapshot func() Snapshot) *snapshotCollector {
	return &snapshotCollector{
		snapshot: snapshot,
		fleet:    newFleetDescs(),
		cpu: prometheus.NewDesc(NameCPUPermille,
			"Process CPU use in per mille of the CPU the process may use, as admission sees it.", nil, nil),
		adaptive: prometheus.NewDesc(NameAdaptiveMaxInflight,
			"The adaptive limiter's current in-flight bound, MaxPass × MinRt.", nil, nil),
		inflight: prometheus.NewDesc(NameInflight,
			"Requests of the service in progress now.", []string{"service"}, nil),
		retryWindow: prometheus.NewDesc(NameRetryWindow,
			"Failover requests the service may send to the remote center in the current period, f(i).",
			[]string{"service", "center"}, nil),
		breakerState: prometheus.NewDesc(NameBreakerState,
			"Circuit breaker state of the host: 0 closed, 1 half-open, 2 open.", []string{"service", "host"}, nil),
		hostState: prometheus.NewDesc(NameHostState,
			"1 for the host's current state, 0 for the other four states.", []string{"service", "host", "state"}, nil),
	}
}

// Describe sends the descriptors of every snapshot gauge.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.adaptive
	ch <- c.inflight
	ch <- c.retryWindow
	ch <- c.breakerState
	ch <- c.hostState
	c.fleet.describe(ch)
}

// Collect takes one snapshot and sends its gauges. A panicking callback becomes an invalid
// metric, which fails the scrape with the panic's message.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	if c.snapshot == nil {
		return
	}
	s, err := c.take()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.cpu, err)
		return
	}
	gauge(ch, c.cpu, float64(s.CPUPermille))
	gauge(ch, c.adaptive, float64(s.AdaptiveMaxInflight))
	c.fleet.collect(ch, s)

	services := make(map[string]bool, len(s.Services))
	seen := make(map[string]bool) // per service: window centers, then host addresses
	for _, svc := range s.Services {
		if services[svc.Name] {
			continue
		}
		services[svc.Name] = true
		gauge(ch, c.inflight, float64(svc.Inflight), svc.Name)

		clear(seen)
		for _, w := range svc.Windows {
			if seen[w.Center] {
				continue
			}
			seen[w.Center] = true
			gauge(ch, c.retryWindow, float64(w.Size), svc.Name, w.Center)
		}

		clear(seen)
		for _, h := range svc.Hosts {
			if seen[h.Addr] {
				continue
			}
			seen[h.Addr] = true
			gauge(ch, c.breakerState, float64(h.Breaker), svc.Name, h.Addr)
			for _, st := range hostStates {
				v := 0.0
				if st == h.State {
					v = 1
				}
				gauge(ch, c.hostState, v, svc.Name, h.Addr, st)
			}
		}
	}
}

// take calls the snapshot callback, turning a panic into an error.
func (c *snapshotCollector) take() (s Snapshot, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recoveredError("snapshot callback", v)
		}
	}()
	return c.snapshot(), nil
}

// gauge sends one gauge sample, or an invalid metric when a label value is not valid UTF-8.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
