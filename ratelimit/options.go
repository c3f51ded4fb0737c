package ratelimit

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults for the options. A constructor that is not given an option uses
// the default listed here.
const (
	// DefaultBuckets is the number of sub-buckets a SlidingWindow cuts its
	// period into when WithBuckets is not given.
	DefaultBuckets = 10
	// MaxBuckets is the largest value WithBuckets accepts. It keeps a typo in
	// a config file from allocating gigabytes.
	MaxBuckets = 1 << 16
	// DefaultMaxKeys is the number of keys a Keyed holds when WithMaxKeys is
	// not given.
	DefaultMaxKeys = 10000
)

// Option configures a limiter or a [Keyed]. Each constructor accepts only the
// options that mean something to it; any other option makes it fail with an
// error that names the option, so a misplaced option is never silently
// ignored. A nil Option is skipped.
type Option func(*options)

// optionSet records which options were given, so that constructors can refuse
// the ones that do not apply to them.
type optionSet uint8

const (
	optClock optionSet = 1 << iota
	optBuckets
	optMaxWait
	optMaxKeys
	optTTL
)

func (s optionSet) name() string {
	switch {
	case s&optClock != 0:
		return "WithClock"
	case s&optBuckets != 0:
		return "WithBuckets"
	case s&optMaxWait != 0:
		return "WithMaxWait"
	case s&optMaxKeys != 0:
		return "WithMaxKeys"
	default:
		return "WithTTL"
	}
}

type options struct {
	set     optionSet
	err     error // the first invalid option
	clock   clock.Clock
	buckets int
	maxWait time.Duration
	maxKeys int
	ttl     time.Duration
}

// WithClock sets the clock the limiter reads. Nil, the default, means the
// real clock. Tests pass a [clock.Fake] and move time with Advance. Accepted
// by every constructor. A [Keyed] and the limiters its factory makes should
// share one clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) {
		o.set |= optClock
		o.clock = c
	}
}

// WithBuckets sets how many sub-buckets a [SlidingWindow] cuts its period
// into: n in [1, MaxBuckets], default [DefaultBuckets]. More buckets admit
// closer to the limit under sustained load (n/(n+1) of it) and cost a little
// memory (n+1 buckets of 32 bytes), not time. Only NewSlidingWindow and New
// accept it.
func WithBuckets(n int) Option {
	return func(o *options) {
		o.set |= optBuckets
		if n < 1 || n > MaxBuckets {
			o.fail(fmt.Errorf("ratelimit: WithBuckets: must be in [1, %d], got %d", MaxBuckets, n))
			return
		}
		o.buckets = n
	}
}

// WithMaxWait sets how long a [LeakyBucket] may ask a caller of Reserve or
// Wait to wait before it rejects the request instead: d ≥ 0, default 0,
// which means no queueing (a request that cannot go at once is rejected).
// Only NewLeakyBucket accepts it.
func WithMaxWait(d time.Duration) Option {
	return func(o *options) {
		o.set |= optMaxWait
		if d < 0 {
			o.fail(fmt.Errorf("ratelimit: WithMaxWait: must be ≥ 0, got %v", d))
			return
		}
		o.maxWait = d
	}
}

// WithMaxKeys sets how many keys a [Keyed] holds at most: n ≥ 1, default
// [DefaultMaxKeys]. When a new key arrives and the Keyed is full, the least
// recently used key is dropped. Only NewKeyed accepts it.
func WithMaxKeys(n int) Option {
	return func(o *options) {
		o.set |= optMaxKeys
		if n < 1 {
			o.fail(fmt.Errorf("ratelimit: WithMaxKeys: must be ≥ 1, got %d", n))
			return
		}
		o.maxKeys = n
	}
}

// WithTTL sets how long a key of a [Keyed] may stay unused before it is
// dropped: d > 0. The default is the time after which the key's limiter has
// forgotten every request it admitted, so dropping an idle key never loosens
// its limit; a shorter TTL saves memory but lets a key that comes back early
// start afresh. Only NewKeyed accepts it, and it requires it when the
// factory's limiter is not one of this package's (see [NewKeyed]).
func WithTTL(d time.Duration) Option {
	return func(o *options) {
		o.set |= optTTL
		if d <= 0 {
			o.fail(fmt.Errorf("ratelimit: WithTTL: must be > 0, got %v", d))
			return
		}
		o.ttl = d
	}
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// buildOptions applies opts over the defaults and checks that every option
// given is one that ctor accepts.
func buildOptions(ctor string, accepted optionSet, opts []Option) (options, error) {
	o := options{buckets: DefaultBuckets, maxKeys: DefaultMaxKeys}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return o, o.err
	}
	if extra := o.set &^ accepted; extra != 0 {
		return o, fmt.Errorf("ratelimit: %s: not an option of %s", extra.name(), ctor)
	}
	o.clock = clock.OrReal(o.clock)
	return o, nil
}

// checkRate validates the limit and period every limiter takes.
func checkRate(ctor string, limit int, per time.Duration) error {
	if limit < 0 {
		return fmt.Errorf("ratelimit: %s: limit must be ≥ 0, got %d", ctor, limit)
	}
	if per <= 0 {
		return fmt.Errorf("ratelimit: %s: per must be > 0, got %v", ctor, per)
	}
	return nil
}

// addSat returns a+b for non-negative durations, saturating at the largest
// Duration instead of overflowing.
func addSat(a, b time.Duration) time.Duration {
	if a > maxDuration-b {
		return maxDuration
	}
	return a + b
}

const maxDuration = time.Duration(1<<63 - 1)
