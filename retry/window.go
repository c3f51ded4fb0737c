package retry

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// ErrNoBudget is returned by [Window.Allow] when this period's retry window
// is spent. The caller should fail or degrade the request at once.
var ErrNoBudget = errors.New("retry: no retry budget left this period")

// Defaults for [New].
const (
	DefaultPeriod      = time.Second // length of one period
	DefaultHealthyRate = 0.98        // s ≥ this counts as a healthy remote
	DefaultCreditCap   = 1000        // most retries per period a remote grant can raise the window to
)

// Option configures a [Window] in [New].
type Option func(*options) error

type options struct {
	period      time.Duration
	healthyRate float64
	resetToOne  bool
	credit      bool
	creditCap   int64
	clock       clock.Clock
}

// WithPeriod sets the length of one period. Default 1 s. It must be > 0.
func WithPeriod(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("retry: WithPeriod: must be > 0, got %v", d)
		}
		o.period = d
		return nil
	}
}

// WithHealthyRate sets the threshold: a period whose retry success rate is
// at least rate counts as healthy. Default 0.98. It must be in (0, 1];
// 1 means a single failed retry halves the window.
func WithHealthyRate(rate float64) Option {
	return func(o *options) error {
		if !(rate > 0 && rate <= 1) { // also rejects NaN
			return fmt.Errorf("retry: WithHealthyRate: must be in (0, 1], got %v", rate)
		}
		o.healthyRate = rate
		return nil
	}
}

// WithResetToOne makes an unhealthy period drop the window straight to 1,
// as the source's comment says, instead of halving it as the source's
// formula does (the default).
func WithResetToOne() Option {
	return func(o *options) error {
		o.resetToOne = true
		return nil
	}
}

// WithRemoteCredit turns the remote credit extension on (the default) or
// off. When off, [Window.Grant] does nothing and the window follows the
// source's formula exactly.
func WithRemoteCredit(enabled bool) Option {
	return func(o *options) error {
		o.credit = enabled
		return nil
	}
}

// WithCreditCap sets the most retries per period that a remote grant can
// raise the window to: a grant n counts as min(n, cap). Default 1000. It
// must be ≥ 1; to ignore grants, use WithRemoteCredit(false).
func WithCreditCap(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("retry: WithCreditCap: must be ≥ 1, got %d", n)
		}
		o.creditCap = n
		return nil
	}
}

// WithClock sets the clock that cuts time into periods. Nil means the real
// clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		o.clock = c
		return nil
	}
}

// Window is the adaptive retry window. The first period starts when New
// is called, with f = 1. It is safe for concurrent use; every method takes
// one short lock and none allocates.
type Window struct {
	mu          sync.Mutex
	clock       clock.Clock
	period      time.Duration
	healthyRate float64
	resetToOne  bool
	credit      bool
	creditCap   int64

	// The current period. Times are offsets from epoch read with
	// clock.Since, which for the real clock reads only the monotonic clock:
	// about half the cost of Now, and every local request pays it.
	epoch     time.Time
	start     time.Duration // offset of the current period's start
	window    int64         // f
	base      int64         // what f would be by the formula alone, had no credit been granted
	sent      int64         // g
	successes int64
	failures  int64
	local     int64 // t
	grant     int64 // latest grant, applied at the next roll; 0 = none
}

// New returns a Window with the given options applied over the defaults.
// It fails, naming the option, when a value is out of range.
func New(opts ...Option) (*Window, error) {
	o := options{
		period:      DefaultPeriod,
		healthyRate: DefaultHealthyRate,
		credit:      true,
		creditCap:   DefaultCreditCap,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	c := clock.OrReal(o.clock)
	return &Window{
		clock:       c,
		period:      o.period,
		healthyRate: o.healthyRate,
		resetToOne:  o.resetToOne,
		credit:      o.credit,
		creditCap:   o.creditCap,
		epoch:       c.Now(),
		window:      1,
		base:        1,
	}, nil
}

// Allow takes one retry from this period's window. It returns nil, and
// counts the retry as sent, while fewer than f retries have been sent this
// period; otherwise it returns [ErrNoBudget] and counts nothing. Exactly f
// calls succeed per period, however many goroutines race for them.
func (w *Window) Allow() error {
	now := w.clock.Since(w.epoch)
	w.mu.Lock()
	w.roll(now)
	if w.sent >= w.window {
		w.mu.Unlock()
		return ErrNoBudget
	}
	w.sent++
	w.mu.Unlock()
	return nil
}

// Record reports the result of a retry that Allow admitted. It counts in the
// current period, which may be the one after the retry was admitted.
func (w *Window) Record(success bool) {
	now := w.clock.Since(w.epoch)
	w.mu.Lock()
	w.roll(now)
	if success {
		w.successes++
	} else {
		w.failures++
	}
	w.mu.Unlock()
}

// ObserveLocal counts one local request; the period's count is the t of the
// growth step max(min(⌊t/100⌋, f), 1).
func (w *Window) ObserveLocal() {
	now := w.clock.Since(w.epoch)
	w.mu.Lock()
	w.roll(now)
	w.local++
	w.mu.Unlock()
}

// Grant records the remote's credit: n retries per period that the remote
// says it can take (the Bulwark-Credit header). The latest grant replaces
// any earlier one in the same period; n ≤ 0 withdraws it. At the next period
// boundary a healthy remote gets a window of at least min(n, cap); the grant
// is then consumed. Grant does nothing when remote credit is off.
func (w *Window) Grant(n int64) {
	now := w.clock.Since(w.epoch)
	w.mu.Lock()
	w.roll(now)
	if w.credit {
		w.grant = max(n, 0)
	}
	w.mu.Unlock()
}

// Stats is a snapshot of a Window's current period, for metrics and admin.
type Stats struct {
	PeriodStart time.Time `json:"period_start"` // when the current period began
	Window      int64     `json:"window"`       // f: retries allowed this period
	Sent        int64     `json:"sent"`         // g: retries admitted this period
	Successes   int64     `json:"successes"`    // retry successes recorded this period
	Failures    int64     `json:"failures"`     // retry failures recorded this period
	Local       int64     `json:"local"`        // t: local requests this period
	Grant       int64     `json:"grant"`        // pending remote credit, 0 when none
}

// Stats rolls the window to now and returns the current period's figures.
func (w *Window) Stats() Stats {
	now := w.clock.Since(w.epoch)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	return Stats{
		PeriodStart: w.epoch.Add(w.start),
		Window:      w.window,
		Sent:        w.sent,
		Successes:   w.successes,
		Failures:    w.failures,
		Local:       w.local,
		Grant:       w.grant,
	}
}

// roll closes every period that ended by now. The first closed period
// applies the formula to its counts; any further ones were idle and keep f.
// w.mu must be held.
func (w *Window) roll(now time.Duration) {
	elapsed := now - w.start
	if elapsed < w.period { // also a clock that went backwards
		return
	}
	w.window, w.base = w.next()
	w.sent, w.successes, w.failures, w.local, w.grant = 0, 0, 0, 0, 0
	w.start += elapsed - elapsed%w.period
}

// next computes f(i+1) from the current period's counts, and the formula's own window
// beside it (the two are equal while no credit was granted).
func (w *Window) next() (window, base int64) {
	grow := func(f int64) int64 {
		if w.sent >= f {
			// Cannot overflow: f grows only after f retries were really sent.
			return f + max(min(w.local/100, f), 1)
		}
		return f
	}
	if !w.healthy() {
		if w.resetToOne {
			return 1, 1
		}
		// Credit is withdrawn at once: back to the formula's own window, halved.
		base = max(1, w.base/2)
		return base, base
	}
	window, base = grow(w.window), grow(w.base)
	if w.grant > 0 {
		window = max(window, min(w.grant, w.creditCap))
	}
	return window, base
}

// healthy reports s(i) ≥ threshold, with s = 1 when nothing was recorded.
func (w *Window) healthy() bool {
	total := w.successes + w.failures
	if total == 0 {
		return true
	}
	return float64(w.successes)/float64(total) >= w.healthyRate
}
