// The sliding window counter: B1's choice, because it is accurate.
//
// Behaviour: the period P is cut into n buckets of width w = ⌈P/n⌉, and a
// request is admitted only if the requests admitted in the last n+1 buckets,
// plus this one, stay within the limit. Flaw: none that lets too much through;
// it pays for strictness with up to 1/(n+1) of the throughput, because the
// oldest bucket is counted whole.

package ratelimit

import (
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/window"
)

// SlidingWindow is a sliding window counter: at most limit requests in any
// interval of length per, counted in sub-buckets (see the package comment for
// the formula). It is safe for concurrent use; Allow and AllowN take one
// short lock and allocate nothing.
//
// # Why no interval of length P admits more than L
//
// Write e for the time of a decision: the clock reading AllowN takes when it
// is called or, if an earlier decision already used a later reading (a
// concurrent caller, or a clock stepped back), that later reading; the window
// counts an older time in its newest bucket. Either way e is a reading taken
// between the call and its return, so the guarantee holds for the times at
// which the calls happen. Decisions are made one at a time, under the lock;
// e never decreases from one to the next; and each admitted request is
// counted in the bucket that holds its e.
//
// Take any closed interval [s, s+P] and the last request admitted in it, at e
// in bucket b, so b·w ≤ e < (b+1)·w. Every other request admitted in the
// interval was decided earlier, at some e' in [s, e] ⊆ [e−P, e]. Since
// n·w ≥ P, we have e−P ≥ b·w − n·w = (b−n)·w, so e' lies in
// [(b−n)·w, (b+1)·w): one of the buckets b−n … b, which is exactly what the
// window sums. The last request was admitted only because that sum plus its
// own size was at most L, so the interval holds at most L. ∎
//
// With n buckets instead of n+1 the window would cover only
// [(b−n+1)·w, (b+1)·w), which misses [e−P, (b−n+1)·w) whenever e is past
// the start of its bucket: a request admitted there would not be counted.
//
// # How much it admits
//
// If a unit request is rejected in bucket b, buckets b−n … b already hold L.
// Under a load that keeps every bucket saturated, the admitted counts a_b
// therefore satisfy a_{b−n} + … + a_b = L, so they repeat with period n+1 and
// L pass per n+1 buckets: n/(n+1)·L per P on average. Under an evenly spread
// load of exactly L per P (with w dividing P and n dividing L, so each bucket
// sees q = L/n arrivals at the same offsets), after the first n buckets every
// n+1 consecutive buckets admit exactly L: by induction, bucket b has room
// L − (a_{b−n} + … + a_{b−1}) = a_{b−n−1} ≤ q, and admits it. Within a bucket
// the admitted requests are the earliest ones, so an interval of length P
// that starts at offset δ in bucket j loses, from the L admitted in buckets
// j … j+n, the part of bucket j before δ and the part of bucket j+n from δ
// on, which together are at most q. So every interval of length P admits at
// least L − q = (1 − 1/n)·L.
type SlidingWindow struct {
	limit int64
	clock clock.Clock
	start time.Time // bucket 0 starts here

	mu  sync.Mutex
	win *window.Window // n+1 buckets of width ⌈P/n⌉; Sum is the admitted total
}

var _ Limiter = (*SlidingWindow)(nil)

// NewSlidingWindow returns a SlidingWindow that admits at most limit requests
// in any interval of length per, counted in [WithBuckets] sub-buckets
// (default [DefaultBuckets]). limit must be ≥ 0 (0 admits nothing) and per
// > 0. It accepts WithClock and WithBuckets. The buckets are aligned to the
// limiter's creation time. If per is not a multiple of the bucket count, the
// bucket width is rounded up to the next nanosecond, which only makes the
// window a little longer.
func NewSlidingWindow(limit int, per time.Duration, opts ...Option) (*SlidingWindow, error) {
	const ctor = "NewSlidingWindow"
	if err := checkRate(ctor, limit, per); err != nil {
		return nil, err
	}
	o, err := buildOptions(ctor, optClock|optBuckets, opts)
	if err != nil {
		return nil, err
	}
	n := time.Duration(o.buckets)
	width := (per + n - 1) / n
	return &SlidingWindow{
		limit: int64(limit),
		clock: o.clock,
		start: o.clock.Now(),
		win:   window.New(o.buckets+1, width),
	}, nil
}

// Allow is AllowN(1).
func (l *SlidingWindow) Allow() error { return l.AllowN(1) }

// AllowN admits n requests if the requests admitted in the current window,
// plus n, stay within the limit, and returns ErrLimited otherwise. n ≤ 0 is
// always admitted and consumes nothing; n > limit is never admitted.
func (l *SlidingWindow) AllowN(n int) error {
	if n <= 0 {
		return nil
	}
	if int64(n) > l.limit {
		return ErrLimited
	}
	// Read the clock before taking the lock: it is the slowest step, and
	// outside the lock it halves the time under contention. Since reads only
	// the monotonic clock, about half the cost of Now. The window turns a
	// reading older than one already used into that one, so decisions still
	// happen in the order of their times (see the proof).
	now := l.clock.Since(l.start)
	l.mu.Lock()
	_, admitted := l.win.Total(now)
	if int64(n) > l.limit-admitted {
		l.mu.Unlock()
		return ErrLimited
	}
	l.win.Add(now, int64(n))
	l.mu.Unlock()
	return nil
}

// forgetAfter is the span of the n+1 buckets: an admission leaves the window
// at most that long after it was made.
func (l *SlidingWindow) forgetAfter() time.Duration { return l.win.Span() }
