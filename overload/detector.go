package overload

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/bulwark-go/bulwark/internal/fraction"
)

// ErrOverloaded means the detector is overloaded (or exiting overload) and
// the request would take active work past the target share of the workers.
var ErrOverloaded = errors.New("overload: overloaded")

// Phase is the detector's overload phase; see the package comment for the
// transition table.
type Phase int32

const (
	// Normal: load is in range; everything is allowed.
	Normal Phase = iota
	// Overloaded: load stayed above the enter threshold for N samples;
	// requests beyond the target are refused.
	Overloaded
	// Exiting: load has been below the exit threshold for fewer than M
	// samples; still refusing beyond the target, still reporting overload.
	Exiting
)

// String returns "normal", "overloaded" or "exiting".
func (p Phase) String() string {
	switch p {
	case Normal:
		return "normal"
	case Overloaded:
		return "overloaded"
	case Exiting:
		return "exiting"
	}
	return fmt.Sprintf("Phase(%d)", int32(p))
}

// State is a snapshot of a [Detector].
type State struct {
	Phase    Phase
	Active   int     // active workers in the last sample (≥ 0)
	Total    int     // total workers in the last sample (≥ 1)
	Ratio    float64 // Active / Total of the last sample
	Streak   int     // consecutive samples counted toward the next transition
	Samples  uint64  // samples taken so far
	Inflight int64   // live accounting: Tokens not yet Done
	Rejected uint64  // requests refused with ErrOverloaded so far
}

// Detector is the active-worker overload detector. It is safe for concurrent
// use and starts no goroutines: the owner feeds it samples.
type Detector struct {
	enter, exit   float64
	target        fraction.PPB
	enterN, exitN int
	workers       int // 0: sample mode
	onChange      func(from, to Phase, s State)

	// Read without the lock on the hot paths; written under mu.
	phase      atomic.Int32
	limit      atomic.Int64 // −1 in Normal, else ⌊target × Total⌋
	lastActive atomic.Int64

	inflight atomic.Int64
	rejected atomic.Uint64

	mu    sync.Mutex
	state State // Phase, Active, Total, Ratio, Streak, Samples
}

// New returns a Detector in the Normal phase. It fails if an option is
// invalid or the exit threshold exceeds the enter threshold.
func New(opts ...Option) (*Detector, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.exit > o.enter {
		return nil, fmt.Errorf("overload: WithExit/WithEnter: exit threshold %v must not exceed the enter threshold %v", o.exit, o.enter)
	}
	if !o.targetSet {
		o.target = o.enter
	}
	d := &Detector{
		enter: o.enter, exit: o.exit,
		target: fraction.FromFloat(o.target),
		enterN: o.enterN, exitN: o.exitN,
		workers:  o.workers,
		onChange: o.onChange,
	}
	d.state.Total = max(o.workers, 1)
	d.limit.Store(-1)
	return d, nil
}

// Token is one unit of work counted by the inflight accounting. Call
// [Token.Done] exactly once when the work ends. The zero Token's Done does
// nothing.
type Token struct{ d *Detector }

// Done ends the token's work.
func (t Token) Done() {
	if t.d != nil {
		t.d.inflight.Add(-1)
	}
}

// Begin counts one unit of work as active, without any check; use it for
// work that is already admitted. It does not allocate.
func (d *Detector) Begin() Token {
	d.inflight.Add(1)
	return Token{d}
}

// Admit is Allow and Begin in one step: it returns a Token, or
// ErrOverloaded. Built WithWorkers, the check and the count are one atomic
// step, so concurrent Admits never take inflight past the limit; without
// workers it judges the last sample, as Allow does. It does not allocate.
func (d *Detector) Admit() (Token, error) {
	if d.workers == 0 {
		if err := d.Allow(); err != nil {
			return Token{}, err
		}
		return d.Begin(), nil
	}
	for {
		limit := d.limit.Load()
		if limit < 0 {
			d.inflight.Add(1)
			return Token{d}, nil
		}
		n := d.inflight.Load()
		if n >= limit {
			d.rejected.Add(1)
			return Token{}, ErrOverloaded
		}
		if d.inflight.CompareAndSwap(n, n+1) {
			return Token{d}, nil
		}
	}
}

// Allow reports whether one more request may start now: nil in Normal; in
// Overloaded and Exiting nil only while active < ⌊target × total⌋, else
// ErrOverloaded. active is the live inflight count WithWorkers, and the last
// sample's active count otherwise. Allow counts nothing as active; pair it
// with Begin, or use Admit. It does not allocate.
func (d *Detector) Allow() error {
	limit := d.limit.Load()
	if limit < 0 {
		return nil
	}
	active := d.lastActive.Load()
	if d.workers > 0 {
		active = d.inflight.Load()
	}
	if active < limit {
		return nil
	}
	d.rejected.Add(1)
	return ErrOverloaded
}

// Capacity returns the limit on active work: (0, false) in Normal, and
// (⌊target × total⌋, true) otherwise. It has the shape of shed.Capacity.
func (d *Detector) Capacity() (limit int64, limited bool) {
	if l := d.limit.Load(); l >= 0 {
		return l, true
	}
	return 0, false
}

// Overloaded reports whether the phase is not Normal: the value of the
// Bulwark-Overload response header is "1" exactly when this is true.
func (d *Detector) Overloaded() bool { return Phase(d.phase.Load()) != Normal }

// Phase returns the current phase.
func (d *Detector) Phase() Phase { return Phase(d.phase.Load()) }

// Inflight returns the number of Tokens not yet Done.
func (d *Detector) Inflight() int64 { return d.inflight.Load() }

// State returns a snapshot of the detector.
func (d *Detector) State() State {
	d.mu.Lock()
	s := d.state
	d.mu.Unlock()
	s.Inflight = d.inflight.Load()
	s.Rejected = d.rejected.Load()
	return s
}

// Sample takes a sample from the inflight accounting, (Inflight(), workers),
// and returns the State after it. Without WithWorkers it takes no sample and
// just returns State(). Call it on the owner's ticker.
func (d *Detector) Sample() State {
	if d.workers == 0 {
		return d.State()
	}
	return d.Observe(int(min(d.inflight.Load(), math.MaxInt)), d.workers)
}

// Observe takes a sample of active and total workers, moves the phase by the
// transition table, and returns the State after it. total < 1 counts as 1
// and active < 0 as 0. It calls the phase-change function, if any, after
// releasing its lock. It does not allocate.
func (d *Detector) Observe(active, total int) State {
	active, total = max(active, 0), max(total, 1)
	ratio := float64(active) / float64(total)

	d.mu.Lock()
	from := d.state.Phase
	d.step(ratio)
	d.state.Active, d.state.Total, d.state.Ratio = active, total, ratio
	d.state.Samples++
	to := d.state.Phase
	d.phase.Store(int32(to))
	d.lastActive.Store(int64(active))
	if to == Normal {
		d.limit.Store(-1)
	} else {
		d.limit.Store(d.target.Of(int64(total)))
	}
	s := d.state
	d.mu.Unlock()

	s.Inflight = d.inflight.Load()
	s.Rejected = d.rejected.Load()
	if to != from && d.onChange != nil {
		d.onChange(from, to, s)
	}
	return s
}

// step applies one sample's ratio to the phase and streak; d.mu must be held.
func (d *Detector) step(ratio float64) {
	s := &d.state
	switch s.Phase {
	case Normal:
		if ratio <= d.enter {
			s.Streak = 0
			return
		}
		if s.Streak++; s.Streak >= d.enterN {
			s.Phase, s.Streak = Overloaded, 0
		}
	case Overloaded:
		if ratio < d.exit {
			s.Phase, s.Streak = Exiting, 1
			d.exitIfDone()
		}
	case Exiting:
		if ratio >= d.exit {
			s.Phase, s.Streak = Overloaded, 0
			return
		}
		s.Streak++
		d.exitIfDone()
	}
}

// exitIfDone returns to Normal once the exit streak reaches M.
func (d *Detector) exitIfDone() {
	if d.state.Streak >= d.exitN {
		d.state.Phase, d.state.Streak = Normal, 0
	}
}
