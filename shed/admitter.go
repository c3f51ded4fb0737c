package shed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/fraction"
)

// Admitter admits requests by service level against a [Capacity], queueing
// those that cannot be admitted at once. See the package comment for the
// rule. An Admitter is safe for concurrent use; it starts no goroutines.
type Admitter struct {
	capacity Capacity
	clock    clock.Clock
	shares   [Levels]fraction.PPB // exact, so ⌊share × limit⌋ never rounds the wrong way
	queueCap int
	maxWait  time.Duration

	waiters sync.Pool // of *waiter, each with its channel and timer

	mu       sync.Mutex
	inflight int64
	queued   int
	levels   [Levels]levelState
}

// levelState is one level's part of the Admitter; guarded by Admitter.mu.
type levelState struct {
	inflight int64
	queue    waitQueue
	admitted uint64
	shed     uint64
	timedOut uint64
	canceled uint64
}

// New returns an Admitter that divides the limit supplied by capacity among
// the levels. It fails if capacity is nil or an option is invalid.
func New(capacity Capacity, opts ...Option) (*Admitter, error) {
	if capacity == nil {
		return nil, errors.New("shed: New: capacity is nil")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	a := &Admitter{
		capacity: capacity,
		clock:    clock.OrReal(o.clock),
		queueCap: o.queue,
		maxWait:  o.maxWait,
	}
	for i, s := range o.shares {
		a.shares[i] = fraction.FromFloat(s)
	}
	return a, nil
}

// Ticket is an admitted request's claim on a slot. Call [Ticket.Done]
// exactly once when the request finishes; calling it twice frees a slot that
// another request holds. The zero Ticket's Done does nothing.
type Ticket struct {
	a     *Admitter
	level int
}

// Level returns the level the ticket was admitted at, or 0 for the zero
// Ticket.
func (t Ticket) Level() int { return t.level }

// Done frees the ticket's slot and admits the waiters that now fit, most
// important level first. Call it exactly once per admitted ticket.
func (t Ticket) Done() {
	a := t.a
	if a == nil {
		return
	}
	a.mu.Lock()
	a.inflight--
	a.levels[t.level-1].inflight--
	waiting := a.queued > 0
	a.mu.Unlock()
	if !waiting {
		// Nobody to promote: skip the Capacity call, which may read a clock. A request that
		// queues after the unlock saw this slot free under the lock, so it is not stranded.
		return
	}
	limit, limited := a.capacity.Capacity()
	a.mu.Lock()
	if a.queued > 0 {
		a.promote(limit, limited)
	}
	a.mu.Unlock()
}

// Admit admits a request of the given level (1 = most important .. 4), or
// waits for a slot in the queue, or refuses it. On success the caller must
// call Done on the returned Ticket exactly once. Errors:
//   - [ErrLevel] (wrapped) for a level outside 1..4;
//   - [ErrShed] when the level's share is used up and the request cannot
//     wait;
//   - [ErrQueueTimeout] when ctx is already done or its deadline has passed
//     by the Admitter's clock (checked first, even if a slot is free), or when
//     no slot came within the maximum wait or before ctx ended; such errors
//     also match ctx's error or context.DeadlineExceeded.
//
// Admitting at once does not allocate. Waiting reuses pooled waiters, each
// with its channel and timer, so it allocates only when the pool is empty.
func (a *Admitter) Admit(ctx context.Context, level int) (Ticket, error) {
	if level < 1 || level > Levels {
		return Ticket{}, fmt.Errorf("%w: got %d, want 1..%d", ErrLevel, level, Levels)
	}
	wait := a.maxWait
	waitErr := ErrQueueTimeout
	if err := ctx.Err(); err != nil {
		return Ticket{}, a.reject(level, contextError(err))
	}
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(a.clock.Now())
		if left <= 0 {
			return Ticket{}, a.reject(level, errDeadline)
		}
		if left < wait {
			wait, waitErr = left, errDeadline
		}
	}

	limit, limited := a.capacity.Capacity()
	a.mu.Lock()
	if a.queued > 0 {
		a.promote(limit, limited) // waiters go before newcomers
	}
	if a.fits(level, limit, limited) {
		a.admit(level)
		a.mu.Unlock()
		return Ticket{a, level}, nil
	}
	if a.queued >= a.queueCap && !a.evictFor(level) {
		a.levels[level-1].shed++
		a.mu.Unlock()
		return Ticket{}, ErrShed
	}
	w := a.newWaiter(level)
	a.levels[level-1].queue.pushBack(w)
	a.queued++
	a.mu.Unlock()

	tk, err := a.wait(ctx, w, wait, waitErr)
	a.waiters.Put(w)
	return tk, err
}

// wait blocks until w is admitted or shed, its timer of d fires (timeoutErr),
// or ctx ends.
func (a *Admitter) wait(ctx context.Context, w *waiter, d time.Duration, timeoutErr error) (Ticket, error) {
	if w.timer == nil {
		w.timer = a.clock.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	select {
	case <-w.ready:
		w.stopTimer()
		return a.settled(w)
	case <-w.timer.C():
		return a.leave(w, timeoutErr)
	case <-ctx.Done():
		w.stopTimer()
		return a.leave(w, contextError(ctx.Err()))
	}
}

// Recheck admits the waiters that fit the current limit, most important
// level first. Call it when the Capacity's limit may have risen; waiters are
// otherwise re-checked only when a slot frees or a request arrives.
func (a *Admitter) Recheck() {
	limit, limited := a.capacity.Capacity()
	a.mu.Lock()
	if a.queued > 0 {
		a.promote(limit, limited)
	}
	a.mu.Unlock()
}

// fits reports whether one more request of level fits; a.mu must be held.
func (a *Admitter) fits(level int, limit int64, limited bool) bool {
	return !limited || a.inflight < a.shares[level-1].Of(limit)
}

// admit counts one admitted request of level; a.mu must be held.
func (a *Admitter) admit(level int) {
	a.inflight++
	l := &a.levels[level-1]
	l.inflight++
	l.admitted++
}

// promote admits waiters in priority order while they fit; a.mu must be
// held. Shares do not increase with the level, so once the head of one level
// does not fit, no waiter of that level or a less important one fits either.
func (a *Admitter) promote(limit int64, limited bool) {
	for i := range a.levels {
		q := &a.levels[i].queue
		for q.head != nil {
			if !a.fits(i+1, limit, limited) {
				return
			}
			w := q.head
			q.remove(w)
			a.queued--
			a.admit(i + 1)
			w.state = waitAdmitted
			w.ready <- struct{}{} // buffered, sent at most once: never blocks
		}
	}
}

// evictFor frees a queue place for a request of level by shedding the most
// recently queued waiter of the least important level that is less important
// than level. It reports whether it did; a.mu must be held.
func (a *Admitter) evictFor(level int) bool {
	for i := Levels - 1; i >= level; i-- { // index i is level i+1 > level
		q := &a.levels[i].queue
		if w := q.tail; w != nil {
			q.remove(w)
			a.queued--
			a.levels[i].shed++
			w.state = waitShed
			w.ready <- struct{}{}
			return true
		}
	}
	return false
}

// settled returns the outcome that was decided for w while it was queued.
func (a *Admitter) settled(w *waiter) (Ticket, error) {
	if w.state == waitAdmitted {
		return Ticket{a, w.level}, nil
	}
	return Ticket{}, ErrShed
}

// leave takes w out of the queue after its timer fired or its context ended,
// and returns err. If w was admitted or shed in the meantime, that outcome
// stands instead: an admitted waiter returns its Ticket.
func (a *Admitter) leave(w *waiter, err error) (Ticket, error) {
	a.mu.Lock()
	if w.state != waitQueued {
		a.mu.Unlock()
		<-w.ready // sent with the state change, so this does not block
		return a.settled(w)
	}
	a.levels[w.level-1].queue.remove(w)
	a.queued--
	a.count(w.level, err)
	a.mu.Unlock()
	return Ticket{}, err
}

// reject counts a request refused before it reached the queue and returns
// err.
func (a *Admitter) reject(level int, err error) error {
	a.mu.Lock()
	a.count(level, err)
	a.mu.Unlock()
	return err
}

// count records a queue-timeout refusal; a.mu must be held.
func (a *Admitter) count(level int, err error) {
	if errors.Is(err, context.Canceled) {
		a.levels[level-1].canceled++
	} else {
		a.levels[level-1].timedOut++
	}
}
