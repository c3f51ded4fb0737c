package breaker

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

const openTimeout = 10 * time.Second

var (
	closedToOpen     = transition{StateClosed, StateOpen}
	openToHalfOpen   = transition{StateOpen, StateHalfOpen}
	halfOpenToClosed = transition{StateHalfOpen, StateClosed}
	halfOpenToOpen   = transition{StateHalfOpen, StateOpen}
)

type classicFixture struct {
	clk *clock.Fake
	b   *Classic
	rec *transitions
}

func newClassicFixture(t *testing.T, opts ...Option) *classicFixture {
	t.Helper()
	f := &classicFixture{clk: clock.NewFake(time.Time{}), rec: &transitions{}}
	opts = append([]Option{WithClock(f.clk), WithOnStateChange(f.rec.record), WithOpenTimeout(openTimeout)}, opts...)
	b, err := NewClassic(opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

// allow fails the test unless Allow admits the call.
func (f *classicFixture) allow(t *testing.T) Permit {
	t.Helper()
	p, err := f.b.Allow()
	if err != nil {
		t.Fatalf("Allow in %v: %v", f.b.State(), err)
	}
	return p
}

// reject fails the test unless Allow rejects the call with ErrOpen.
func (f *classicFixture) reject(t *testing.T) error {
	t.Helper()
	p, err := f.b.Allow()
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow in %v: err = %v, want ErrOpen", f.b.State(), err)
	}
	if p != (Permit{}) {
		t.Fatalf("rejection returned a non-zero Permit %+v", p)
	}
	return err
}

// outcomes reports a sequence of outcomes, 'S' success and 'F' failure.
func (f *classicFixture) outcomes(t *testing.T, seq string) {
	t.Helper()
	for _, c := range seq {
		f.allow(t).Done(c == 'S')
	}
}

func (f *classicFixture) state(t *testing.T, want State) {
	t.Helper()
	if got := f.b.State(); got != want {
		t.Fatalf("State = %v, want %v", got, want)
	}
}

// trip opens the breaker with its default count rule (5 failures).
func (f *classicFixture) trip(t *testing.T) {
	t.Helper()
	f.outcomes(t, "FFFFF")
	f.state(t, StateOpen)
}

func TestClassicTripsOnConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name  string
		count int
		seq   string
		want  State
	}{
		{"fewer failures than the count", 3, "FF", StateClosed},
		{"a success resets the run", 3, "FFSFF", StateClosed},
		{"count reached", 3, "SFFF", StateOpen},
		{"count of one", 1, "F", StateOpen},
		{"default count is 5", 0, "FFFFS" + "FFFF", StateClosed},
		{"default count reached", 0, "FFFFF", StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.count > 0 {
				opts = append(opts, WithFailureCount(tt.count))
			}
			f := newClassicFixture(t, opts...)
			f.outcomes(t, tt.seq)
			f.state(t, tt.want)
			if tt.want == StateOpen {
				if err := f.reject(t); err != ErrOpen {
					t.Fatalf("open breaker returned %v, want ErrOpen itself", err)
				}
				f.rec.expect(t, closedToOpen)
			} else {
				f.rec.expect(t)
			}
		})
	}
}

func TestClassicTripsOnFailureRatio(t *testing.T) {
	tests := []struct {
		name  string
		ratio float64
		min   int
		seq   string
		want  State
	}{
		{"below min requests", 0.5, 10, "FFFFFFFFF", StateClosed},
		{"at min requests, ratio reached", 0.5, 10, "SSSSFFFFF" + "F", StateOpen},
		{"at min requests, ratio missed", 0.5, 10, "SSSSSSFFF" + "F", StateClosed},
		{"ratio exactly met", 0.1, 10, "SSSSSSSSS" + "F", StateOpen},
		{"ratio 1 needs every call failing", 1, 4, "SFFFFFFF", StateClosed},
		{"ratio 1 met", 1, 4, "FFFF", StateOpen},
		{"trips only on a failure", 0.5, 4, "FFSS", StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClassicFixture(t, WithFailureCount(0), WithFailureRatio(tt.ratio), WithMinRequests(tt.min))
			f.outcomes(t, tt.seq)
			f.state(t, tt.want)
		})
	}
}

func TestClassicCountAndRatioTogether(t *testing.T) {
	// Either rule trips; the count rule needs no minimum.
	f := newClassicFixture(t, WithFailureCount(3), WithFailureRatio(0.9), WithMinRequests(100))
	f.outcomes(t, "SFFF")
	f.state(t, StateOpen)

	g := newClassicFixture(t, WithFailureCount(3), WithFailureRatio(0.5), WithMinRequests(4))
	g.outcomes(t, "FFSF") // 3/4 failures; the longest run is 2
	g.state(t, StateOpen)
}

func TestClassicRatioForgetsOldOutcomes(t *testing.T) {
	f := newClassicFixture(t, WithFailureCount(0), WithFailureRatio(0.5), WithMinRequests(4),
		WithWindow(4*time.Second), WithBuckets(4))
	f.outcomes(t, "FFF")
	f.clk.Advance(4 * time.Second) // those three fall out of the window
	f.outcomes(t, "SSSF")
	f.state(t, StateClosed)
	f.outcomes(t, "FF") // 3/6 within the window
	f.state(t, StateOpen)
}

func TestClassicOpenToHalfOpenOnTimeout(t *testing.T) {
	f := newClassicFixture(t)
	f.trip(t)
	f.clk.Advance(openTimeout - time.Nanosecond)
	f.reject(t)
	f.state(t, StateOpen)
	f.clk.Advance(time.Nanosecond)
	// Lazy: nothing happens until a call looks.
	f.rec.expect(t, closedToOpen)
	f.state(t, StateHalfOpen)
	f.rec.expect(t, closedToOpen, openToHalfOpen)
}

func TestClassicOpenToHalfOpenOnAllow(t *testing.T) {
	f := newClassicFixture(t)
	f.trip(t)
	f.clk.Advance(time.Hour)
	f.allow(t)
	f.rec.expect(t, closedToOpen, openToHalfOpen)
}

func TestClassicHalfOpen(t *testing.T) {
	tests := []struct {
		name      string
		requests  int
		threshold int
		seq       string // outcomes of trials, in order
		want      State
		events    []transition
	}{
		{"one trial succeeds", 1, 1, "S", StateClosed, []transition{halfOpenToClosed}},
		{"one trial fails", 1, 1, "F", StateOpen, []transition{halfOpenToOpen}},
		{"threshold 2 of 3, two succeed", 3, 2, "SS", StateClosed, []transition{halfOpenToClosed}},
		{"threshold 2 of 3, one success is not enough", 3, 2, "S", StateHalfOpen, nil},
		{"threshold 3 of 3, failure after successes", 3, 3, "SSF", StateOpen, []transition{halfOpenToOpen}},
		{"first failure decides", 3, 1, "FS", StateOpen, []transition{halfOpenToOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClassicFixture(t, WithHalfOpenRequests(tt.requests), WithSuccessThreshold(tt.threshold))
			f.trip(t)
			f.clk.Advance(openTimeout)
			permits := make([]Permit, tt.requests)
			for i := range permits {
				permits[i] = f.allow(t)
			}
			// Quota exhausted: further calls fail fast.
			if err := f.reject(t); err == ErrOpen || err != errTrialsBusy {
				t.Fatalf("half-open quota error = %v, want the trials-busy rejection", err)
			}
			for i, c := range tt.seq {
				permits[i].Done(c == 'S')
			}
			f.state(t, tt.want)
			f.rec.expect(t, append([]transition{closedToOpen, openToHalfOpen}, tt.events...)...)
		})
	}
}

func TestClassicHalfOpenFailureRestartsTheTimer(t *testing.T) {
	f := newClassicFixture(t)
	f.trip(t)
	f.clk.Advance(openTimeout)
	trial := f.allow(t)
	f.clk.Advance(3 * time.Second)
	trial.Failure() // reopens at t = timeout + 3s
	f.state(t, StateOpen)
	f.clk.Advance(openTimeout - time.Nanosecond)
	f.reject(t)
	f.clk.Advance(time.Nanosecond)
	f.allow(t)
	f.rec.expect(t, closedToOpen, openToHalfOpen, halfOpenToOpen, openToHalfOpen)
}

func TestClassicClosingResetsCounts(t *testing.T) {
	f := newClassicFixture(t, WithFailureCount(3), WithFailureRatio(0.75), WithMinRequests(4))
	f.outcomes(t, "FFF")
	f.state(t, StateOpen)
	f.clk.Advance(openTimeout)
	f.outcomes(t, "S") // the trial closes it
	f.state(t, StateClosed)
	// Fresh counts: the three failures before the trip are gone from both
	// the run (stale, it would reach 3) and the window (stale, 5/6 ≥ 0.75).
	f.outcomes(t, "FF")
	f.state(t, StateClosed)
	f.outcomes(t, "SS")
	f.state(t, StateClosed)
	f.outcomes(t, "FFF") // now a fresh run of 3 trips it
	f.state(t, StateOpen)
}

func TestClassicGenerations(t *testing.T) {
	t.Run("success from before the trip does not close half-open", func(t *testing.T) {
		f := newClassicFixture(t)
		stale := f.allow(t)
		f.trip(t)
		f.clk.Advance(openTimeout)
		f.state(t, StateHalfOpen)
		stale.Success()
		f.state(t, StateHalfOpen)
		// and it did not use up the trial quota either
		f.allow(t).Success()
		f.state(t, StateClosed)
	})
	t.Run("late failure from closed does not reopen half-open", func(t *testing.T) {
		f := newClassicFixture(t)
		stale := f.allow(t)
		f.trip(t)
		f.clk.Advance(openTimeout)
		f.state(t, StateHalfOpen)
		stale.Failure()
		f.state(t, StateHalfOpen)
	})
	t.Run("late outcome of a closed generation is ignored after closing again", func(t *testing.T) {
		f := newClassicFixture(t, WithFailureCount(2))
		stale := f.allow(t)
		f.outcomes(t, "FF")
		f.clk.Advance(openTimeout)
		f.outcomes(t, "S")
		f.state(t, StateClosed)
		stale.Failure()
		f.outcomes(t, "F") // a run of 1 in this generation, not 2
		f.state(t, StateClosed)
	})
	t.Run("outcomes after the round is decided are ignored", func(t *testing.T) {
		f := newClassicFixture(t, WithHalfOpenRequests(3), WithSuccessThreshold(1))
		f.trip(t)
		f.clk.Advance(openTimeout)
		a, b, c := f.allow(t), f.allow(t), f.allow(t)
		a.Success()
		f.state(t, StateClosed)
		b.Failure()
		c.Failure()
		f.state(t, StateClosed)
		f.rec.expect(t, closedToOpen, openToHalfOpen, halfOpenToClosed)
	})
	t.Run("every transition starts a generation", func(t *testing.T) {
		f := newClassicFixture(t)
		g0 := f.allow(t).Generation()
		f.trip(t)
		f.clk.Advance(openTimeout)
		g2 := f.allow(t)
		if g2.Generation() != g0+2 {
			t.Fatalf("half-open generation = %d, want %d", g2.Generation(), g0+2)
		}
		g2.Success()
		if g3 := f.allow(t).Generation(); g3 != g0+3 {
			t.Fatalf("closed-again generation = %d, want %d", g3, g0+3)
		}
	})
}

func TestClassicLostTrialRoundRestarts(t *testing.T) {
	f := newClassicFixture(t, WithHalfOpenRequests(2))
	f.trip(t)
	f.clk.Advance(openTimeout)
	lost := f.allow(t)
	f.allow(t).Success() // one of two needed; the other is never reported
	f.reject(t)
	f.clk.Advance(openTimeout - time.Nanosecond)
	f.reject(t)
	f.clk.Advance(time.Nanosecond)
	// A new round in a new generation: two fresh trials.
	a := f.allow(t)
	if a.Generation() == lost.Generation() {
		t.Fatal("the new round kept the old generation")
	}
	lost.Failure() // from the old round: ignored
	f.state(t, StateHalfOpen)
	b := f.allow(t)
	f.reject(t)
	a.Success()
	b.Success()
	f.state(t, StateClosed)
	// The restart is not a state change: no callback for it.
	f.rec.expect(t, closedToOpen, openToHalfOpen, halfOpenToClosed)
}

func TestClassicHalfOpenWithQuotaLeftDoesNotRestart(t *testing.T) {
	f := newClassicFixture(t, WithHalfOpenRequests(2))
	f.trip(t)
	f.clk.Advance(openTimeout)
	slow := f.allow(t)
	f.clk.Advance(3 * openTimeout)
	f.allow(t)
	slow.Failure() // same generation: one trial slot stayed free, so no restart
	f.state(t, StateOpen)
}
