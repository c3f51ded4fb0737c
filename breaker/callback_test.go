package breaker

import (
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// TestClassicCallbackMayCallTheBreaker checks that a callback that calls
// State, Allow and Done on its own breaker does not deadlock (gobreaker
// issue #37), sees the state it was told about, and that a transition it
// causes is delivered after it returns, in order.
func TestClassicCallbackMayCallTheBreaker(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	var b *Classic
	var seen []State
	onChange := func(from, to State) {
		rec.record(from, to)
		seen = append(seen, b.State())
		if to == StateOpen && len(seen) == 1 {
			// Move time past the timeout: the State call below makes the
			// open→half-open transition from inside this callback.
			clk.Advance(openTimeout)
			seen = append(seen, b.State())
			if p, err := b.Allow(); err == nil {
				p.Success() // closes it, again from inside the callback
			} else {
				t.Errorf("trial Allow inside the callback: %v", err)
			}
		}
	}
	var err error
	b, err = NewClassic(WithClock(clk), WithOpenTimeout(openTimeout), WithFailureCount(1), WithOnStateChange(onChange))
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "a failure whose callback re-enters the breaker", func() {
		p, err := b.Allow()
		if err != nil {
			t.Error(err)
			return
		}
		p.Failure()
	})
	rec.expect(t, closedToOpen, openToHalfOpen, halfOpenToClosed)
	// The first callback saw open, then half-open after its own State call;
	// the two nested transitions were delivered after it returned, when the
	// breaker was already closed.
	want := []State{StateOpen, StateHalfOpen, StateClosed, StateClosed}
	if len(seen) != len(want) {
		t.Fatalf("callbacks saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("callbacks saw %v, want %v", seen, want)
		}
	}
}

func TestSRECallbackMayCallTheBreaker(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	var b *SRE
	var probabilities []float64
	onChange := func(from, to State) {
		rec.record(from, to)
		probabilities = append(probabilities, b.DropProbability())
		_ = b.State()
		if p, err := b.Allow(); err == nil {
			p.Success()
		}
	}
	var err error
	b, err = NewSRE(WithClock(clk), WithK(2), WithMinRequests(0), WithRand(never), WithOnStateChange(onChange),
		WithWindow(time.Second), WithBuckets(1))
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "a failure whose callback re-enters the breaker", func() {
		p, _ := b.Allow()
		p.Failure() // p = 1/2: half-open; the callback's success brings it to 0
	})
	rec.expect(t, transition{StateClosed, StateHalfOpen}, transition{StateHalfOpen, StateClosed})
	if len(probabilities) != 2 || probabilities[0] != 0.5 || probabilities[1] != 0 {
		t.Fatalf("callbacks saw drop probabilities %v, want [0.5 0]", probabilities)
	}
}

// TestCallbackFromAnotherGoroutineDoesNotBlock checks that a callback that
// waits for another goroutine's call to the same breaker does not deadlock:
// the other goroutine's transitions are queued, not delivered under a lock.
func TestCallbackFromAnotherGoroutineDoesNotBlock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	var b *Classic
	first := true
	onChange := func(from, to State) {
		rec.record(from, to)
		if first {
			first = false
			clk.Advance(openTimeout)
			done := make(chan State)
			go func() { done <- b.State() }() // transitions to half-open
			if s := <-done; s != StateHalfOpen {
				t.Errorf("other goroutine saw %v, want half-open", s)
			}
		}
	}
	var err error
	b, err = NewClassic(WithClock(clk), WithOpenTimeout(openTimeout), WithFailureCount(1), WithOnStateChange(onChange))
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "a callback that waits on another goroutine's call", func() {
		p, _ := b.Allow()
		p.Failure()
	})
	rec.expect(t, closedToOpen, openToHalfOpen)
}

func TestGroupCallbackGetsTheKey(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	type event struct {
		key      string
		from, to State
	}
	var got []event
	var g *Group
	var err error
	g, err = NewGroup(KindClassic, WithClock(clk), WithFailureCount(1),
		WithGroupOnStateChange(func(key string, from, to State) {
			got = append(got, event{key, from, to})
			_ = g.Get(key).State() // re-entering the group and the breaker is fine
			_ = g.Len()
		}))
	if err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, "group callbacks", func() {
		p, _ := g.Get("a").Allow()
		p.Failure()
		p, _ = g.Get("b").Allow()
		p.Success()
		p, _ = g.Get("c").Allow()
		p.Failure()
	})
	want := []event{{"a", StateClosed, StateOpen}, {"c", StateClosed, StateOpen}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events = %v, want %v", got, want)
	}
}
