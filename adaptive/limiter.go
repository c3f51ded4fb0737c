package adaptive

import (
	"errors"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/window"
)

// ErrOverload is the error of every rejection: the CPU is at or above the
// threshold (or a cool-down runs) and the server already holds as many
// requests as it can complete without queueing.
var ErrOverload = errors.New("adaptive: overloaded")

// Unlimited is the limit reported while no capacity estimate exists yet.
const Unlimited = math.MaxInt64

// noDrop marks "no drop yet" in Limiter.lastDrop.
const noDrop = math.MinInt64

// Limiter is the BBR-style adaptive limiter described in the package
// comment. Create it with New; the zero value is not usable.
type Limiter struct {
	inflight atomic.Int64
	lastDrop atomic.Int64 // offset (ns) of the latest CPU-overload drop, or noDrop

	clk       clock.Clock
	cpu       CPU // nil: always overloaded
	threshold int64
	coolDown  time.Duration
	width     time.Duration
	start     time.Time

	mu     sync.Mutex
	rt     *window.Window // one Add per completion: its round-trip time in ns
	cached bool           // est holds the estimate for bucket pos
	pos    int64
	est    estimate
}

// estimate is the capacity estimate taken from the completed buckets.
type estimate struct {
	maxPass     int64         // most completions in one bucket; 0 = none seen
	minRt       time.Duration // least bucket average RT
	maxInflight int64         // Unlimited while maxPass == 0
}

// New returns a Limiter configured by opts, or an error naming the first
// invalid option. It starts no goroutine.
func New(opts ...Option) (*Limiter, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	width := o.window / time.Duration(o.buckets)
	start := o.clk.Now()
	l := &Limiter{
		clk:       o.clk,
		cpu:       o.cpu,
		threshold: o.threshold,
		coolDown:  o.coolDown,
		width:     width,
		start:     start,
		// buckets completed ones plus the one in progress.
		rt: window.New(o.buckets+1, width),
	}
	l.lastDrop.Store(noDrop)
	return l, nil
}

// Token tracks one admitted request. Call Done exactly once when the request
// completes; a second Done would count it twice. Tokens are small values:
// copy them freely. The zero Token's Done does nothing.
type Token struct {
	l     *Limiter
	start time.Duration // admission, as an offset from l.start
}

// Done records the request's round-trip time (now − admission, on the
// limiter's clock; a clock that went backwards counts as 0) and takes it out
// of the inflight count. It does not allocate.
func (t Token) Done() {
	if t.l != nil {
		t.DoneAt(t.l.elapsed())
	}
}

// Cancel ends a token without recording its round trip: for a request that
// never reached the work the limiter estimates (a connection refused, a client
// that left), whose near-zero time would otherwise drag minRt down and shrink
// the limit for a whole window. Like Done, call it at most once; the zero
// Token's Cancel does nothing.
func (t Token) Cancel() {
	if t.l != nil {
		t.l.inflight.Add(-1)
	}
}

// DoneAt is Done with the current reading of the limiter's Now given by the
// caller. A reading before the token's start counts as a round trip of 0.
func (t Token) DoneAt(end time.Duration) {
	l := t.l
	if l == nil {
		return
	}
	rt := max(end-t.start, 0)
	l.inflight.Add(-1)
	l.mu.Lock()
	l.rt.Add(end, int64(rt))
	l.mu.Unlock()
}

// Allow decides whether to admit one request. It returns a Token and nil if
// the request may go ahead, and the zero Token and ErrOverload if it must be
// shed (see the package comment for the rule). It does not allocate, and it
// takes no lock while the CPU is below the threshold and no cool-down runs.
func (l *Limiter) Allow() (Token, error) {
	now := l.elapsed()
	overloaded := l.cpuUsage() >= l.threshold
	if !overloaded && !l.coolingDown(now) {
		l.inflight.Add(1)
		return Token{l: l, start: now}, nil
	}
	l.mu.Lock()
	limit := l.refresh(now).maxInflight
	// Check and increment under mu, so concurrent slow-path admissions
	// cannot overshoot the limit together.
	if l.inflight.Load() >= limit {
		l.mu.Unlock()
		if overloaded {
			l.markDrop(now)
		}
		return Token{}, ErrOverload
	}
	l.inflight.Add(1)
	l.mu.Unlock()
	return Token{l: l, start: now}, nil
}

// Start admits one request without any check and begins tracking it, for
// callers that decide admission elsewhere (the shed package uses Capacity
// for that). Its round trip counts in the estimate like any other.
func (l *Limiter) Start() Token { return l.StartAt(l.elapsed()) }

// Now returns the limiter's clock reading: the time since New, on the clock
// given with WithClock. A caller that reads the time anyway can pass this
// reading to StartAt and Token.DoneAt and save the clock reads that Start and
// Done make (each costs tens of nanoseconds on some machines).
func (l *Limiter) Now() time.Duration { return l.elapsed() }

// StartAt is Start with the current reading of Now given by the caller.
func (l *Limiter) StartAt(now time.Duration) Token {
	l.inflight.Add(1)
	return Token{l: l, start: now}
}

// Capacity returns the current limit on requests in flight (Unlimited while
// there is no estimate yet) and whether it applies now: the CPU is at or
// above the threshold, or a cool-down runs. It lets the shed package use
// this limiter as its capacity source. It does not allocate.
func (l *Limiter) Capacity() (limit int64, limited bool) {
	now := l.elapsed()
	limited = l.cpuUsage() >= l.threshold || l.coolingDown(now)
	l.mu.Lock()
	limit = l.refresh(now).maxInflight
	l.mu.Unlock()
	return limit, limited
}

// Inflight returns the number of requests admitted (by Allow or Start) and not
// yet Done. It is one atomic load.
func (l *Limiter) Inflight() int64 { return l.inflight.Load() }

// Stats is a snapshot of a Limiter for metrics.
type Stats struct {
	// CPU is the CPU reading in per mille; 1000 when no CPU source is set.
	CPU int64
	// InFlight is the number of requests admitted and not yet Done.
	InFlight int64
	// MaxInflight is the estimated capacity, maxPass × minRt / bucket width
	// rounded up and at least 1; Unlimited while there is no estimate.
	MaxInflight int64
	// MinRt is the least average round-trip time of a completed bucket in
	// the window; 0 while there is no estimate.
	MinRt time.Duration
	// MaxPass is the most requests completed in one completed bucket of the
	// window; MaxPassPerSecond is the same as a rate.
	MaxPass          int64
	MaxPassPerSecond float64
	// CoolingDown reports that a cool-down runs: the inflight check applies
	// whatever the CPU reads.
	CoolingDown bool
	// Limited reports that the inflight check applies now (CPU at or above
	// the threshold, or CoolingDown); it is Capacity's second result.
	Limited bool
}

// Stats returns the current estimate and counters. The fields are read at
// slightly different instants, so under concurrent use they need not agree
// exactly with one another.
func (l *Limiter) Stats() Stats {
	now := l.elapsed()
	cpu := l.cpuUsage()
	cooling := l.coolingDown(now)
	l.mu.Lock()
	est := l.refresh(now)
	l.mu.Unlock()
	return Stats{
		CPU:              cpu,
		InFlight:         l.inflight.Load(),
		MaxInflight:      est.maxInflight,
		MinRt:            est.minRt,
		MaxPass:          est.maxPass,
		MaxPassPerSecond: float64(est.maxPass) * float64(time.Second) / float64(l.width),
		CoolingDown:      cooling,
		Limited:          cpu >= l.threshold || cooling,
	}
}

func (l *Limiter) cpuUsage() int64 {
	if l.cpu == nil {
		return 1000
	}
	return l.cpu.Usage()
}

// elapsed returns the time since the limiter was made. Every instant the
// limiter handles is such an offset: on the real clock Since reads only the
// monotonic clock, about half the cost of Now.
func (l *Limiter) elapsed() time.Duration { return l.clk.Since(l.start) }

// coolingDown reports whether now is within coolDown of the latest
// CPU-overload drop. A drop stamped after now (by a goroutine that read the
// clock later) counts as within it.
func (l *Limiter) coolingDown(now time.Duration) bool {
	last := l.lastDrop.Load()
	if last == noDrop || l.coolDown == 0 {
		return false
	}
	return int64(now)-last < int64(l.coolDown)
}

// markDrop records a CPU-overload drop at now; the stamp only moves forward.
func (l *Limiter) markDrop(now time.Duration) {
	t := int64(now)
	for {
		last := l.lastDrop.Load()
		if t <= last || l.lastDrop.CompareAndSwap(last, t) {
			return
		}
	}
}

// refresh returns the estimate for the bucket that holds now, recomputing it
// from the window only when the bucket changed since the last call. l.mu
// must be held.
func (l *Limiter) refresh(now time.Duration) estimate {
	pos := int64(now / l.width)
	if l.cached && pos == l.pos {
		return l.est
	}
	var maxPass, minSum, minCount int64
	l.rt.Each(now, func(age int, b window.Bucket) {
		if age == 0 || b.Count == 0 {
			return // the bucket in progress is not a measurement yet
		}
		maxPass = max(maxPass, b.Count)
		if minCount == 0 || lessRatio(b.Sum, b.Count, minSum, minCount) {
			minSum, minCount = b.Sum, b.Count
		}
	})
	est := estimate{maxInflight: Unlimited}
	if maxPass > 0 {
		est = estimate{
			maxPass:     maxPass,
			minRt:       time.Duration(minSum / minCount),
			maxInflight: maxInflight(maxPass, minSum, minCount, l.width),
		}
	}
	l.cached, l.pos, l.est = true, pos, est
	return est
}

// lessRatio reports whether a/b < c/d for a, c ≥ 0 and b, d > 0, exactly.
func lessRatio(a, b, c, d int64) bool {
	h1, l1 := bits.Mul64(uint64(a), uint64(d))
	h2, l2 := bits.Mul64(uint64(c), uint64(b))
	return h1 < h2 || (h1 == h2 && l1 < l2)
}

// maxInflight returns ⌈maxPass × (sum/count) / width⌉, at least 1 and at most
// Unlimited, computed exactly: maxPass × minRt is the most requests the
// server held while doing its best, by Little's law.
func maxInflight(maxPass, sum, count int64, width time.Duration) int64 {
	nh, nl := bits.Mul64(uint64(maxPass), uint64(sum))
	dh, dl := bits.Mul64(uint64(count), uint64(width))
	if dh != 0 { // a denominator beyond 64 bits (hours-wide buckets): floats are ample
		v := math.Ceil(float64(maxPass) * (float64(sum) / float64(count)) / float64(width))
		if v >= float64(Unlimited) {
			return Unlimited
		}
		return max(1, int64(v))
	}
	if nh >= dl {
		return Unlimited // the quotient does not fit in 64 bits
	}
	q, r := bits.Div64(nh, nl, dl)
	if q >= Unlimited {
		return Unlimited
	}
	if r != 0 {
		q++
	}
	return max(1, int64(q))
}
