package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Schedule gives the target send rate, in requests per second, at each moment of a run.
// elapsed is measured from the run's start (warm-up included). A rate ≤ 0 sends nothing at
// that moment. Implementations must be safe to call from one goroutine at a time and must
// not block.
type Schedule interface {
	Rate(elapsed time.Duration) float64
}

// Constant sends at a fixed rate.
type Constant float64

// Rate returns the constant rate.
func (c Constant) Rate(time.Duration) float64 { return float64(c) }

// Ramp moves the rate linearly from From to To over Over, then holds To. An Over ≤ 0 holds To
// from the start.
type Ramp struct {
	From, To float64
	Over     time.Duration
}

// Rate returns From + (To−From)·elapsed/Over, clamped to To once Over has passed.
func (r Ramp) Rate(elapsed time.Duration) float64 {
	if r.Over <= 0 || elapsed >= r.Over {
		return r.To
	}
	if elapsed <= 0 {
		return r.From
	}
	return r.From + (r.To-r.From)*float64(elapsed)/float64(r.Over)
}

// Step is one stage of Steps: Rate requests per second for For.
type Step struct {
	Rate float64
	For  time.Duration
}

// Steps sends at each step's rate in turn; after the last step, the last rate holds. An empty
// Steps sends nothing.
type Steps []Step

// Rate returns the rate of the step that contains elapsed.
func (s Steps) Rate(elapsed time.Duration) float64 {
	var end time.Duration
	for _, st := range s {
		end += st.For
		if elapsed < end {
			return st.Rate
		}
	}
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].Rate
}

// Total returns the sum of the steps' durations.
func (s Steps) Total() time.Duration {
	var t time.Duration
	for _, st := range s {
		t += st.For
	}
	return t
}

// ErrSchedule is returned (wrapped) by ParseRate and ParseSteps for text they cannot read.
var ErrSchedule = errors.New("loadgen: bad schedule")

// ParseRate reads "500" (constant) or "100:2000" (a ramp from 100 to 2000 over ramp). Rates
// must be finite and ≥ 0, and at least one must be > 0.
func ParseRate(s string, ramp time.Duration) (Schedule, error) {
	from, to, isRamp := strings.Cut(strings.TrimSpace(s), ":")
	a, err := parseRateValue(from)
	if err != nil {
		return nil, fmt.Errorf("%w: rate %q: %v; write a number such as 500, or FROM:TO such as 100:2000", ErrSchedule, s, err)
	}
	if !isRamp {
		if a == 0 {
			return nil, fmt.Errorf("%w: rate %q: must be > 0", ErrSchedule, s)
		}
		return Constant(a), nil
	}
	b, err := parseRateValue(to)
	if err != nil {
		return nil, fmt.Errorf("%w: rate %q: %v; write FROM:TO such as 100:2000", ErrSchedule, s, err)
	}
	if a == 0 && b == 0 {
		return nil, fmt.Errorf("%w: rate %q: a ramp needs a rate > 0 at one end", ErrSchedule, s)
	}
	if ramp <= 0 {
		return nil, fmt.Errorf("%w: rate %q is a ramp; give its length with --ramp, e.g. --ramp 60s", ErrSchedule, s)
	}
	return Ramp{From: a, To: b, Over: ramp}, nil
}

// ParseSteps reads "RATExDURATION,..." such as "100x10s,500x10s".
func ParseSteps(s string) (Steps, error) {
	var out Steps
	for _, part := range strings.Split(s, ",") {
		r, d, ok := strings.Cut(strings.TrimSpace(part), "x")
		if !ok {
			return nil, fmt.Errorf("%w: step %q: write RATExDURATION such as 500x10s", ErrSchedule, part)
		}
		rate, err := parseRateValue(r)
		if err != nil {
			return nil, fmt.Errorf("%w: step %q: %v", ErrSchedule, part, err)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("%w: step %q: duration must be > 0 with a unit, such as 10s", ErrSchedule, part)
		}
		out = append(out, Step{Rate: rate, For: dur})
	}
	return out, nil
}

func parseRateValue(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("not a number")
	}
	if v < 0 {
		return 0, errors.New("must be ≥ 0")
	}
	if v > 1e7 {
		return 0, errors.New("must be ≤ 10000000")
	}
	return v, nil
}

// pacer turns a Schedule into intended send offsets by integrating the rate: the k-th send is
// due when ∫₀ᵗ rate = k. Each step uses the rate at the midpoint of the interval (second
// order), so a ramp's count is right to well under 0.1 %.
type pacer struct {
	s    Schedule
	next time.Duration // offset of the next send
}

// idleProbe is how far the pacer looks ahead when the rate is 0.
const idleProbe = time.Millisecond

// advance returns the offset of the next send and true, or false when none is due before limit.
func (p *pacer) advance(limit time.Duration) (time.Duration, bool) {
	for p.next < limit {
		r := p.s.Rate(p.next)
		if !(r > 0) || math.IsInf(r, 0) {
			if math.IsInf(r, 1) {
				r = 1e9
			} else {
				p.next += idleProbe
				continue
			}
		}
		at := p.next
		half := time.Duration(float64(time.Second) / r / 2)
		rm := p.s.Rate(at + half)
		if !(rm > 0) {
			rm = r
		}
		step := time.Duration(float64(time.Second) / rm)
		if step < 1 {
			step = 1
		}
		p.next = at + step
		return at, true
	}
	return 0, false
}
