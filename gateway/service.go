package gateway

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/shed"
	"github.com/bulwark-go/bulwark/timeout"
)

// service is the run-time state of one configured service in this gateway: its local pool,
// its protections and its failover windows. A reload keeps the whole value when the service's
// config (and the retry config its windows depend on) did not change, so breakers, host
// states, windows and estimates survive.
type service struct {
	cfg      *config.Service
	retry    config.Retry // the retry config the windows were built with
	name     string
	level    int
	pool     *upstream.Pool    // hosts in this center; nil for a write-only service on a non-primary gateway
	limiter  ratelimit.Limiter // route rate limit; nil = none
	admit    *shed.Admitter    // per-service concurrency, by level, with the queue-wait drop
	capacity *serviceCapacity  // what admit divides among the levels
	timeout  *timeout.Dynamic
	degrade  *degrade.Switch
	onFail   map[string]bool // failover reasons
	methods  map[string]bool // methods that may fail over
	failEn   bool

	// windows holds one retry window per remote center.
	windows map[string]*retry.Window

	// Accounting for the credit this gateway grants to failover senders.
	clk      clock.Clock
	period   time.Duration
	mu       sync.Mutex
	curIdx   int64                          // index of the current period
	served   [2]int64                       // requests admitted by the rate limit: [current, previous] period
	sources  map[string]int64               // source instance → last period index seen
	lastFail atomic.Int64                   // 1 + the period index of the last local upstream failure; 0 = none
	lastShed atomic.Int64                   // clock offset (ns since epoch) of the last shed; 0 = never
	epoch    time.Time                      // the clock's reading at construction
	hostObs  map[string]prometheus.Observer // upstream duration observers, per host
	inflight atomic.Int64
	counts   [len(outcomeNames)]atomic.Uint64 // requests by outcome
	fleet    *serviceFleet                    // cache, DR cache, fallback pool, cluster limit
	shadow   *shadowPool                      // where colored requests go (color.go); nil = no shadow hosts
	colored  [3]prometheus.Counter            // bulwark_colored_requests_total by result (coloredShadow, ...)
}

// pressureCoolDown is how long a pool stays under pressure after its last sign of it: the
// pool's own saturation signal, or a request this service refused while the pool was full.
// Without it the pressure
// would flap: limiting in-flight requests brings latency back down within a few hundred
// milliseconds, the signal clears, every queued request rushes in at once and the pool
// saturates again. Like the BBR cool-down (adaptive.WithCoolDown), sustained overload keeps
// refusing requests and so keeps the limit in place; once the load fits, the limit lifts
// pressureCoolDown after the last refusal.
const pressureCoolDown = 2 * time.Second

// serviceCapacity is the per-service shed.Capacity: the fixed concurrency bound (if any) and
// the pool's Little's-law estimate while the pool is under pressure, whichever is lower.
type serviceCapacity struct {
	max   int64
	pool  *upstream.Pool
	clk   clock.Clock
	epoch time.Time
	until atomic.Int64 // clock offset (ns) until which the pool counts as under pressure
}

func (c *serviceCapacity) Capacity() (int64, bool) {
	limit, limited := int64(0), false
	if c.pool != nil {
		limit, limited = c.pool.Capacity()
		if limited {
			c.until.Store(int64(c.clk.Since(c.epoch)) + int64(pressureCoolDown))
		} else if until := c.until.Load(); until != 0 && limit != adaptive.Unlimited {
			// The clock is read only while a cool-down may run: this is on every request.
			if int64(c.clk.Since(c.epoch)) < until {
				limited = true
			} else {
				c.until.CompareAndSwap(until, 0)
			}
		}
	}
	if c.max > 0 && (!limited || c.max < limit) {
		return c.max, true
	}
	return limit, limited
}

// pressured reports whether the pool is under pressure now, or within the cool-down after it.
// A fixed concurrency bound alone is not pressure.
func (c *serviceCapacity) pressured() bool {
	if c.pool == nil {
		return false
	}
	if _, limited := c.pool.Capacity(); limited {
		return true
	}
	until := c.until.Load()
	return until != 0 && int64(c.clk.Since(c.epoch)) < until
}

// refused extends the pressure after the service refused a request for lack of room, while
// the pool is full: it holds as many attempts as its estimate. A refusal while the pool has
// room comes from the cool-down itself (a level whose share of a small estimate rounds to 0),
// and must not prolong it, or a low level would stay shut after the load is gone.
func (c *serviceCapacity) refused() {
	if c.pool == nil {
		return
	}
	now := int64(c.clk.Since(c.epoch))
	if until := c.until.Load(); until <= now {
		return
	}
	if limit, _ := c.pool.Capacity(); c.pool.Inflight() >= limit {
		c.until.Store(now + int64(pressureCoolDown))
	}
}

func newService(g *Gateway, cfg *config.Config, sc *config.Service) (*service, error) {
	s := &service{
		cfg:     sc,
		retry:   cfg.Retry,
		name:    sc.Name,
		level:   sc.Level,
		onFail:  make(map[string]bool),
		methods: make(map[string]bool),
		failEn:  config.Bool(sc.Failover.Enabled, true),
		clk:     g.clk,
		period:  cfg.Retry.Period.D(),
		sources: make(map[string]int64),
		epoch:   g.epoch,
		hostObs: make(map[string]prometheus.Observer),
	}
	for _, r := range sc.Failover.On {
		s.onFail[r] = true
	}
	for _, m := range sc.Failover.Methods {
		s.methods[m] = true
	}
	// Hosts in this center; a write-only service on a non-primary gateway has none and
	// forwards every request to the primary.
	if hosts := sc.Upstreams[cfg.Center]; len(hosts) > 0 {
		pool, err := upstream.New(upstream.Options{
			Service:       sc.Name,
			Center:        cfg.Center,
			Hosts:         hosts,
			Breaker:       sc.Breaker,
			Health:        sc.Health,
			Passive:       sc.Passive,
			Policy:        sc.Balancer.Policy,
			Clock:         g.clkOpt,
			OnStateChange: g.hostStateChanged(sc.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", sc.Name, err)
		}
		s.pool = pool
		for _, h := range hosts {
			s.hostObs[h] = g.metrics.Upstream(sc.Name, cfg.Center, h)
		}
	}
	var err error
	if s.fleet, err = newServiceFleet(g, cfg, sc); err != nil {
		return nil, fmt.Errorf("service %s: %w", sc.Name, err)
	}
	if s.shadow, err = newShadowPool(g, cfg, sc); err != nil {
		return nil, fmt.Errorf("service %s: %w", sc.Name, err)
	}
	s.colored = coloredCounters(g.metrics, sc.Name)
	if rl := sc.RateLimit; s.fleet.limiter != nil {
		s.limiter = s.fleet.limiter
	} else if rl != nil {
		if s.limiter, err = newRateLimiter(rl, g.clkOpt); err != nil {
			return nil, fmt.Errorf("service %s: rate_limit: %w", sc.Name, err)
		}
	}
	queue := sc.Concurrency.Queue
	s.capacity = &serviceCapacity{max: int64(sc.Concurrency.Max), pool: s.pool, clk: g.clk, epoch: s.epoch}
	s.admit, err = shed.New(s.capacity,
		shed.WithShares(cfg.Protection.Shares),
		shed.WithQueue(queue),
		shed.WithMaxWait(sc.Concurrency.MaxWait.D()),
		shed.WithClock(g.clkOpt))
	if err != nil {
		return nil, fmt.Errorf("service %s: concurrency: %w", sc.Name, err)
	}
	if s.timeout, err = newTimeout(g, sc); err != nil {
		return nil, fmt.Errorf("service %s: timeout: %w", sc.Name, err)
	}
	pass := 1.0
	if sc.Degrade.Pass != nil {
		pass = *sc.Degrade.Pass
	}
	if s.degrade, err = degrade.New(degrade.WithPass(pass)); err != nil {
		return nil, fmt.Errorf("service %s: degrade: %w", sc.Name, err)
	}
	if s.windows, err = newRetryWindows(g, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// newTimeout makes the EMA dynamic timeout of sc.
func newTimeout(g *Gateway, sc *config.Service) (*timeout.Dynamic, error) {
	return timeout.New(
		timeout.WithTavg(sc.Timeout.Tavg.D()),
		timeout.WithThwm(sc.Timeout.Thwm.D()),
		timeout.WithTmax(sc.Timeout.Tmax.D()),
		timeout.WithN(sc.Timeout.N),
		timeout.WithClock(g.clkOpt))
}

// newRetryWindows makes one retry window per remote center.
func newRetryWindows(g *Gateway, cfg *config.Config) (map[string]*retry.Window, error) {
	windows := make(map[string]*retry.Window, len(cfg.Centers))
	for name := range cfg.Centers {
		if name == cfg.Center {
			continue
		}
		opts := []retry.Option{
			retry.WithPeriod(cfg.Retry.Period.D()),
			retry.WithHealthyRate(cfg.Retry.HealthyRate),
			retry.WithRemoteCredit(config.Bool(cfg.Retry.RemoteCredit, true)),
			retry.WithCreditCap(int64(cfg.Retry.CreditCap)),
			retry.WithClock(g.clkOpt),
		}
		if cfg.Retry.ResetToOne {
			opts = append(opts, retry.WithResetToOne())
		}
		w, err := retry.New(opts...)
		if err != nil {
			return nil, fmt.Errorf("retry: %w", err)
		}
		windows[name] = w
	}
	return windows, nil
}

func newRateLimiter(rl *config.RateLimit, clk clock.Clock) (ratelimit.Limiter, error) {
	per := rl.Per.D()
	opt := ratelimit.WithClock(clk)
	switch rl.Algorithm {
	case "fixed_window":
		return ratelimit.NewFixedWindow(rl.Limit, per, opt)
	case "token_bucket":
		return ratelimit.NewTokenBucket(rl.Limit, per, rl.Burst, opt)
	case "leaky_bucket":
		return ratelimit.NewLeakyBucket(rl.Limit, per, opt)
	default:
		return ratelimit.NewSlidingWindow(rl.Limit, per, opt)
	}
}

func (s *service) start() {
	if s.pool != nil {
		s.pool.Start()
	}
	s.fleet.start()
	s.shadow.start()
}

func (s *service) stop() {
	if s.pool != nil {
		s.pool.Stop()
	}
	s.fleet.stop()
	s.shadow.stop()
}

// observeLocal counts one local request in every window of x's traffic (t of SEEDS.md A2).
func (s *service) observeLocal(x *exchange) {
	for _, w := range s.windowsFor(x) {
		w.ObserveLocal()
	}
}

// --- credit accounting (the receiving side of a failover) ---

// roll moves the period counters to the period of now (an offset from s.epoch). Called with
// s.mu held.
func (s *service) roll(now time.Duration) {
	idx := int64(now / s.period)
	switch {
	case idx == s.curIdx:
	case idx == s.curIdx+1:
		s.served[1], s.served[0] = s.served[0], 0
	case idx > s.curIdx:
		s.served = [2]int64{}
	default:
		return // clock went backwards: stay in the current period
	}
	s.curIdx = idx
}

// countServed records one request admitted past the rate limit (for the rate headroom) at
// now, an offset from s.epoch that the caller has already read.
func (s *service) countServed(now time.Duration) {
	if s.limiter == nil {
		return
	}
	s.mu.Lock()
	s.roll(now)
	s.served[0]++
	s.mu.Unlock()
}

// markFailed records that a local attempt failed (connect error, timeout, 5xx) at now, an
// offset from s.epoch: the service lends no credit for this period and the next.
func (s *service) markFailed(now time.Duration) {
	s.lastFail.Store(int64(now/s.period) + 1)
}

// markShed records that this service refused a request for lack of room: credit is 0 for a
// period after, and the pool's pressure lasts.
func (s *service) markShed() {
	s.capacity.refused()
	s.lastShed.Store(int64(s.clk.Since(s.epoch)) + 1)
}

// credit returns the failover requests per period this gateway offers the source instance
// (Bulwark-Credit), and records that the instance sent one. See the README's "Remote credit".
func (s *service) credit(source string, pressured bool, creditCap int64) int64 {
	s.mu.Lock()
	s.roll(s.clk.Since(s.epoch))
	if source != "" {
		s.sources[source] = s.curIdx
	}
	n := int64(0)
	for src, idx := range s.sources {
		if idx >= s.curIdx-1 {
			n++
		} else {
			delete(s.sources, src)
		}
	}
	served := s.served[1]
	if s.served[0] > served {
		served = s.served[0]
	}
	s.mu.Unlock()

	if last := s.lastShed.Load(); last != 0 && time.Duration(int64(s.clk.Since(s.epoch))-last+1) < s.period {
		return 0
	}
	if pressured {
		return 0
	}
	failedRecently := false
	if f := s.lastFail.Load(); f != 0 {
		failedRecently = f-1 >= int64(s.clk.Since(s.epoch)/s.period)-1
	}
	if failedRecently || s.capacity.pressured() || s.pool != nil && s.pool.Failing() {
		// A remote that is itself failing must not lend credit: one lucky period of a
		// half-failing service would otherwise raise the sender's window to the credit. Its
		// hosts' states alone flap (probes of /healthz pass while requests fail), so any
		// local failure in this period or the last one counts too.
		return 0
	}
	room := creditCap
	if rl := s.cfg.RateLimit; rl != nil {
		perPeriod := int64(float64(rl.Limit) * float64(s.period) / float64(rl.Per.D()))
		room = min(room, max(0, perPeriod-served))
	}
	if n < 1 {
		n = 1
	}
	return room / n
}

// status is the service's part of GET /status.
func (s *service) status() ServiceStatus {
	st := ServiceStatus{
		Name:     s.name,
		Level:    s.level,
		Inflight: s.inflight.Load(),
		Degrade:  s.degrade.Pass(),
		Admit:    shownStats(s.admit.Stats()),
		Timeout:  s.timeout.Timeout().String(),
		EMA:      s.timeout.EMA().String(),
		Windows:  make(map[string]retry.Stats, len(s.windows)),
	}
	for c, w := range s.windows {
		st.Windows[c] = w.Stats()
	}
	if s.pool != nil {
		st.Hosts = s.pool.Hosts()
		p := s.pool.Pressure()
		p.Limit = shownLimit(p.Limit)
		st.Pressure = &p
	}
	return st
}

// ServiceStatus is one service in GET /status.
type ServiceStatus struct {
	Name     string                   `json:"name"`
	Level    int                      `json:"level"`
	Inflight int64                    `json:"inflight"`
	Degrade  float64                  `json:"degrade_pass"`
	Admit    shed.Stats               `json:"admission"`
	Timeout  string                   `json:"timeout"`
	EMA      string                   `json:"latency_ema"`
	Windows  map[string]retry.Stats   `json:"retry_windows"`
	Hosts    []upstream.HostStatus    `json:"hosts,omitempty"`
	Pressure *upstream.PressureStatus `json:"pool_pressure,omitempty"`
	Counts   map[string]uint64        `json:"counts"`
}

// breakerState maps a breaker state name (upstream.HostStatus.Breaker) to the
// bulwark_breaker_state gauge value.
func breakerState(s string) int {
	switch s {
	case breaker.StateOpen.String():
		return metrics.BreakerOpen
	case breaker.StateHalfOpen.String():
		return metrics.BreakerHalfOpen
	}
	return metrics.BreakerClosed
}
