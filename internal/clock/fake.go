package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a manual clock for tests. Its time moves only through Advance and
// Set. Timers and tickers made from it fire inside those calls, in deadline
// order, with Now reading each deadline as it fires. A Fake is safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled whenever the set of waiters changes
	now     time.Time
	waiters []*fakeWaiter
}

var _ Clock = (*Fake)(nil)

// NewFake returns a Fake that reads start. A zero start is replaced by a
// fixed, arbitrary instant so that tests never depend on the wall clock.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	f := &Fake{now: start}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Now returns the fake's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Since returns Now().Sub(t).
func (f *Fake) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// Advance moves the clock forward by d, firing every timer and ticker whose
// deadline falls within the step. A negative d panics: fake time, like
// monotonic time, does not run backwards through Advance.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Fake.Advance with a negative duration")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.moveTo(f.now.Add(d))
}

// Set moves the clock to t. A t before Now moves time backwards without
// firing anything, which lets tests check how code copes with a clock step.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.now) {
		f.now = t
		return
	}
	f.moveTo(t)
}

// Waiters returns how many timers and tickers are active.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// BlockUntil blocks until at least n timers and tickers are active. Tests use
// it to wait until a goroutine has armed its timer before advancing time.
func (f *Fake) BlockUntil(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.waiters) < n {
		f.cond.Wait()
	}
}

// NewTimer returns a timer that fires when the fake reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{fake: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(w, d)
	return (*fakeTimer)(w)
}

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	w := &fakeWaiter{fake: f, ch: make(chan time.Time, 1), period: d}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(w, d)
	return (*fakeTicker)(w)
}

// moveTo fires due waiters in deadline order up to t, then sets now to t.
// f.mu must be held.
func (f *Fake) moveTo(t time.Time) {
	for {
		w := f.earliest()
		if w == nil || w.deadline.After(t) {
			break
		}
		f.now = w.deadline
		w.fire(f.now)
		if w.period > 0 {
			w.deadline = w.deadline.Add(w.period)
		} else {
			f.remove(w)
		}
	}
	f.now = t
}

func (f *Fake) earliest() *fakeWaiter {
	if len(f.waiters) == 0 {
		return nil
	}
	sort.SliceStable(f.waiters, func(i, j int) bool {
		return f.waiters[i].deadline.Before(f.waiters[j].deadline)
	})
	return f.waiters[0]
}

// arm (re)schedules w after d; f.mu must be held. A timer due at once fires
// here, as time.NewTimer(0) would deliver at once.
func (f *Fake) arm(w *fakeWaiter, d time.Duration) {
	w.deadline = f.now.Add(d)
	if w.period == 0 && d <= 0 {
		w.fire(f.now)
		return
	}
	f.waiters = append(f.waiters, w)
	f.cond.Broadcast()
}

// remove unschedules w and reports whether it was scheduled; f.mu must be held.
func (f *Fake) remove(w *fakeWaiter) bool {
	for i, x := range f.waiters {
		if x == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			f.cond.Broadcast()
			return true
		}
	}
	return false
}

type fakeWaiter struct {
	fake     *Fake
	ch       chan time.Time
	deadline time.Time
	period   time.Duration // 0 for a timer
}

// fire delivers t without blocking; like package time, a ticker whose reader
// is slow drops ticks rather than queueing them.
func (w *fakeWaiter) fire(t time.Time) {
	select {
	case w.ch <- t:
	default:
	}
}

type fakeTimer fakeWaiter

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	f := t.fake
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.remove((*fakeWaiter)(t))
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.fake
	f.mu.Lock()
	defer f.mu.Unlock()
	active := f.remove((*fakeWaiter)(t))
	f.arm((*fakeWaiter)(t), d)
	return active
}

type fakeTicker fakeWaiter

func (t *fakeTicker) C() <-chan time.Time { return t.ch }

func (t *fakeTicker) Stop() {
	f := t.fake
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remove((*fakeWaiter)(t))
}
