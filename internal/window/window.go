// Package window is a rolling window of time buckets: the counting structure
// under Bulwark's sliding-window limiter, SRE breaker and BBR limiter.
//
// A Window of n buckets, each d long, remembers the values added during the
// last n·d of time, at a resolution of d. Time is given as an offset from an
// epoch of the owner's choosing (typically clock.Since(start), which reads
// only the monotonic clock and is about twice as fast as a full Now). Bucket
// k covers the offsets [k·d, (k+1)·d); the newest bucket is the one that
// holds "now", and the window spans it and the n−1 buckets before it. When
// time moves on, buckets that fall out of the span are cleared before they
// are reused, so a jump forward by more than the whole span leaves an empty
// window, and a clock that does not move keeps adding to the same bucket.
//
// An offset earlier than the newest bucket (a caller that read the clock
// before another caller advanced the window, a clock stepped backwards, or a
// negative offset) is counted in the newest bucket: the window never rewinds.
//
// Every method is allocation-free. A Window is not safe for concurrent use:
// its owners hold their own lock, because they combine several reads and
// writes into one decision.
package window

import (
	"fmt"
	"time"
)

// Bucket is the summary of the values added during one bucket's span.
// Min and Max are meaningful only when Count > 0.
type Bucket struct {
	Count int64 // number of Add calls
	Sum   int64 // sum of the values added
	Min   int64 // least value added
	Max   int64 // greatest value added
}

func (b *Bucket) add(v int64) {
	if b.Count == 0 || v < b.Min {
		b.Min = v
	}
	if b.Count == 0 || v > b.Max {
		b.Max = v
	}
	b.Count++
	b.Sum += v
}

// Window is a ring of n buckets of equal width. The zero value is not usable;
// call New.
type Window struct {
	buckets []Bucket
	width   time.Duration
	newest  int64         // absolute index of the newest bucket
	ring    int           // newest % len(buckets): its place in the ring
	edge    time.Duration // (newest+1)·width: where the next bucket starts

	// Running totals over all buckets in the span, kept so that Total is O(1).
	count, sum int64
}

// New returns a Window of n buckets, each width long, whose first bucket
// starts at offset 0. It panics if n < 1 or width ≤ 0: callers validate
// their options first, so a bad value here is a programming error.
func New(n int, width time.Duration) *Window {
	if n < 1 {
		panic(fmt.Sprintf("window: %d buckets; need at least 1", n))
	}
	if width <= 0 {
		panic(fmt.Sprintf("window: bucket width %v; need > 0", width))
	}
	return &Window{buckets: make([]Bucket, n), width: width, edge: width}
}

// Len returns the number of buckets.
func (w *Window) Len() int { return len(w.buckets) }

// Width returns the width of one bucket.
func (w *Window) Width() time.Duration { return w.width }

// Span returns the time the window covers: Len()·Width().
func (w *Window) Span() time.Duration { return time.Duration(len(w.buckets)) * w.width }

// Add records v in the bucket that holds offset at.
func (w *Window) Add(at time.Duration, v int64) {
	b := &w.buckets[w.advance(at)]
	b.add(v)
	w.count++
	w.sum += v
}

// Total returns the number of values and their sum over the whole window
// as seen at offset at.
func (w *Window) Total(at time.Duration) (count, sum int64) {
	w.advance(at)
	return w.count, w.sum
}

// Each calls f for every bucket in the window as seen at offset at, from the
// newest (age 0, the bucket that holds at) to the oldest (age Len()−1).
// Empty buckets are included, with Count 0.
func (w *Window) Each(at time.Duration, f func(age int, b Bucket)) {
	i := w.advance(at)
	n := len(w.buckets)
	for age := range n {
		f(age, w.buckets[i])
		if i--; i < 0 {
			i = n - 1
		}
	}
}

// Reset empties every bucket.
func (w *Window) Reset() {
	clear(w.buckets)
	w.count, w.sum = 0, 0
}

// advance clears the buckets that fell out of the span by offset at, makes
// the bucket holding at the newest, and returns its index in the ring. Within
// the newest bucket, the common case, it is one comparison.
func (w *Window) advance(at time.Duration) int {
	if at < w.edge {
		return w.ring // in the newest bucket, or earlier: counted in the newest
	}
	n := int64(len(w.buckets))
	pos := int64(at / w.width)
	if pos-w.newest >= n {
		w.Reset()
	} else {
		for k := w.newest + 1; k <= pos; k++ {
			b := &w.buckets[k%n]
			w.count -= b.Count
			w.sum -= b.Sum
			*b = Bucket{}
		}
	}
	w.newest = pos
	w.ring = int(pos % n)
	w.edge = time.Duration(pos+1) * w.width
	return w.ring
}
