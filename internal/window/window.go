// Package window is a rolling window of time buckets: the counting structure
// under Bulwark's sliding-window limiter, SRE breaker and BBR limiter.
//
// A Window of n buckets, each d long, remembers the values added during the
// last n·d of time, at a resolution of d. Bucket k covers the time
// [start+k·d, start+(k+1)·d); the newest bucket is the one that holds "now",
// and the window spans it and the n−1 buckets before it. When time moves on,
// buckets that fall out of the span are cleared before they are reused, so a
// jump forward by more than the whole span leaves an empty window, and a clock
// that does not move keeps adding to the same bucket.
//
// A time earlier than the newest bucket (a caller that read the clock before
// another caller advanced the window, or a clock stepped backwards) is counted
// in the newest bucket: the window never rewinds.
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
	start   time.Time
	newest  int64 // absolute index of the newest bucket

	// Running totals over all buckets in the span, kept so that Total is O(1).
	count, sum int64
}

// New returns a Window of n buckets, each width long, whose first bucket
// starts at start. It panics if n < 1 or width ≤ 0: callers validate their
// options first, so a bad value here is a programming error.
func New(n int, width time.Duration, start time.Time) *Window {
	if n < 1 {
		panic(fmt.Sprintf("window: %d buckets; need at least 1", n))
	}
	if width <= 0 {
		panic(fmt.Sprintf("window: bucket width %v; need > 0", width))
	}
	return &Window{buckets: make([]Bucket, n), width: width, start: start}
}

// Len returns the number of buckets.
func (w *Window) Len() int { return len(w.buckets) }

// Width returns the width of one bucket.
func (w *Window) Width() time.Duration { return w.width }

// Span returns the time the window covers: Len()·Width().
func (w *Window) Span() time.Duration { return time.Duration(len(w.buckets)) * w.width }

// Add records v in the bucket that holds now.
func (w *Window) Add(now time.Time, v int64) {
	b := &w.buckets[w.advance(now)]
	b.add(v)
	w.count++
	w.sum += v
}

// Total returns the number of values and their sum over the whole window
// as seen at now.
func (w *Window) Total(now time.Time) (count, sum int64) {
	w.advance(now)
	return w.count, w.sum
}

// Each calls f for every bucket in the window as seen at now, from the newest
// (age 0, the bucket that holds now) to the oldest (age Len()−1). Empty
// buckets are included, with Count 0.
func (w *Window) Each(now time.Time, f func(age int, b Bucket)) {
	i := w.advance(now)
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

// advance clears the buckets that fell out of the span by now, makes the
// bucket holding now the newest, and returns its index in the ring.
func (w *Window) advance(now time.Time) int {
	n := int64(len(w.buckets))
	pos := int64(now.Sub(w.start) / w.width)
	if now.Before(w.start) {
		pos = w.newest // before the first bucket: count in the newest
	}
	if pos <= w.newest {
		return int(w.newest % n)
	}
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
	return int(pos % n)
}
