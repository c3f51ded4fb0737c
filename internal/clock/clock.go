// Package clock abstracts time so that every time-dependent algorithm in
// Bulwark can be driven by a manual clock in tests.
//
// Production code uses [Real]. Tests use [Fake], whose time only moves when
// the test calls [Fake.Advance] or [Fake.Set]; timers and tickers created from
// a Fake fire synchronously inside those calls. No test needs to sleep to let
// time pass.
package clock

import "time"

// Clock tells the time and makes timers. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time. For Real it carries a monotonic reading.
	Now() time.Time
	// Since returns the time elapsed since t; it is Now().Sub(t).
	Since(t time.Time) time.Duration
	// NewTimer returns a Timer that sends the current time on its channel
	// once d has elapsed. A d ≤ 0 fires at once.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a Ticker that sends the time on its channel every d.
	// It panics if d ≤ 0, as time.NewTicker does.
	NewTicker(d time.Duration) Ticker
}

// Timer is the part of *time.Timer that Bulwark uses.
type Timer interface {
	// C returns the channel on which the time is delivered.
	C() <-chan time.Time
	// Stop prevents the Timer from firing. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
	// Reset changes the timer to expire after d. It reports whether the
	// timer had been active.
	Reset(d time.Duration) bool
}

// Ticker is the part of *time.Ticker that Bulwark uses.
type Ticker interface {
	// C returns the channel on which the ticks are delivered.
	C() <-chan time.Time
	// Stop turns off the ticker. No more ticks are sent after it returns.
	Stop()
}

// Real is the wall clock, backed by package time.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Since returns time.Since(t).
func (Real) Since(t time.Time) time.Duration { return time.Since(t) }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// OrReal returns c, or Real when c is nil. Constructors use it so that a nil
// clock option means "the wall clock".
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
