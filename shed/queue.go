package shed

import "github.com/bulwark-go/bulwark/internal/clock"

// waitState is where a waiter stands; it changes only under Admitter.mu.
type waitState uint8

const (
	waitQueued   waitState = iota // in its level's queue
	waitAdmitted                  // given a slot by promote
	waitShed                      // pushed out of a full queue by evictFor
)

// waiter is one request waiting for a slot. ready receives exactly once, when
// the waiter leaves the queue as admitted or shed; a waiter that leaves on
// its own (timer, context) receives nothing. Waiters are pooled per Admitter
// with their channel and timer, and go back to the pool only with ready
// empty and the timer stopped and drained.
type waiter struct {
	level      int
	state      waitState
	ready      chan struct{}
	timer      clock.Timer // nil until the waiter first waits
	prev, next *waiter
}

// newWaiter returns a queued waiter of level from the pool.
func (a *Admitter) newWaiter(level int) *waiter {
	w, _ := a.waiters.Get().(*waiter)
	if w == nil {
		w = &waiter{ready: make(chan struct{}, 1)}
	}
	w.level, w.state = level, waitQueued
	return w
}

// stopTimer stops w's timer and empties its channel, so that a reused timer
// never delivers a stale tick.
func (w *waiter) stopTimer() {
	if !w.timer.Stop() {
		select {
		case <-w.timer.C():
		default:
		}
	}
}

// waitQueue is one level's FIFO of waiters: an intrusive doubly linked list,
// so that a waiter that gives up is removed in O(1).
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) pushBack(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

// remove unlinks w, which must be in q.
func (q *waitQueue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}
