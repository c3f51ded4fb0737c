// Package ratelimit admits or rejects requests against a rate. It has the four
// algorithms that SEEDS.md B1 compares, so that they can be measured side by
// side, and [Keyed], one limiter per key (user id, IP), for B13's per-user
// frequency limits such as "one request per 5 s per user".
//
// Every limiter implements [Limiter]. Allow and AllowN return nil when the
// request is admitted and [ErrLimited] when it is not. A rejected request
// consumes nothing, and the caller takes its degrade path at once (B1: over
// the limit, the request is dropped). All four limiters and Keyed are safe
// for concurrent use, allocate nothing on Allow, and start no goroutines.
//
// The algorithms, for a limit of L requests per period P and a request of
// size k (Allow is AllowN(1)):
//
//   - [SlidingWindow], the default ([New] returns one). P is cut into n
//     buckets of width w = ⌈P/n⌉ (n is [WithBuckets], default 10). At time t,
//     in bucket b = ⌊(t−start)/w⌋, the request is admitted iff
//     admitted(buckets b−n … b) + k ≤ L. Counting n+1 buckets, not n, makes
//     the guarantee strict: no interval of length P ever admits more than L.
//     The price is throughput: a load at or above L per P is admitted at
//     n/(n+1)·L per P on average, and an evenly spread load of exactly L per
//     P gets at least (1−1/n)·L into every interval of length P.
//   - [FixedWindow]. count is reset to 0 at every boundary start + j·P;
//     admitted iff count + k ≤ L. Simple, but up to 2L pass within a moment
//     that straddles a boundary.
//   - [TokenBucket] with burst B. tokens = min(B, tokens + elapsed·L/P);
//     admitted iff tokens ≥ k, then tokens −= k. It starts full, so a burst of
//     B passes at once, which the callee may not survive.
//   - [LeakyBucket]. Requests go I = ⌈P/L⌉ apart: a request may go at
//     s = max(now, next), after waiting s − now, and then next = s + k·I.
//     Allow admits only when s = now; Reserve and Wait queue for up to
//     [WithMaxWait] (default 0: no queue). Under sustained growth the queue
//     fills and every request waits the most it may, then is starved.
//
// A request with k ≤ 0 is always admitted and consumes nothing. A request
// larger than the limit (L, or B for a token bucket) can never be admitted and
// returns ErrLimited at once, consuming nothing. A limit of 0 admits nothing
// (a token bucket with L = 0 admits its first B, then nothing).
//
// Time comes from a clock ([WithClock]; the real clock by default), read once
// per call, before the limiter takes its lock. A reading older than one a
// limiter has already used counts as that newer one, so decisions are made in
// time order; the same rule covers a clock that steps backwards: the limiter
// keeps to the latest time it has seen until the clock catches up, and never
// hands out the same capacity twice.
package ratelimit

import (
	"errors"
	"time"
)

// ErrLimited is the error a limiter returns when it rejects a request. Test
// for it with errors.Is.
var ErrLimited = errors.New("ratelimit: limited")

// Limiter admits or rejects requests. Implementations in this package are
// safe for concurrent use and allocate nothing.
type Limiter interface {
	// Allow is AllowN(1).
	Allow() error
	// AllowN reports whether n units may pass now, and consumes them if so.
	// It returns nil when they are admitted and ErrLimited when they are
	// not; a rejection consumes nothing. n ≤ 0 is always admitted and
	// consumes nothing; n larger than the limiter's limit is never admitted.
	AllowN(n int) error
}

// New returns the default limiter, a [SlidingWindow] of limit requests per
// period per, the algorithm B1 chose for its accuracy. It accepts the options
// of [NewSlidingWindow] and fails as it does.
func New(limit int, per time.Duration, opts ...Option) (Limiter, error) {
	l, err := NewSlidingWindow(limit, per, opts...)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// forgetter is implemented by this package's limiters. forgetAfter is how
// long a limiter must go unused before it has forgotten every request it
// admitted: from then on a fresh limiter decides as it would (up to where
// window boundaries fall), so replacing it loosens nothing. Keyed uses it as
// its default TTL.
type forgetter interface {
	forgetAfter() time.Duration
}
