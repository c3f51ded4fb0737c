package timeout

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Default settings, from the reference implementation.
const (
	DefaultTavg = 60 * time.Millisecond  // response time under which the average is good
	DefaultThwm = 250 * time.Millisecond // timeout when the average is bad
	DefaultTmax = 500 * time.Millisecond // most elastic timeout when the average is good
	DefaultN    = 80                     // EMA period: r = 2/(N+1)
)

// Option configures a [Dynamic] in [New].
type Option func(*options) error

type options struct {
	tavg, thwm, tmax time.Duration
	n                int
	initial          time.Duration
	clock            clock.Clock
}

// WithTavg sets Tavg, the response time at or under which the average counts
// as good and the timeout is Tmax. Default 60 ms. It must be > 0 and < Thwm.
func WithTavg(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout: WithTavg: must be > 0, got %v", d)
		}
		o.tavg = d
		return nil
	}
}

// WithThwm sets Thwm, the high-water mark: the timeout once the average has
// reached it, and the least timeout ever handed out. Default 250 ms. It must
// be > Tavg and ≤ Tmax.
func WithThwm(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout: WithThwm: must be > 0, got %v", d)
		}
		o.thwm = d
		return nil
	}
}

// WithTmax sets Tmax, the most elastic timeout, handed out while the average
// is at or under Tavg. Default 500 ms. It must be ≥ Thwm; Tmax == Thwm makes
// the timeout constant.
func WithTmax(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout: WithTmax: must be > 0, got %v", d)
		}
		o.tmax = d
		return nil
	}
}

// WithN sets N, the EMA period; the smoothing factor is r = 2/(N+1). A small
// N follows recent calls closely; a large N reacts slowly. Default 80. N = 1
// makes the EMA the last observation. It must be ≥ 1.
func WithN(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("timeout: WithN: must be ≥ 1, got %d", n)
		}
		o.n = n
		return nil
	}
}

// WithInitialEMA sets the EMA before the first observation. Default 0, as in
// the reference, so a new Dynamic starts at Tmax and is pulled up by slow
// calls. Starting at, say, Tavg gives the same timeout with a shorter
// warm-up. It must be ≥ 0.
func WithInitialEMA(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("timeout: WithInitialEMA: must be ≥ 0, got %v", d)
		}
		o.initial = d
		return nil
	}
}

// WithClock sets the clock that [Dynamic.Start] and [Call.Done] read. Nil
// means the real clock. Observe, Fail and Timeout never read a clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		o.clock = c
		return nil
	}
}

// Dynamic is an EMA dynamic timeout. It is safe for concurrent use: every
// observation is applied exactly once, whatever the interleaving, though
// concurrent observations are applied in an unspecified order.
type Dynamic struct {
	mu   sync.Mutex    // serialises updates; readers do not take it
	ema  atomic.Uint64 // math.Float64bits of the EMA in nanoseconds
	r    float64       // 2/(N+1)
	keep float64       // 1 − r

	tavg, thwm, tmax float64 // nanoseconds
	clock            clock.Clock
	epoch            time.Time // calls are timed as offsets from here (see Start)
}

// New returns a Dynamic with the given options applied over the defaults.
// It fails, naming the option, when a value is out of range or when the
// settings break 0 < Tavg < Thwm ≤ Tmax.
func New(opts ...Option) (*Dynamic, error) {
	o := options{tavg: DefaultTavg, thwm: DefaultThwm, tmax: DefaultTmax, n: DefaultN}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.tavg >= o.thwm {
		return nil, fmt.Errorf("timeout: WithThwm: must be > Tavg (%v), got %v", o.tavg, o.thwm)
	}
	if o.thwm > o.tmax {
		return nil, fmt.Errorf("timeout: WithTmax: must be ≥ Thwm (%v), got %v", o.thwm, o.tmax)
	}
	r := 2 / (float64(o.n) + 1)
	d := &Dynamic{
		r:     r,
		keep:  1 - r,
		tavg:  float64(o.tavg),
		thwm:  float64(o.thwm),
		tmax:  float64(o.tmax),
		clock: clock.OrReal(o.clock),
	}
	d.epoch = d.clock.Now()
	d.ema.Store(math.Float64bits(float64(o.initial)))
	return d, nil
}

// Observe feeds the response time of a successful call into the EMA. A
// negative elapsed counts as 0.
func (d *Dynamic) Observe(elapsed time.Duration) {
	d.update(float64(max(elapsed, 0)))
}

// Fail feeds a failed call into the EMA as max(elapsed, Tmax): a failure
// weighs at least as much as the slowest call the timeout allows.
func (d *Dynamic) Fail(elapsed time.Duration) {
	d.update(max(float64(elapsed), d.tmax))
}

// update applies one EMA step. Writers take a mutex so that no update is
// lost; the EMA itself is an atomic word so that Timeout and EMA read it
// without the lock. Measured on 2 cores, this beats both a CAS loop (which
// re-does the step on every collision) and a mutex around reads too.
func (d *Dynamic) update(x float64) {
	d.mu.Lock()
	next := x*d.r + math.Float64frombits(d.ema.Load())*d.keep
	d.ema.Store(math.Float64bits(next))
	d.mu.Unlock()
}

// Timeout returns the timeout for the next call: Tmax while the EMA is at or
// under Tavg, Thwm once it is at or over Thwm, and in between the linear
// interpolation Thwm + (Thwm−ema)/(Thwm−Tavg)·(Tmax−Thwm), truncated to the
// nanosecond. The result always lies in [Thwm, Tmax].
func (d *Dynamic) Timeout() time.Duration {
	return time.Duration(d.timeoutFor(math.Float64frombits(d.ema.Load())))
}

func (d *Dynamic) timeoutFor(ema float64) float64 {
	switch {
	case ema <= d.tavg:
		return d.tmax
	case ema >= d.thwm:
		return d.thwm
	default:
		return d.thwm + (d.thwm-ema)/(d.thwm-d.tavg)*(d.tmax-d.thwm)
	}
}

// EMA returns the current moving average of response times, truncated to the
// nanosecond (and saturated at the largest Duration).
func (d *Dynamic) EMA() time.Duration {
	e := math.Float64frombits(d.ema.Load())
	if e >= math.MaxInt64 { // float64(MaxInt64) is 2⁶³, which does not convert back
		return math.MaxInt64
	}
	return time.Duration(e)
}

// Call is one call timed against a [Dynamic]: it holds the timeout current
// when the call started and the start time. It is a small value; copying it
// is cheap and it does not allocate.
type Call struct {
	d       *Dynamic
	start   time.Duration // offset from d.epoch
	timeout time.Duration
}

// Start begins timing a call. Give the call [Call.Timeout] (for example with
// context.WithTimeout) and report its outcome with [Call.Done].
func (d *Dynamic) Start() Call {
	// Since reads only the monotonic clock for the real clock: about half
	// the cost of Now.
	return Call{d: d, start: d.clock.Since(d.epoch), timeout: d.Timeout()}
}

// Timeout returns the timeout that was current when the call started.
func (c Call) Timeout() time.Duration { return c.timeout }

// Done reports the call's outcome, with the elapsed time read from the
// Dynamic's clock: Observe(elapsed) when ok, Fail(elapsed) otherwise. Call it
// once per call; a second call feeds the EMA a second time.
func (c Call) Done(ok bool) {
	elapsed := c.d.clock.Since(c.d.epoch) - c.start
	if ok {
		c.d.Observe(elapsed)
	} else {
		c.d.Fail(elapsed)
	}
}
