package breaker

import (
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/notify"
	"github.com/bulwark-go/bulwark/internal/window"
)

// SRE is the Google SRE book's client-side adaptive throttling breaker
// (SEEDS.md B4). Over a rolling window it counts requests (every Allow that
// was reported with Done, plus every Allow it rejected itself) and accepts
// (Done(true)), and rejects each Allow with probability
//
//	p = max(0, (requests − K·accepts) / (requests + 1))
//
// or 0 while requests < the minimum. Since p < 1 always, some requests keep
// getting through to find out when the dependency recovers; and as the
// window ages out the failures, p falls back to 0 on its own.
//
// Allow reads the clock; Done does not. An outcome is counted as of the
// breaker's latest clock reading (the latest Allow, State or
// DropProbability call), which is never earlier than the Allow that issued
// its Permit: like the SRE book, the window dates a request by its attempt.
// This keeps one clock reading per call, the largest cost of Allow+Done.
//
// Its state is StateClosed while p = 0 and StateHalfOpen while p > 0. The
// state is re-evaluated by every Allow, Done, State and DropProbability, so
// a transition caused by time alone (the window forgetting failures) is
// noticed, and reported to the callback, at the next such call.
//
// An SRE is safe for concurrent use. Make one with NewSRE.
type SRE struct {
	rand        func() float64
	clock       clockReader
	k           float64
	minRequests int64

	mu     sync.Mutex
	counts *window.Window // Count: requests; Sum: accepts
	last   time.Duration  // the latest clock reading, as an offset
	state  State
	notify notify.Queue[transition]
}

var _ Breaker = (*SRE)(nil)

// errDropped is what an SRE rejection returns.
var errDropped = fmt.Errorf("%w: request dropped by client-side throttling", ErrOpen)

// NewSRE returns an SRE breaker. It accepts WithK, WithRand, WithWindow,
// WithBuckets, WithMinRequests, WithClock and WithOnStateChange; any other
// option, or an invalid value, fails with an error naming the option.
func NewSRE(opts ...Option) (*SRE, error) {
	o, err := build(opts, "the SRE breaker", classicOnly, groupOnly)
	if err != nil {
		return nil, err
	}
	return newSRE(o), nil
}

// newSRE makes an SRE from checked options.
func newSRE(o options) *SRE {
	return &SRE{
		rand:        o.rand,
		clock:       newClockReader(o.clock),
		k:           o.k,
		minRequests: o.minRequests,
		counts:      window.New(o.buckets, o.window/time.Duration(o.buckets)),
		notify:      newNotifyQueue(o.onChange),
	}
}

// Allow admits the call, or rejects it with the current drop probability
// and counts the rejection as a request that was not accepted. A rejection's
// error wraps ErrOpen. It draws a random number only while the drop
// probability is above 0.
func (b *SRE) Allow() (Permit, error) {
	_, p := b.observe()
	if p == 0 || b.rand() >= p { // rand is user code: called with no lock held
		return Permit{r: (*sreRecorder)(b)}, nil
	}
	// Dropped. Counting the rejection raises p; the next evaluation of the
	// state sees it.
	b.mu.Lock()
	b.counts.Add(b.last, 0)
	b.mu.Unlock()
	return Permit{}, errDropped
}

// State returns StateClosed while the drop probability is 0 and
// StateHalfOpen while it is above 0.
func (b *SRE) State() State {
	s, _ := b.observe()
	return s
}

// DropProbability returns the probability with which the next Allow will be
// rejected, as of now: a value in [0, 1).
func (b *SRE) DropProbability() float64 {
	_, p := b.observe()
	return p
}

// observe re-evaluates the state at the current time.
func (b *SRE) observe() (State, float64) {
	now := b.clock.now()
	b.mu.Lock()
	b.see(now)
	p := b.probability(b.counts.Total(now))
	deliver := b.setState(p)
	s := b.state
	b.mu.Unlock()
	if deliver {
		b.notify.Deliver(&b.mu)
	}
	return s, p
}

// see notes a clock reading. b.mu must be held.
func (b *SRE) see(now time.Duration) {
	b.last = max(b.last, now)
}

// record counts the outcome of a permitted request, as of the latest clock
// reading.
func (b *SRE) record(success bool) {
	var accepted int64
	if success {
		accepted = 1
	}
	b.mu.Lock()
	b.counts.Add(b.last, accepted)
	deliver := b.setState(b.probability(b.counts.Total(b.last)))
	b.mu.Unlock()
	if deliver {
		b.notify.Deliver(&b.mu)
	}
}

// probability is the SRE formula, 0 below the minimum number of requests.
func (b *SRE) probability(requests, accepts int64) float64 {
	excess := float64(requests) - b.k*float64(accepts)
	if excess <= 0 || requests < b.minRequests {
		return 0 // the usual case: no division
	}
	return excess / float64(requests+1)
}

// setState moves to the state p implies and reports whether the caller must
// deliver callbacks. b.mu must be held.
func (b *SRE) setState(p float64) bool {
	to := StateClosed
	if p > 0 {
		to = StateHalfOpen
	}
	if to == b.state {
		return false
	}
	from := b.state
	b.state = to
	return from != to && b.notify.Push(transition{from, to})
}

// sreRecorder is the SRE seen as the Recorder of its permits; a separate type
// keeps Record out of SRE's own method set. The SRE ignores generations: its
// window ages every outcome out on its own.
type sreRecorder SRE

func (r *sreRecorder) Record(_ uint64, success bool) { (*SRE)(r).record(success) }
