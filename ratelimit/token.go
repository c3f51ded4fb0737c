// The token bucket.
//
// Behaviour: a bucket of at most B tokens refills at L tokens per P and
// starts full; a request takes one token per unit and is rejected when the
// bucket holds too few. Flaw (B1): after a quiet spell a full burst of B
// passes at once, and the callee may not survive it.

package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// TokenBucket is a token bucket: tokens = min(burst, tokens + elapsed·limit/per),
// and a request of n is admitted iff tokens ≥ n, which then takes n tokens.
// The bucket starts full. It is safe for concurrent use; Allow and AllowN
// take one short lock and allocate nothing.
//
// Edge cases, as in golang.org/x/time/rate: a burst of 0 admits nothing; a
// limit of 0 admits the first burst requests and then nothing, ever; a long
// idle spell refills the bucket to burst and no further (no overflow); a
// clock that does not move refills nothing; and a clock that steps back
// refills nothing until it is past the latest time seen. Tokens are counted
// in float64, so a refill is exact whenever elapsed·limit/per is a whole
// number that float64 holds (any realistic one).
type TokenBucket struct {
	limit float64 // tokens per per
	per   float64 // nanoseconds
	burst float64
	fill  time.Duration // time to refill from empty to full; maxDuration if never
	start time.Time
	clock clock.Clock

	mu     sync.Mutex
	tokens float64
	last   time.Duration // time of the last refill, since start
}

var _ Limiter = (*TokenBucket)(nil)

// NewTokenBucket returns a TokenBucket that refills at limit tokens per
// period per and holds at most burst tokens; it starts full. limit and burst
// must be ≥ 0 and per > 0. The rate in tokens per second is
// limit/per.Seconds(); for a fractional rate such as 1 every 3 s, pass
// (1, 3*time.Second). It accepts WithClock.
func NewTokenBucket(limit int, per time.Duration, burst int, opts ...Option) (*TokenBucket, error) {
	const ctor = "NewTokenBucket"
	if err := checkRate(ctor, limit, per); err != nil {
		return nil, err
	}
	if burst < 0 {
		return nil, fmt.Errorf("ratelimit: %s: burst must be ≥ 0, got %d", ctor, burst)
	}
	o, err := buildOptions(ctor, optClock, opts)
	if err != nil {
		return nil, err
	}
	fill := maxDuration
	if limit > 0 {
		// ⌈burst·per/limit⌉, computed in float64 to avoid overflow.
		if f := math.Ceil(float64(burst) * float64(per) / float64(limit)); f < float64(maxDuration) {
			fill = time.Duration(f)
		}
	}
	return &TokenBucket{
		limit:  float64(limit),
		per:    float64(per),
		burst:  float64(burst),
		fill:   fill,
		start:  o.clock.Now(),
		clock:  o.clock,
		tokens: float64(burst),
	}, nil
}

// Allow is AllowN(1).
func (l *TokenBucket) Allow() error { return l.AllowN(1) }

// AllowN takes n tokens if the bucket, refilled to now, holds at least n, and
// returns ErrLimited otherwise. n ≤ 0 is always admitted and takes nothing;
// n > burst is never admitted.
func (l *TokenBucket) AllowN(n int) error {
	if n <= 0 {
		return nil
	}
	if float64(n) > l.burst {
		return ErrLimited
	}
	now := l.clock.Since(l.start) // outside the lock: see SlidingWindow.AllowN
	l.mu.Lock()
	l.refill(now)
	if float64(n) > l.tokens {
		l.mu.Unlock()
		return ErrLimited
	}
	l.tokens -= float64(n)
	l.mu.Unlock()
	return nil
}

// refill adds the tokens earned since the last refill; l.mu must be held.
func (l *TokenBucket) refill(now time.Duration) {
	if now <= l.last {
		return // the clock did not move, or stepped back
	}
	elapsed := now - l.last
	l.last = now
	if elapsed >= l.fill {
		l.tokens = l.burst
		return
	}
	// Multiply before dividing: with whole numbers this is exact.
	l.tokens = min(l.burst, l.tokens+float64(elapsed)*l.limit/l.per)
}

// forgetAfter is the time to refill from empty to full.
func (l *TokenBucket) forgetAfter() time.Duration { return l.fill }
