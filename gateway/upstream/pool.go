package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/notify"
)

// Errors of a Pool. Callers branch on them with errors.Is.
var (
	// ErrNoHost: no host of the pool may take traffic (every host is ejected or
	// offline, or the only one left is the excluded one).
	ErrNoHost = errors.New("upstream: no host may take traffic")
	// ErrBreakersOpen: hosts could take traffic, but every candidate's breaker
	// refused. It matches breaker.ErrOpen under errors.Is.
	ErrBreakersOpen = fmt.Errorf("upstream: every candidate host's breaker refused: %w", breaker.ErrOpen)
	// ErrUnknownHost: Drain or Undrain named an address that is not in the pool.
	ErrUnknownHost = errors.New("upstream: unknown host")
)

// Policies of Options.Policy.
const (
	PolicyP2CEWMA    = "p2c_ewma"
	PolicyRoundRobin = "round_robin"
)

// Defaults for zero fields of Options, the same as the config package's.
const (
	DefaultProbeInterval       = time.Second
	DefaultProbeTimeout        = 500 * time.Millisecond
	DefaultUnhealthyAfter      = 2
	DefaultHealthyAfter        = 2
	DefaultMaxEjected          = 0.5
	DefaultConsecutiveFailures = 3
	DefaultErrorRatio          = 0.5
	DefaultPassiveMinRequests  = 10
	DefaultPassiveWindow       = 2 * time.Second
	DefaultOverloadFor         = time.Second

	// EWMADecay is the time constant of the per-host peak EWMA of latency.
	EWMADecay = 10 * time.Second
	// PressureThreshold is the pressure, in per mille, at or above which the pool
	// counts as saturated (recent latency ≥ 2 × the best seen).
	PressureThreshold = 500
	// MaxTrialBackoff caps the back-off between trial requests to an erroring
	// host when no active probes run (or Health.Interval, if larger).
	MaxTrialBackoff = 30 * time.Second
)

// Options configures a Pool. Zero numeric fields take the defaults above (which
// are the config package's), so a config.Service after Validate and a
// hand-built Options behave alike.
type Options struct {
	Service string
	Center  string
	Hosts   []string            // host:port, at least one, no duplicates
	Breaker config.Breaker      // per-host breaker: kind "sre" (default) or "classic"
	Health  config.Health       // active probes (Path "" = none) and max_ejected
	Passive config.PassiveCheck // detection from live traffic
	Policy  string              // "p2c_ewma" (default) or "round_robin"
	Clock   clock.Clock         // nil = the wall clock
	// Client sends the probes. nil = a client of the pool's own, with
	// Health.Timeout, no keep-alive (each probe dials, so it tests what a new
	// request would meet) and no redirects (a 3xx is a failed probe).
	Client *http.Client
	// OnStateChange, if set, is told every change of a host's State. It is never
	// called with a lock held, so it may call the pool (but not Stop, which waits
	// for the probe goroutine that may be delivering); one pool's changes are
	// delivered one at a time, in the order they happened, on the goroutine of
	// some caller of the pool (Done, Acquire, Drain, a probe round): keep it short.
	OnStateChange func(host string, from, to State)
	// Rand, if set, replaces the random source (P2C choices and the SRE
	// breakers' draws), for deterministic tests. It must be safe for concurrent use.
	Rand func() uint64
}

// Pool is one service's hosts in one center. See the package comment. A Pool
// is safe for concurrent use; make one with New.
type Pool struct {
	service, center string
	clk             clock.Clock
	rand            func() uint64
	roundRobin      bool
	hosts           []*Host
	byAddr          map[string]*Host

	// Settings, after defaults.
	health      config.Health
	passive     config.PassiveCheck
	maxEjected  float64
	overloadFor time.Duration

	snap     atomic.Pointer[snapshot]
	rr       atomic.Uint64 // round-robin counter
	seq      atomic.Uint64 // ejection order: a host's tripSeq
	probing  atomic.Bool   // active probes run (Start, not yet Stop, Path set)
	overload atomic.Int64  // latest overload report's end (offset, ns): any host overloaded before it

	// Pressure.
	limiter *adaptive.Limiter
	gate    pressureGate
	rts     rtRing // attempt round trips (Acquire → Done)

	mu     sync.Mutex // guards refresh and the notifier
	notify notify.Queue[stateEvent]

	// Probes.
	client     *http.Client
	ownClient  bool
	lifeMu     sync.Mutex
	started    bool
	stopped    bool
	cancel     context.CancelFunc
	stopOnce   sync.Once
	wg         sync.WaitGroup
	afterRound func() // tests: called after each probe round is applied
}

// New returns a Pool of o.Hosts, all healthy, with no probes running (see
// Start). It fails with an error naming the field for an empty or duplicated
// host list, an address that is not host:port, an unknown breaker kind or
// policy, a probe path that does not start with "/", or a negative setting.
func New(o Options) (*Pool, error) {
	if err := fillDefaults(&o); err != nil {
		return nil, err
	}
	p := &Pool{
		service:     o.Service,
		center:      o.Center,
		clk:         clock.OrReal(o.Clock),
		rand:        o.Rand,
		roundRobin:  o.Policy == PolicyRoundRobin,
		byAddr:      make(map[string]*Host, len(o.Hosts)),
		health:      o.Health,
		passive:     o.Passive,
		maxEjected:  float64(o.Health.MaxEjected),
		overloadFor: o.Passive.OverloadFor.D(),
		client:      o.Client,
		notify:      newNotifyQueue(o.OnStateChange),
	}
	if p.rand == nil {
		p.rand = rand.Uint64
	}
	if p.client == nil {
		p.client, p.ownClient = newProbeClient(o.Health.Timeout.D()), true
	}
	var err error
	p.limiter, err = adaptive.New(adaptive.WithCPU(&p.gate), adaptive.WithCPUThreshold(PressureThreshold),
		adaptive.WithClock(p.clk))
	if err != nil {
		return nil, fmt.Errorf("upstream: pressure limiter: %w", err)
	}
	p.gate.pool = p
	for i, addr := range o.Hosts {
		brk, err := newBreaker(o.Breaker, p.clk, o.Rand)
		if err != nil {
			return nil, err
		}
		h := newHost(p, i, addr, brk)
		p.hosts = append(p.hosts, h)
		p.byAddr[addr] = h
	}
	p.refresh()
	return p, nil
}

// fillDefaults checks o and replaces zero fields with the defaults.
func fillDefaults(o *Options) error {
	if len(o.Hosts) == 0 {
		return errors.New("upstream: Hosts: at least one host:port is required")
	}
	seen := make(map[string]bool, len(o.Hosts))
	for _, h := range o.Hosts {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return fmt.Errorf("upstream: Hosts: %q is not host:port", h)
		}
		if seen[h] {
			return fmt.Errorf("upstream: Hosts: %q is listed twice", h)
		}
		seen[h] = true
	}
	switch o.Policy {
	case "":
		o.Policy = PolicyP2CEWMA
	case PolicyP2CEWMA, PolicyRoundRobin:
	default:
		return fmt.Errorf("upstream: Policy: %q is not p2c_ewma or round_robin", o.Policy)
	}
	h := &o.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return fmt.Errorf("upstream: Health.Path: %q must start with /", h.Path)
	}
	if h.Interval < 0 || h.Timeout < 0 || h.UnhealthyAfter < 0 || h.HealthyAfter < 0 || h.MaxEjected < 0 || h.MaxEjected > 1 {
		return fmt.Errorf("upstream: Health: negative setting, or max_ejected outside 0..100%%: %+v", *h)
	}
	h.Interval = config.Duration(orDefault(h.Interval.D(), DefaultProbeInterval))
	h.Timeout = config.Duration(orDefault(h.Timeout.D(), DefaultProbeTimeout))
	h.UnhealthyAfter = orDefault(h.UnhealthyAfter, DefaultUnhealthyAfter)
	h.HealthyAfter = orDefault(h.HealthyAfter, DefaultHealthyAfter)
	h.MaxEjected = orDefault(h.MaxEjected, DefaultMaxEjected)
	pc := &o.Passive
	if pc.ConsecutiveFailures < 0 || pc.ErrorRatio < 0 || pc.ErrorRatio > 1 || pc.MinRequests < 0 || pc.Window < 0 || pc.OverloadFor < 0 {
		return fmt.Errorf("upstream: Passive: negative setting, or error_ratio above 1: %+v", *pc)
	}
	pc.ConsecutiveFailures = orDefault(pc.ConsecutiveFailures, DefaultConsecutiveFailures)
	pc.ErrorRatio = orDefault(pc.ErrorRatio, DefaultErrorRatio)
	pc.MinRequests = orDefault(pc.MinRequests, DefaultPassiveMinRequests)
	pc.Window = config.Duration(orDefault(pc.Window.D(), DefaultPassiveWindow))
	pc.OverloadFor = config.Duration(orDefault(pc.OverloadFor.D(), DefaultOverloadFor))
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newBreaker makes one host's breaker from the config. Zero fields take the
// breaker package's defaults. The classic breaker trips on the configured
// failure ratio and also on the breaker package's default run of consecutive
// failures (config has no key for it).
func newBreaker(b config.Breaker, clk clock.Clock, rnd func() uint64) (breaker.Breaker, error) {
	opts := []breaker.Option{breaker.WithClock(clk)}
	if b.Window > 0 {
		opts = append(opts, breaker.WithWindow(b.Window.D()))
	}
	if b.MinRequests > 0 {
		opts = append(opts, breaker.WithMinRequests(b.MinRequests))
	}
	switch b.Kind {
	case "", "sre":
		if b.K != 0 {
			opts = append(opts, breaker.WithK(b.K))
		}
		if rnd != nil {
			opts = append(opts, breaker.WithRand(func() float64 { return float64(rnd()>>11) / (1 << 53) }))
		}
		s, err := breaker.NewSRE(opts...)
		if err != nil {
			return nil, fmt.Errorf("upstream: Breaker: %w", err)
		}
		return s, nil
	case "classic":
		if b.FailureRatio > 0 {
			opts = append(opts, breaker.WithFailureRatio(b.FailureRatio))
		}
		if b.OpenTimeout > 0 {
			opts = append(opts, breaker.WithOpenTimeout(b.OpenTimeout.D()))
		}
		if b.HalfOpenRequests > 0 {
			opts = append(opts, breaker.WithHalfOpenRequests(b.HalfOpenRequests))
		}
		c, err := breaker.NewClassic(opts...)
		if err != nil {
			return nil, fmt.Errorf("upstream: Breaker: %w", err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("upstream: Breaker.Kind: %q is not sre or classic", b.Kind)
}

// Service returns the service name the pool was made for.
func (p *Pool) Service() string { return p.service }

// Center returns the center name the pool was made for.
func (p *Pool) Center() string { return p.center }

// Host returns the pool's host with address addr, or nil.
func (p *Pool) Host(addr string) *Host { return p.byAddr[addr] }

// now is the pool's clock as an offset from its creation: every instant the
// pool keeps is such an offset (the monotonic clock only, for the real clock).
//
// It is the pressure limiter's clock, so that one reading serves both the pool and the
// limiter's tokens.
func (p *Pool) now() time.Duration { return p.limiter.Now() }

// Drain takes the host out of rotation (state offline) until Undrain. Attempts
// already acquired finish normally. Draining a drained host does nothing. An
// address not in the pool returns an error matching ErrUnknownHost.
func (p *Pool) Drain(addr string) error { return p.setDrained(addr, true) }

// Undrain puts a drained host back. It returns to the state its checks give
// (healthy, or unavailable if probes failed meanwhile: drained hosts are still
// probed). An address not in the pool returns an error matching ErrUnknownHost.
func (p *Pool) Undrain(addr string) error { return p.setDrained(addr, false) }

func (p *Pool) setDrained(addr string, drained bool) error {
	h := p.byAddr[addr]
	if h == nil {
		return fmt.Errorf("%w: %q in service %s", ErrUnknownHost, addr, p.service)
	}
	h.mu.Lock()
	h.drained = drained
	h.mu.Unlock()
	p.refresh()
	return nil
}

// Hosts returns every host's status, in the order of Options.Hosts. It first
// applies any transition that time alone has made due (an overload mark that
// expired).
func (p *Pool) Hosts() []HostStatus {
	p.refreshIfDue()
	now := p.now()
	out := make([]HostStatus, len(p.hosts))
	for i, h := range p.hosts {
		out[i] = h.status(now)
	}
	return out
}

// refreshIfDue refreshes the snapshot if a time-based transition is due.
func (p *Pool) refreshIfDue() {
	if d := p.snap.Load().deadline; d != 0 && p.now() >= d {
		p.refresh()
	}
}

// ejectCap is how many of n hosts (offline ones not counted) may be ejected
// at once: ⌊share × n⌋, but at least 1 when n ≥ 2 and share > 0, so that two
// hosts can always lose one. A lone host is ejected only when share is 1.
func ejectCap(n int, share float64) int {
	c := int(math.Floor(share*float64(n) + 1e-9))
	if c == 0 && n >= 2 && share > 0 {
		c = 1
	}
	return min(c, n)
}
