package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
)

// Settings of the pressure estimate.
const (
	// MinPerHost: the pool's limit is never below this many attempts per host, whatever
	// its estimate says.
	MinPerHost = 2

	// PressureRefresh: the latency-inflation reading is recomputed at most this
	// often (the adaptive limiter's bucket width).
	PressureRefresh = 100 * time.Millisecond
	// RecentWindow: recentRt is the mean attempt round trip over the last
	// RecentWindow (in PressureRefresh buckets, the current one partial).
	RecentWindow = time.Second
	// PressureMinSamples: with fewer completed attempts than this in the recent
	// window the latency reading is 0: too little evidence of queueing.
	PressureMinSamples = 10
)

// Capacity returns the pool's concurrency limit and whether it applies now, for
// shed.Admitter: the adaptive limiter's maxPass × minRt estimate (Unlimited
// before any; never below MinPerHost per host unless a host reports overload), limited while a host reports overload, or while the pool's
// pressure is ≥ PressureThreshold AND the pool holds more attempts than the
// estimate. Latency inflation alone is not saturation: at low use a small rise
// (0.3 ms to 2 ms) reads as high inflation over a tiny estimate. See the package
// comment. Safe for concurrent use, allocation-free.
func (p *Pool) Capacity() (limit int64, limited bool) {
	limit, limited = p.limiter.Capacity()
	if limited && p.overload.Load() > int64(p.now()) {
		return limit, true // a host asked for relief: its estimate stands, however small
	}
	// maxPass × minRt is what the pool was seen to complete, not what it can: after a quiet
	// spell (or an outage) it can be 1 for a pool of healthy hosts. Latency alone never
	// asks for fewer than MinPerHost attempts per host.
	limit = max(limit, int64(MinPerHost*len(p.hosts)))
	if limited && p.limiter.Inflight() <= limit {
		limited = false
	}
	return limit, limited
}

// PressureStatus is the pool's pressure for the admin /status.
type PressureStatus struct {
	Limit    int64 `json:"limit"`   // maxPass × minRt in requests; adaptive.Unlimited before any estimate
	Limited  bool  `json:"limited"` // Capacity's verdict: shed applies Limit
	Inflight int64 `json:"inflight"`
	// PerMille is the pressure: 1000 while a host reported overload within
	// OverloadFor, else 1000 × (1 − MinRt/RecentRt) clamped to 0..1000.
	PerMille         int64         `json:"pressure_per_mille"`
	MinRt            time.Duration `json:"min_rt_ns"`    // the limiter's least bucket mean round trip; 0 = none yet
	RecentRt         time.Duration `json:"recent_rt_ns"` // mean round trip over the last ~RecentWindow
	MaxPassPerSecond float64       `json:"max_pass_per_second"`
	OverloadedHosts  []string      `json:"overloaded_hosts,omitempty"` // hosts within OverloadFor of an overload report
}

// Failing reports whether any host the operator has not drained is out of the healthy state:
// erroring, unavailable or overloaded. A gateway grants no failover credit for such a pool.
func (p *Pool) Failing() bool {
	for _, h := range p.hosts {
		if s := h.State(); s != Healthy && s != Offline {
			return true
		}
	}
	return false
}

// Inflight returns the attempts acquired and not yet Done, over all hosts. One atomic load.
func (p *Pool) Inflight() int64 { return p.limiter.Inflight() }

// Pressure returns the pool's pressure for the admin /status.
func (p *Pool) Pressure() PressureStatus {
	st := p.limiter.Stats() // reads the gate, refreshing it if due
	_, limited := p.Capacity()
	ps := PressureStatus{
		Limit:            st.MaxInflight,
		Limited:          limited,
		Inflight:         st.InFlight,
		PerMille:         st.CPU,
		MinRt:            st.MinRt,
		RecentRt:         time.Duration(p.gate.recentRt.Load()),
		MaxPassPerSecond: st.MaxPassPerSecond,
	}
	now := int64(p.now())
	for _, h := range p.hosts {
		if h.overloadUntil.Load() > now {
			ps.OverloadedHosts = append(ps.OverloadedHosts, h.addr)
		}
	}
	return ps
}

// pressureGate is the adaptive limiter's "CPU" reading: the pool's pressure in
// per mille. The limiter consults it on Capacity and Stats.
type pressureGate struct {
	pool     *Pool
	mu       sync.Mutex   // held (TryLock) by the goroutine recomputing
	next     atomic.Int64 // offset from which a recompute is due
	perMille atomic.Int64 // latency inflation, as of the latest recompute
	recentRt atomic.Int64 // ns
}

var _ adaptive.CPU = (*pressureGate)(nil)

// Usage returns the pressure: 1000 while any host of the pool is within
// OverloadFor of an overload report, else the cached latency inflation, which
// it recomputes first when PressureRefresh has passed. Cheap and safe for
// concurrent use; a call made while another goroutine recomputes (including the
// limiter's own Stats call inside the recompute) returns the cached value.
func (g *pressureGate) Usage() int64 {
	p := g.pool
	now := p.now()
	if p.overload.Load() > int64(now) {
		return 1000
	}
	if int64(now) >= g.next.Load() && g.mu.TryLock() {
		g.recompute(now)
		g.mu.Unlock()
	}
	return g.perMille.Load()
}

// recompute takes minRt from the limiter and recentRt from the round-trip
// ring. g.mu must be held.
func (g *pressureGate) recompute(now time.Duration) {
	p := g.pool
	g.next.Store(int64(now + PressureRefresh))
	minRt := p.limiter.Stats().MinRt // its CPU read comes back here and takes the cached value
	recent, n := p.rts.mean(now)
	g.recentRt.Store(recent)
	var perMille int64
	if n >= PressureMinSamples && minRt > 0 && recent > int64(minRt) {
		perMille = min(1000*(recent-int64(minRt))/recent, 1000)
	}
	g.perMille.Store(perMille)
}

// rtRing sums attempt round trips in PressureRefresh-wide buckets, lock-free:
// Done adds to the bucket of its clock reading, resetting a bucket left from an
// earlier lap first. A sample that races with a reset may be lost; the mean is
// an estimate.
type rtRing [16]rtBucket

type rtBucket struct {
	epoch      atomic.Int64 // 1 + the bucket's index (offset / PressureRefresh); 0 = unused
	sum, count atomic.Int64
}

// recentBuckets is how many buckets, the current one included, make the
// recent window: about RecentWindow.
const recentBuckets = int64(RecentWindow / PressureRefresh)

func (r *rtRing) add(now, rt time.Duration) {
	e := int64(max(now, 0)/PressureRefresh) + 1
	b := &r[e%int64(len(r))]
	if old := b.epoch.Load(); old < e && b.epoch.CompareAndSwap(old, e) {
		b.sum.Store(0)
		b.count.Store(0)
	}
	b.sum.Add(int64(rt))
	b.count.Add(1)
}

// mean returns the mean round trip (ns) over the recent window and how many
// attempts it covers.
func (r *rtRing) mean(now time.Duration) (mean, n int64) {
	e := int64(max(now, 0)/PressureRefresh) + 1
	var sum int64
	for k := range min(recentBuckets, e) {
		b := &r[(e-k)%int64(len(r))]
		if b.epoch.Load() == e-k {
			sum += b.sum.Load()
			n += b.count.Load()
		}
	}
	if n > 0 {
		mean = sum / n
	}
	return mean, n
}
