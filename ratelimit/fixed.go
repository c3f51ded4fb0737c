// The fixed window counter.
//
// Behaviour: a counter of admitted requests, reset to zero at every window
// boundary start + j·P (aligned to the limiter's creation). Flaw (B1): the
// windows do not slide, so a client can spend the whole limit just before a
// boundary and the whole limit again just after it: 2·L requests within a
// moment.

package ratelimit

import (
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// FixedWindow admits at most limit requests per fixed window of length per;
// the windows are [start + j·per, start + (j+1)·per) where start is the
// limiter's creation time. It is safe for concurrent use; Allow and AllowN
// take one short lock and allocate nothing.
//
// It does not bound an arbitrary interval of length per: up to 2·limit
// requests pass around a window boundary. Use [SlidingWindow] when that
// matters.
type FixedWindow struct {
	limit int64
	per   time.Duration
	start time.Time
	clock clock.Clock

	mu     sync.Mutex
	window int64 // index j of the current window
	count  int64 // admitted in window j
}

var _ Limiter = (*FixedWindow)(nil)

// NewFixedWindow returns a FixedWindow of limit requests per window of length
// per. limit must be ≥ 0 (0 admits nothing) and per > 0. It accepts
// WithClock.
func NewFixedWindow(limit int, per time.Duration, opts ...Option) (*FixedWindow, error) {
	const ctor = "NewFixedWindow"
	if err := checkRate(ctor, limit, per); err != nil {
		return nil, err
	}
	o, err := buildOptions(ctor, optClock, opts)
	if err != nil {
		return nil, err
	}
	return &FixedWindow{limit: int64(limit), per: per, start: o.clock.Now(), clock: o.clock}, nil
}

// Allow is AllowN(1).
func (l *FixedWindow) Allow() error { return l.AllowN(1) }

// AllowN admits n requests if the current window's count plus n stays within
// the limit, and returns ErrLimited otherwise. n ≤ 0 is always admitted and
// consumes nothing; n > limit is never admitted.
func (l *FixedWindow) AllowN(n int) error {
	if n <= 0 {
		return nil
	}
	if int64(n) > l.limit {
		return ErrLimited
	}
	now := l.clock.Since(l.start) // outside the lock: see SlidingWindow.AllowN
	l.mu.Lock()
	// A time before the current window (a clock stepped back) counts in the
	// current window: windows never rewind.
	if j := int64(now / l.per); j > l.window && now >= 0 {
		l.window, l.count = j, 0
	}
	if int64(n) > l.limit-l.count {
		l.mu.Unlock()
		return ErrLimited
	}
	l.count += int64(n)
	l.mu.Unlock()
	return nil
}

// forgetAfter is one window: after per without a call, the current window
// began after the last admission.
func (l *FixedWindow) forgetAfter() time.Duration { return l.per }
