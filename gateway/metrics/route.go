package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache bounds of a RouteMetrics. Status codes outside [0, maxCachedCode] and pairs past
// maxCachedPairs are still counted, through the uncached path.
const (
	maxCachedCode  = 999
	maxCachedPairs = 256
)

// RouteMetrics records the finished requests of one route: bulwark_requests_total and
// bulwark_request_duration_seconds with the route's labels already resolved. It is safe for
// concurrent use. A nil *RouteMetrics records nothing.
type RouteMetrics struct {
	requests *prometheus.CounterVec // curried with route, service, level, center
	duration prometheus.Observer

	// counters maps code<<8 | outcome index to the counter child of that pair. Readers load
	// the map without locking; a miss copies it under mu and publishes the copy, so a map is
	// never written after it is published.
	counters atomic.Pointer[map[uint32]prometheus.Counter]
	mu       sync.Mutex
}

// Route resolves the series of one route, once: call it when the config is built (and again
// on reload), not per request. route is the route's metrics name, service its service, level
// the route's effective level (1..4) and center the center that serves it first (this
// gateway's center for reads, the primary center for writes). For requests that matched no
// route, use Route("", "", 0, localCenter). Two calls with the same labels share the same
// series. On a nil *Metrics it returns nil.
func (m *Metrics) Route(route, service string, level int, center string) *RouteMetrics {
	if m == nil {
		return nil
	}
	lv := levelLabel(level)
	r := &RouteMetrics{
		requests: m.requests.MustCurryWith(prometheus.Labels{
			"route": route, "service": service, "level": lv, "center": center,
		}),
		duration: m.requestDuration.WithLabelValues(route, service, lv),
	}
	empty := map[uint32]prometheus.Counter{}
	r.counters.Store(&empty)
	return r
}

// Observe records one finished request: it adds 1 to bulwark_requests_total with the status
// code and the outcome (one of the Outcome* constants), and observes d, the request's whole
// duration, in bulwark_request_duration_seconds. A negative d counts as 0. Once a (code,
// outcome) pair has been seen, Observe makes no allocations and takes no locks. An outcome
// outside the documented set is counted as given, at the cost of a label lookup per call.
func (r *RouteMetrics) Observe(code int, outcome string, d time.Duration) {
	if r == nil {
		return
	}
	r.counter(code, outcome).Inc()
	r.duration.Observe(max(d, 0).Seconds())
}

// counter returns the counter child of (code, outcome), from the cache when it can.
func (r *RouteMetrics) counter(code int, outcome string) prometheus.Counter {
	idx := outcomeIndex(outcome)
	if idx < 0 || code < 0 || code > maxCachedCode {
		return r.requests.WithLabelValues(strconv.Itoa(code), outcome)
	}
	key := uint32(code)<<8 | uint32(idx)
	if c, ok := (*r.counters.Load())[key]; ok {
		return c
	}
	return r.resolve(key, code, outcome)
}

// resolve looks up the child of a pair not yet cached and publishes a copy of the cache that
// holds it, unless the cache is full.
func (r *RouteMetrics) resolve(key uint32, code int, outcome string) prometheus.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.counters.Load()
	if c, ok := old[key]; ok { // another goroutine resolved it while we waited
		return c
	}
	c := r.requests.WithLabelValues(strconv.Itoa(code), outcome)
	if len(old) >= maxCachedPairs {
		return c
	}
	next := make(map[uint32]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = c
	r.counters.Store(&next)
	return c
}
