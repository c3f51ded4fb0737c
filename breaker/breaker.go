package breaker

import (
	"errors"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/notify"
)

// ErrOpen is the error of every rejection, from either kind of breaker.
// Rejections may wrap it with detail, so test with errors.Is(err, ErrOpen).
var ErrOpen = errors.New("breaker: open")

// State is a breaker's state.
type State int

// The states. The zero State is StateClosed.
const (
	// StateClosed admits every call.
	StateClosed State = iota
	// StateHalfOpen admits some calls: a few trial calls for the classic
	// breaker, a random share for the SRE breaker.
	StateHalfOpen
	// StateOpen rejects every call. Only the classic breaker opens.
	StateOpen
)

// String returns "closed", "half-open" or "open", or "State(n)" for a value
// outside those.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Breaker guards calls to one dependency. Implementations are safe for
// concurrent use.
type Breaker interface {
	// Allow asks to make one call. It returns a Permit and nil if the call
	// may go ahead; the caller must then report the outcome with Done
	// exactly once. Otherwise it returns the zero Permit and an error for
	// which errors.Is(err, ErrOpen) holds; the rejected call must not be
	// made, and its Permit need not be reported.
	Allow() (Permit, error)
	// State returns the current state. Reading it may perform a transition
	// that is due (an open classic breaker whose timeout has passed becomes
	// half-open).
	State() State
}

// Recorder receives the outcome of a permitted call. Breakers implement it;
// other packages implement it to build their own Breaker (a test double, a
// wrapper) on top of Permit.
type Recorder interface {
	// Record reports the outcome of a call permitted in generation gen.
	Record(gen uint64, success bool)
}

// Permit is the right to make one call, returned by Breaker.Allow. It is a
// small value: copy it freely, but report it once. The zero Permit's Done
// does nothing.
type Permit struct {
	r   Recorder
	gen uint64
}

// NewPermit returns a Permit whose Done calls r.Record(gen, success). A nil
// r gives a Permit whose Done does nothing. It does not allocate when r is a
// pointer.
func NewPermit(r Recorder, gen uint64) Permit { return Permit{r: r, gen: gen} }

// Done reports the outcome of the permitted call: success is false when the
// call failed in a way that counts against the dependency (an error, a
// timeout, an overload answer), true otherwise. Call it once per Permit; a
// second call is counted again. An outcome from an older generation is
// ignored by the classic breaker.
func (p Permit) Done(success bool) {
	if p.r != nil {
		p.r.Record(p.gen, success)
	}
}

// Success is Done(true).
func (p Permit) Success() { p.Done(true) }

// Failure is Done(false).
func (p Permit) Failure() { p.Done(false) }

// Generation returns the generation the Permit was issued in; 0 for the zero
// Permit and for permits of breakers that do not use generations (SRE).
func (p Permit) Generation() uint64 { return p.gen }

// transition is one state change waiting to be told to the callback.
type transition struct{ from, to State }

// newNotifyQueue queues transitions for fn (see internal/notify: callbacks run in order, one
// at a time, with no lock held; nil drops them).
func newNotifyQueue(fn func(from, to State)) notify.Queue[transition] {
	if fn == nil {
		return notify.Queue[transition]{}
	}
	return notify.NewQueue(func(t transition) { fn(t.from, t.to) })
}

// clockReader reads a Clock as an offset from base, the epoch of the
// breakers' rolling windows and timers. For the real clock, Since reads only
// the monotonic clock where Now reads the wall clock too: about half the
// cost, and reading the clock is the largest cost of the hot paths.
type clockReader struct {
	clock clock.Clock
	base  time.Time
}

func newClockReader(c clock.Clock) clockReader { return clockReader{clock: c, base: c.Now()} }

func (r *clockReader) now() time.Duration { return r.clock.Since(r.base) }
