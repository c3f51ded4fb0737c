package breaker

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Option configures a breaker or a Group. One Option type serves both kinds
// of breaker; an option that belongs to the other kind fails construction
// with an error naming it, rather than being silently ignored.
type Option func(*options)

// Defaults of the options.
const (
	DefaultK                = 1.5
	DefaultWindow           = 10 * time.Second
	DefaultBuckets          = 40
	DefaultMinRequests      = 20
	DefaultFailureCount     = 5
	DefaultOpenTimeout      = 10 * time.Second
	DefaultHalfOpenRequests = 1
)

// option bits, to know which options were set and reject misplaced ones.
const (
	setK uint32 = 1 << iota
	setRand
	setFailureCount
	setFailureRatio
	setOpenTimeout
	setHalfOpenRequests
	setSuccessThreshold
	setOnStateChange
	setGroupOnStateChange
)

type options struct {
	set uint32
	err error // the first invalid option

	clock       clock.Clock
	window      time.Duration
	buckets     int
	minRequests int64
	onChange    func(from, to State)
	groupChange func(key string, from, to State)

	// SRE only.
	k    float64
	rand func() float64

	// Classic only.
	failureCount     int
	failureRatio     float64
	openTimeout      time.Duration
	halfOpenRequests int
	successThreshold int
}

func defaultOptions() options {
	return options{
		window:           DefaultWindow,
		buckets:          DefaultBuckets,
		minRequests:      DefaultMinRequests,
		k:                DefaultK,
		rand:             rand.Float64,
		failureCount:     DefaultFailureCount,
		openTimeout:      DefaultOpenTimeout,
		halfOpenRequests: DefaultHalfOpenRequests,
	}
}

// fail records the first invalid option.
func (o *options) fail(format string, args ...any) {
	if o.err == nil {
		o.err = fmt.Errorf("breaker: "+format, args...)
	}
}

// namedOption pairs an option's bit with its name, for error messages.
type namedOption struct {
	bit  uint32
	name string
}

var (
	sreOnly     = []namedOption{{setK, "WithK"}, {setRand, "WithRand"}}
	classicOnly = []namedOption{
		{setFailureCount, "WithFailureCount"}, {setFailureRatio, "WithFailureRatio"},
		{setOpenTimeout, "WithOpenTimeout"}, {setHalfOpenRequests, "WithHalfOpenRequests"},
		{setSuccessThreshold, "WithSuccessThreshold"},
	}
	singleOnly = []namedOption{{setOnStateChange, "WithOnStateChange"}}
	groupOnly  = []namedOption{{setGroupOnStateChange, "WithGroupOnStateChange"}}
)

// build applies opts over the defaults, rejects the options in foreign
// (options that do not apply to what is being built, described by what),
// and checks the rules shared by every kind.
func build(opts []Option, what string, foreign ...[]namedOption) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return o, o.err
	}
	for _, list := range foreign {
		for _, f := range list {
			if o.set&f.bit != 0 {
				return o, fmt.Errorf("breaker: %s: does not apply to %s", f.name, what)
			}
		}
	}
	if o.window/time.Duration(o.buckets) <= 0 {
		return o, fmt.Errorf("breaker: WithWindow: %v is too short for %d buckets", o.window, o.buckets)
	}
	o.clock = clock.OrReal(o.clock)
	return o, nil
}

// WithClock sets the clock; nil (the default) means the wall clock.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithWindow sets the span of the rolling window that counts outcomes
// (default 10 s): the SRE breaker's requests and accepts, the classic
// breaker's failure ratio. It must be > 0. The window is split into
// WithBuckets buckets of window/buckets each, and forgets a bucket at a time.
func WithWindow(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.fail("WithWindow: must be > 0, got %v", d)
		}
		o.window = d
	}
}

// WithBuckets sets how many buckets the rolling window has (default 40). It
// must be ≥ 1.
func WithBuckets(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.fail("WithBuckets: must be ≥ 1, got %d", n)
		}
		o.buckets = n
	}
}

// WithMinRequests sets how many requests the rolling window must hold before
// the breaker acts on it (default 20): below it the SRE breaker never drops,
// and the classic breaker never trips on the failure ratio (it still trips on
// consecutive failures). It must be ≥ 0; 0 and 1 mean "act at once".
func WithMinRequests(n int) Option {
	return func(o *options) {
		if n < 0 {
			o.fail("WithMinRequests: must be ≥ 0, got %d", n)
		}
		o.minRequests = int64(n)
	}
}

// WithOnStateChange sets a callback for state transitions of a breaker made
// by NewSRE or NewClassic (NewGroup takes WithGroupOnStateChange instead).
// It is called with no lock held, so it may call the breaker. One breaker's
// transitions are delivered one at a time, in order, on the goroutine of
// some caller of that breaker (not necessarily the one that caused the
// transition), and that caller's Allow, Done or State returns only once the
// queue is empty: keep the callback short. A nil fn means no callback.
func WithOnStateChange(fn func(from, to State)) Option {
	return func(o *options) {
		o.onChange = fn
		o.set |= setOnStateChange
	}
}

// WithGroupOnStateChange sets a callback, for NewGroup only, for the state
// transitions of every breaker in the group, with the breaker's key. The
// guarantees of WithOnStateChange hold per key; callbacks for different keys
// may run concurrently. A nil fn means no callback.
func WithGroupOnStateChange(fn func(key string, from, to State)) Option {
	return func(o *options) {
		o.groupChange = fn
		o.set |= setGroupOnStateChange
	}
}

// WithK sets the SRE breaker's sensitivity K (default 1.5; SEEDS.md says
// typically 1.5–2). A smaller K drops more. It must be a finite number ≥ 1:
// below 1, the breaker would drop requests even when every one succeeds.
// SRE only.
func WithK(k float64) Option {
	return func(o *options) {
		if !(k >= 1) || math.IsInf(k, 0) {
			o.fail("WithK: must be finite and ≥ 1, got %v", k)
		}
		o.k = k
		o.set |= setK
	}
}

// WithRand sets the SRE breaker's random source: a function returning
// uniform values in [0, 1) (default math/rand/v2.Float64). Allow calls it
// once per call, with no lock held, so it must be safe for concurrent use.
// A request is dropped when the value is < the drop probability. A nil fn
// means the default. SRE only.
func WithRand(fn func() float64) Option {
	return func(o *options) {
		if fn == nil {
			fn = rand.Float64
		}
		o.rand = fn
		o.set |= setRand
	}
}

// WithFailureCount trips the classic breaker after n consecutive failures in
// the closed state (default 5). It must be ≥ 0; 0 turns this rule off, which
// needs WithFailureRatio on. Classic only.
func WithFailureCount(n int) Option {
	return func(o *options) {
		if n < 0 {
			o.fail("WithFailureCount: must be ≥ 0, got %d", n)
		}
		o.failureCount = n
		o.set |= setFailureCount
	}
}

// WithFailureRatio trips the classic breaker when, over the rolling window,
// failures / outcomes ≥ r and there are at least WithMinRequests outcomes
// (default: off). It must be in (0, 1]. Classic only.
func WithFailureRatio(r float64) Option {
	return func(o *options) {
		if !(r > 0 && r <= 1) {
			o.fail("WithFailureRatio: must be in (0, 1], got %v", r)
		}
		o.failureRatio = r
		o.set |= setFailureRatio
	}
}

// WithOpenTimeout sets how long the classic breaker stays open before it
// lets trial calls through (default 10 s). It must be > 0. Classic only.
func WithOpenTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			o.fail("WithOpenTimeout: must be > 0, got %v", d)
		}
		o.openTimeout = d
		o.set |= setOpenTimeout
	}
}

// WithHalfOpenRequests sets how many trial calls the half-open classic
// breaker admits (default 1). It must be ≥ 1. Classic only.
func WithHalfOpenRequests(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.fail("WithHalfOpenRequests: must be ≥ 1, got %d", n)
		}
		o.halfOpenRequests = n
		o.set |= setHalfOpenRequests
	}
}

// WithSuccessThreshold sets how many trial calls must succeed to close the
// half-open classic breaker (default: the WithHalfOpenRequests quota). It
// must be ≥ 1 and ≤ the quota. Classic only.
func WithSuccessThreshold(m int) Option {
	return func(o *options) {
		if m < 1 {
			o.fail("WithSuccessThreshold: must be ≥ 1, got %d", m)
		}
		o.successThreshold = m
		o.set |= setSuccessThreshold
	}
}
