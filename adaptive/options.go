package adaptive

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults of a Limiter.
const (
	DefaultThreshold = 800 // per mille of the CPU the process may use
	DefaultWindow    = 10 * time.Second
	DefaultBuckets   = 100
	DefaultCoolDown  = time.Second
)

// minBucketWidth is the narrowest bucket allowed: window/buckets must be at
// least this, so that an average round-trip time per bucket means something.
const minBucketWidth = time.Millisecond

// CPU is a source of CPU usage in per mille (0–1000) of the CPU the process
// may use. internal/cpu's Sampler, Static and Manual satisfy it. Usage is
// called on every Allow, so it must be cheap and safe for concurrent use.
type CPU interface {
	Usage() int64
}

// Option configures a Limiter in New.
type Option func(*options) error

type options struct {
	cpu       CPU
	threshold int64
	window    time.Duration
	buckets   int
	coolDown  time.Duration
	clk       clock.Clock
}

// WithCPU sets the CPU reading that gates shedding. Production code passes a
// started internal/cpu Sampler. Without it, or with nil, the CPU always
// counts as overloaded and only the inflight check decides.
func WithCPU(c CPU) Option {
	return func(o *options) error {
		o.cpu = c
		return nil
	}
}

// WithCPUThreshold sets the CPU usage, in per mille, at or above which the
// inflight check applies. Default DefaultThreshold (800); must be in
// 1..1000.
func WithCPUThreshold(perMille int64) Option {
	return func(o *options) error {
		if perMille < 1 || perMille > 1000 {
			return fmt.Errorf("adaptive: WithCPUThreshold: must be in 1..1000, got %d", perMille)
		}
		o.threshold = perMille
		return nil
	}
}

// WithWindow sets how much completed history maxPass and minRt are taken
// from. Default DefaultWindow (10 s); must be > 0, and window/buckets ≥ 1 ms.
func WithWindow(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("adaptive: WithWindow: must be > 0, got %v", d)
		}
		o.window = d
		return nil
	}
}

// WithBuckets sets how many buckets the window is cut into. Default
// DefaultBuckets (100); must be ≥ 1, and window/buckets ≥ 1 ms. The bucket
// width is window/buckets, rounded down to a nanosecond.
func WithBuckets(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("adaptive: WithBuckets: must be ≥ 1, got %d", n)
		}
		o.buckets = n
		return nil
	}
}

// WithCoolDown sets how long after a drop (made with the CPU at or above the
// threshold) the inflight check keeps applying. Default DefaultCoolDown
// (1 s); must be ≥ 0; 0 turns the cool-down off.
func WithCoolDown(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("adaptive: WithCoolDown: must be ≥ 0, got %v", d)
		}
		o.coolDown = d
		return nil
	}
}

// WithClock sets the clock for round-trip times, buckets and the cool-down;
// nil means the real clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		o.clk = c
		return nil
	}
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		threshold: DefaultThreshold,
		window:    DefaultWindow,
		buckets:   DefaultBuckets,
		coolDown:  DefaultCoolDown,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if w := o.window / time.Duration(o.buckets); w < minBucketWidth {
		return o, fmt.Errorf("adaptive: WithBuckets: window %v / %d buckets = %v per bucket; must be ≥ %v",
			o.window, o.buckets, w, minBucketWidth)
	}
	o.clk = clock.OrReal(o.clk)
	return o, nil
}
