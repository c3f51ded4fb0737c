// The leaky bucket, as a pacer.
//
// Behaviour: requests leave one interval I = ⌈P/L⌉ apart, whatever the rate
// at which they arrive; a request that arrives early is told to wait for its
// turn, for at most the max wait, or is rejected. Flaw (B1): it queues.
// Bursts are smoothed, but under sustained growth the queue stays full, every
// admitted request pays the full wait, and the excess is starved.

package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// LeakyBucket paces requests limit per per, one interval I = ⌈per/limit⌉
// apart. A request of n units may go at s = max(now, next), after waiting
// s − now; it then holds the bucket for n·I, so next = s + n·I. Reserve and
// Wait queue a request if s − now is at most the max wait ([WithMaxWait],
// default 0); Allow and AllowN admit only a request that can go at once.
//
// Each request of n units is followed by at least n·I before the next one
// starts, so over a busy stretch units go at exactly one per I, limit per
// per; but a request of n units goes as one, so up to n units can start
// right after a slot.
//
// It is safe for concurrent use. Allow, AllowN, Reserve and ReserveN take one
// short lock and allocate nothing.
type LeakyBucket struct {
	limit    int64
	interval time.Duration // I; 0 when limit is 0
	maxWait  time.Duration
	start    time.Time
	clock    clock.Clock

	mu     sync.Mutex
	next   time.Duration // earliest start of the next request, since start
	latest time.Duration // the latest clock reading used, since start
}

var _ Limiter = (*LeakyBucket)(nil)

// NewLeakyBucket returns a LeakyBucket that lets limit requests go per period
// per, spaced evenly. limit must be ≥ 0 (0 admits nothing) and per > 0. The
// interval per/limit is rounded up to the next nanosecond, which can only
// slow the pace. It accepts WithClock and WithMaxWait.
func NewLeakyBucket(limit int, per time.Duration, opts ...Option) (*LeakyBucket, error) {
	const ctor = "NewLeakyBucket"
	if err := checkRate(ctor, limit, per); err != nil {
		return nil, err
	}
	o, err := buildOptions(ctor, optClock|optMaxWait, opts)
	if err != nil {
		return nil, err
	}
	var interval time.Duration
	if limit > 0 {
		interval = (per + time.Duration(limit) - 1) / time.Duration(limit)
	}
	return &LeakyBucket{
		limit:    int64(limit),
		interval: interval,
		maxWait:  o.maxWait,
		start:    o.clock.Now(),
		clock:    o.clock,
	}, nil
}

// Allow is AllowN(1).
func (l *LeakyBucket) Allow() error { return l.AllowN(1) }

// AllowN admits n units if they can go now, without waiting, and returns
// ErrLimited otherwise; it ignores the max wait. n ≤ 0 is always admitted and
// consumes nothing; n > limit is never admitted.
func (l *LeakyBucket) AllowN(n int) error {
	_, _, _, err := l.reserve(n, 0)
	return err
}

// Reserve is ReserveN(1).
func (l *LeakyBucket) Reserve() (wait time.Duration, err error) { return l.ReserveN(1) }

// ReserveN reserves the next slot for n units and returns how long the
// caller must wait before it goes. If that wait would exceed the max wait, it
// reserves nothing and returns ErrLimited. n ≤ 0 returns (0, nil) and
// reserves nothing; n > limit is never admitted. A reservation cannot be
// taken back; use [LeakyBucket.Wait] for one that is returned if the caller
// gives up.
func (l *LeakyBucket) ReserveN(n int) (wait time.Duration, err error) {
	_, _, wait, err = l.reserve(n, l.maxWait)
	return wait, err
}

// Wait is WaitN(ctx, 1).
func (l *LeakyBucket) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN reserves a slot for n units as ReserveN does, then blocks until the
// slot comes, on a timer of the limiter's clock. It returns nil when the
// caller may go; ErrLimited, having waited for nothing, when the wait would
// exceed the max wait (so with the default max wait of 0, WaitN never
// blocks); and ctx.Err() if ctx is done first, in which case the slot is
// handed back if no later request has queued behind it (a slot with requests
// behind it stays reserved and idle, because they have been promised their
// times). n ≤ 0 returns nil at once unless ctx is already done.
func (l *LeakyBucket) WaitN(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start, end, wait, err := l.reserve(n, l.maxWait)
	if err != nil || wait == 0 {
		return err
	}
	t := l.clock.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		l.cancel(start, end)
		return ctx.Err()
	}
}

// reserve books the slot [start, end) for n units if the caller would wait at
// most maxWait for it.
func (l *LeakyBucket) reserve(n int, maxWait time.Duration) (start, end, wait time.Duration, err error) {
	if n <= 0 {
		return 0, 0, 0, nil
	}
	if int64(n) > l.limit {
		return 0, 0, 0, ErrLimited
	}
	// Outside the lock: see SlidingWindow.AllowN. A reading older than the
	// latest one used counts as that one.
	now := l.clock.Since(l.start)
	l.mu.Lock()
	now = max(now, l.latest)
	l.latest = now
	start = max(now, l.next)
	if wait = start - now; wait > maxWait {
		l.mu.Unlock()
		return 0, 0, 0, ErrLimited
	}
	end = start + time.Duration(n)*l.interval
	l.next = end
	l.mu.Unlock()
	return start, end, wait, nil
}

// cancel hands back the slot [start, end) if it is still the last one booked.
// Cancelling in reverse order hands back every slot.
func (l *LeakyBucket) cancel(start, end time.Duration) {
	l.mu.Lock()
	if l.next == end {
		l.next = max(start, l.clock.Since(l.start))
	}
	l.mu.Unlock()
}

// forgetAfter is the longest a booking can reach past the call that made it:
// the max wait plus one full period of slots.
func (l *LeakyBucket) forgetAfter() time.Duration {
	return addSat(l.maxWait, time.Duration(l.limit)*l.interval)
}
