package breaker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/notify"
	"github.com/bulwark-go/bulwark/internal/window"
)

// Classic is the three-state circuit breaker of SEEDS.md B5:
//
//	closed ──(failure count or ratio reached)──▶ open
//	open ──(open timeout passed)──▶ half-open
//	half-open ──(success threshold reached)──▶ closed
//	half-open ──(any failure)──▶ open
//
// Every transition starts a new generation. A Permit carries the generation
// it was issued in, and an outcome from any other generation is ignored.
//
// Time is read lazily: an open breaker becomes half-open at the first Allow
// or State call at or after its deadline; no timer or goroutine is involved.
// A closed breaker reads the clock only to date outcomes for the failure
// ratio's window (when that rule is on) and when it trips, so with the count
// rule alone its Allow and Done cost two short critical sections and nothing
// more.
//
// If a half-open breaker has handed out all its trial permits and the round
// is still undecided one open timeout after the last of them was handed out
// (a caller lost its Permit), it starts a fresh round of trials in a new
// generation, ignoring the outstanding ones; the state stays half-open and
// no callback fires.
//
// A Classic is safe for concurrent use. Make one with NewClassic.
type Classic struct {
	clock            clockReader
	failureCount     int     // 0: off
	failureRatio     float64 // 0: off
	minRequests      int64
	openTimeout      time.Duration
	halfOpenRequests int
	successThreshold int

	hint atomic.Int32 // a copy of state, readable without the lock

	mu         sync.Mutex
	state      State
	generation uint64
	expiry     time.Duration // clock offset; open: when to go half-open; half-open: when a lost round restarts

	// closed
	outcomes            *window.Window // Count: outcomes; Sum: failures
	consecutiveFailures int

	// half-open
	trials    int // trial permits handed out this generation
	successes int // trial successes this generation

	notify notify.Queue[transition]
}

var _ Breaker = (*Classic)(nil)

// errTrialsBusy is what a half-open Classic returns once its trial quota is
// handed out. An open Classic returns ErrOpen itself.
var errTrialsBusy = fmt.Errorf("%w: half-open, trial calls in progress", ErrOpen)

// NewClassic returns a classic breaker, closed. It accepts WithFailureCount,
// WithFailureRatio, WithMinRequests, WithWindow, WithBuckets,
// WithOpenTimeout, WithHalfOpenRequests, WithSuccessThreshold, WithClock and
// WithOnStateChange; any other option, or an invalid value, fails with an
// error naming the option. It fails too if both trip rules are off
// (WithFailureCount(0) without WithFailureRatio), or if the success threshold
// exceeds the half-open quota.
func NewClassic(opts ...Option) (*Classic, error) {
	o, err := build(opts, "the classic breaker", sreOnly, groupOnly)
	if err != nil {
		return nil, err
	}
	if err := checkClassic(&o); err != nil {
		return nil, err
	}
	return newClassic(o), nil
}

// checkClassic checks the rules between classic options and fills in the
// success threshold's default.
func checkClassic(o *options) error {
	if o.failureCount == 0 && o.failureRatio == 0 {
		return errors.New("breaker: WithFailureCount: 0 turns the count rule off, and WithFailureRatio is off too: the breaker could never trip")
	}
	if o.set&setSuccessThreshold == 0 {
		o.successThreshold = o.halfOpenRequests
	}
	if o.successThreshold > o.halfOpenRequests {
		return fmt.Errorf("breaker: WithSuccessThreshold: must be ≤ the half-open quota %d, got %d", o.halfOpenRequests, o.successThreshold)
	}
	return nil
}

// newClassic makes a Classic from checked options.
func newClassic(o options) *Classic {
	return &Classic{
		clock:            newClockReader(o.clock),
		failureCount:     o.failureCount,
		failureRatio:     o.failureRatio,
		minRequests:      max(o.minRequests, 1),
		openTimeout:      o.openTimeout,
		halfOpenRequests: o.halfOpenRequests,
		successThreshold: o.successThreshold,
		outcomes:         window.New(o.buckets, o.window/time.Duration(o.buckets)),
		notify:           newNotifyQueue(o.onChange),
	}
}

// Allow admits every call while closed; rejects every call with ErrOpen
// while open; and while half-open admits trial calls up to the quota, then
// rejects with an error that wraps ErrOpen until the round is decided.
func (b *Classic) Allow() (Permit, error) {
	now := moment{clock: &b.clock}
	if State(b.hint.Load()) != StateClosed {
		now.get() // it will be needed: read it before taking the lock
	}
	b.mu.Lock()
	deliver := b.refresh(&now)
	var err error
	switch b.state {
	case StateOpen:
		err = ErrOpen
	case StateHalfOpen:
		if b.trials < b.halfOpenRequests {
			b.trials++
			b.expiry = now.get() + b.openTimeout // see refresh
		} else {
			err = errTrialsBusy
		}
	}
	gen := b.generation
	b.mu.Unlock()
	if deliver {
		b.notify.Deliver(&b.mu)
	}
	if err != nil {
		return Permit{}, err
	}
	return Permit{r: (*classicRecorder)(b), gen: gen}, nil
}

// State returns the current state, after moving from open to half-open if
// the open timeout has passed.
func (b *Classic) State() State {
	if State(b.hint.Load()) == StateClosed {
		return StateClosed // only an outcome, not time, can change that
	}
	now := moment{clock: &b.clock}
	now.get()
	b.mu.Lock()
	deliver := b.refresh(&now)
	s := b.state
	b.mu.Unlock()
	if deliver {
		b.notify.Deliver(&b.mu)
	}
	return s
}

// record takes the outcome of a call permitted in generation gen.
func (b *Classic) record(gen uint64, success bool) {
	now := moment{clock: &b.clock}
	if b.failureRatio > 0 || State(b.hint.Load()) != StateClosed {
		now.get() // it will be needed: read it before taking the lock
	}
	b.mu.Lock()
	deliver := b.refresh(&now)
	if gen == b.generation {
		switch b.state {
		case StateClosed:
			deliver = b.closedOutcome(&now, success) || deliver
		case StateHalfOpen:
			deliver = b.halfOpenOutcome(&now, success) || deliver
		}
	}
	b.mu.Unlock()
	if deliver {
		b.notify.Deliver(&b.mu)
	}
}

// closedOutcome counts an outcome in the closed state and trips when a rule
// says so. b.mu must be held.
func (b *Classic) closedOutcome(now *moment, success bool) bool {
	var failure int64
	if success {
		b.consecutiveFailures = 0
	} else {
		b.consecutiveFailures++
		failure = 1
	}
	if b.failureRatio > 0 {
		b.outcomes.Add(now.get(), failure)
	}
	if success {
		return false
	}
	if b.failureCount > 0 && b.consecutiveFailures >= b.failureCount {
		return b.setState(now, StateOpen)
	}
	if b.failureRatio > 0 {
		n, failures := b.outcomes.Total(now.get())
		if n >= b.minRequests && float64(failures)/float64(n) >= b.failureRatio {
			return b.setState(now, StateOpen)
		}
	}
	return false
}

// halfOpenOutcome takes a trial's outcome: any failure reopens, enough
// successes close. b.mu must be held.
func (b *Classic) halfOpenOutcome(now *moment, success bool) bool {
	if !success {
		return b.setState(now, StateOpen)
	}
	b.successes++
	if b.successes >= b.successThreshold {
		return b.setState(now, StateClosed)
	}
	return false
}

// refresh makes the transitions that time alone makes due. b.mu must be held.
func (b *Classic) refresh(now *moment) bool {
	if b.state == StateClosed || now.get() < b.expiry {
		return false
	}
	if b.state == StateOpen {
		return b.setState(now, StateHalfOpen)
	}
	// Half-open, with every trial handed out an open timeout ago or more:
	// one went missing.
	if b.trials >= b.halfOpenRequests {
		b.generation++
		b.trials, b.successes = 0, 0
		b.expiry = now.get() + b.openTimeout
	}
	return false
}

// setState moves to a new state in a new generation with fresh counts, and
// reports whether the caller must deliver callbacks. b.mu must be held.
func (b *Classic) setState(now *moment, to State) bool {
	from := b.state
	b.state = to
	b.hint.Store(int32(to))
	b.generation++
	b.consecutiveFailures, b.trials, b.successes = 0, 0, 0
	b.outcomes.Reset()
	if to != StateClosed {
		b.expiry = now.get() + b.openTimeout
	}
	return from != to && b.notify.Push(transition{from, to})
}

// moment is a clock reading taken at most once, when first needed, so that
// the closed state's hot path does not pay for reading the clock.
type moment struct {
	clock *clockReader
	t     time.Duration
	read  bool
}

func (m *moment) get() time.Duration {
	if !m.read {
		m.t, m.read = m.clock.now(), true
	}
	return m.t
}

// classicRecorder is the Classic seen as the Recorder of its permits; a
// separate type keeps Record out of Classic's own method set.
type classicRecorder Classic

func (r *classicRecorder) Record(gen uint64, success bool) { (*Classic)(r).record(gen, success) }
