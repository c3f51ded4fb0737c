// Package notify hands events (state changes) to a user callback in order, one at a time,
// with no lock held, for types that make the events inside their own critical sections.
//
// The owner calls Push under its mutex in the critical section that made the event. If Push
// returns true, that goroutine has become the deliverer and must call Deliver after unlocking.
// Exactly one goroutine delivers at a time: a callback that calls back into the owner and
// causes another event only queues it, and the deliverer hands it over after the callback
// returns. If a callback panics, the panic propagates and the next Push elects a new
// deliverer, which also delivers whatever was still queued. So user code never runs under the
// owner's lock (gobreaker's issue #37 is the deadlock this avoids).
package notify

import "sync"

// Queue is the pending events of one owner. Its fields are guarded by the owner's mutex;
// the zero Queue, or one with a nil callback, drops every event.
type Queue[E any] struct {
	fn         func(E)
	pending    []E // pending[head:] await delivery
	head       int
	delivering bool
}

// NewQueue returns a Queue that delivers to fn (nil: drop every event).
func NewQueue[E any](fn func(E)) Queue[E] { return Queue[E]{fn: fn} }

// Push queues e and reports whether the caller must call Deliver after unlocking: true when
// no delivery is running. The owner's mutex must be held.
func (q *Queue[E]) Push(e E) bool {
	if q.fn == nil {
		return false
	}
	q.pending = append(q.pending, e)
	if q.delivering {
		return false
	}
	q.delivering = true
	return true
}

// Deliver calls the callback for every queued event until the queue is empty. mu is the
// owner's mutex; the caller must not hold it.
func (q *Queue[E]) Deliver(mu *sync.Mutex) {
	done := false
	defer func() {
		if !done { // a callback panicked: give up the deliverer role
			mu.Lock()
			q.delivering = false
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		if q.head == len(q.pending) {
			clear(q.pending) // drop references held by delivered events
			q.pending, q.head = q.pending[:0], 0
			q.delivering = false
			mu.Unlock()
			done = true
			return
		}
		e := q.pending[q.head]
		q.head++
		mu.Unlock()
		q.fn(e)
	}
}
