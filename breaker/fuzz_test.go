package breaker

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// FuzzClassic drives a classic breaker with a random program of calls,
// outcomes (in any order, including stale ones) and clock steps, and checks
// the state machine's invariants after every step.
func FuzzClassic(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 4, 0, 0, 2, 3})
	f.Add([]byte{0, 1, 0, 1, 0, 1, 4, 0, 0, 0, 2, 2, 2, 4, 4, 0, 3})
	f.Add([]byte{7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 5, 5, 5, 0, 0, 0, 2, 2, 2})
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) < 2 || len(program) > 1000 {
			return
		}
		quota := 1 + int(program[0]%3)
		threshold := 1 + int(program[1])%quota
		clk := clock.NewFake(time.Time{})
		rec := &transitions{}
		b, err := NewClassic(WithClock(clk), WithFailureCount(3), WithFailureRatio(0.6), WithMinRequests(5),
			WithWindow(4*time.Second), WithBuckets(4), WithOpenTimeout(2*time.Second),
			WithHalfOpenRequests(quota), WithSuccessThreshold(threshold), WithOnStateChange(rec.record))
		if err != nil {
			t.Fatal(err)
		}
		var held []Permit
		trialsInGen := map[uint64]int{}
		lastGen := b.generation
		for step, op := range program[2:] {
			before := len(rec.got)
			switch op % 8 {
			case 0, 7: // Allow
				p, err := b.Allow()
				if err != nil {
					if !errors.Is(err, ErrOpen) {
						t.Fatalf("step %d: rejection %v is not ErrOpen", step, err)
					}
					if b.state == StateClosed {
						t.Fatalf("step %d: closed breaker rejected", step)
					}
					break
				}
				if b.state == StateOpen {
					t.Fatalf("step %d: open breaker admitted a call", step)
				}
				if p.Generation() != b.generation {
					t.Fatalf("step %d: permit of generation %d issued in %d", step, p.Generation(), b.generation)
				}
				if b.state == StateHalfOpen {
					trialsInGen[p.Generation()]++
					if trialsInGen[p.Generation()] > quota {
						t.Fatalf("step %d: %d trials in one half-open round, quota %d", step, trialsInGen[p.Generation()], quota)
					}
				}
				held = append(held, p)
			case 1, 2, 5, 6: // report the oldest (1, 2) or newest (5, 6) held permit
				if len(held) == 0 {
					break
				}
				i := 0
				if op%8 >= 5 {
					i = len(held) - 1
				}
				p := held[i]
				held = append(held[:i], held[i+1:]...)
				stale := p.Generation() != b.generation
				state, gen := b.state, b.generation
				p.Done(op%8 == 1 || op%8 == 5)
				if stale && (b.state != state || b.generation != gen || len(rec.got) != before) {
					t.Fatalf("step %d: a stale outcome (generation %d) changed the breaker", step, p.Generation())
				}
			case 3: // a small clock step
				clk.Advance(500 * time.Millisecond)
				b.State()
			case 4: // past the open timeout
				clk.Advance(2 * time.Second)
				b.State()
			}
			if b.generation < lastGen {
				t.Fatalf("step %d: generation went back from %d to %d", step, lastGen, b.generation)
			}
			if grew := len(rec.got) - before; grew > 0 && b.generation-lastGen < uint64(grew) {
				t.Fatalf("step %d: %d transitions but the generation rose by %d", step, grew, b.generation-lastGen)
			}
			lastGen = b.generation
			if b.state == StateClosed && b.consecutiveFailures >= 3 {
				t.Fatalf("step %d: closed with %d consecutive failures", step, b.consecutiveFailures)
			}
			if State(b.hint.Load()) != b.state {
				t.Fatalf("step %d: hint %v disagrees with state %v", step, State(b.hint.Load()), b.state)
			}
		}
		validSequence(t, rec.list(), classicMoves)
	})
}

// FuzzSRE drives an SRE breaker with a random program and checks that its
// drop probability always follows the formula over its window's totals,
// stays below 1, and agrees with its state.
func FuzzSRE(f *testing.F) {
	f.Add([]byte{1, 1, 1, 1, 1, 2, 2, 0, 0, 3, 0, 0, 0})
	f.Add([]byte{2, 2, 2, 2, 2, 2, 2, 2, 4, 0, 0, 0, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, program []byte) {
		clk := clock.NewFake(time.Time{})
		rec := &transitions{}
		var r float64
		b, err := NewSRE(WithClock(clk), WithK(1.5), WithMinRequests(3), WithWindow(time.Second),
			WithBuckets(4), WithRand(func() float64 { return r }), WithOnStateChange(rec.record))
		if err != nil {
			t.Fatal(err)
		}
		var held []Permit
		if len(program) > 1000 {
			return
		}
		for step, op := range program {
			r = float64(op>>4) / 16 // the high bits choose the random value
			switch op % 5 {
			case 0:
				if p, err := b.Allow(); err == nil {
					held = append(held, p)
				} else if !errors.Is(err, ErrOpen) {
					t.Fatalf("step %d: rejection %v is not ErrOpen", step, err)
				}
			case 1, 2:
				if len(held) > 0 {
					held[0].Done(op%5 == 1)
					held = held[1:]
				}
			case 3:
				clk.Advance(300 * time.Millisecond)
			case 4:
				clk.Advance(time.Second)
			}
			p := b.DropProbability()
			requests, accepts := b.counts.Total(clk.Since(b.clock.base))
			want := 0.0
			if requests >= 3 {
				want = formula(1.5, int(requests), int(accepts))
			}
			if p != want || p < 0 || p >= 1 {
				t.Fatalf("step %d: p = %v with %d requests, %d accepts; want %v", step, p, requests, accepts, want)
			}
			if (p > 0) != (b.State() == StateHalfOpen) {
				t.Fatalf("step %d: p = %v but state %v", step, p, b.State())
			}
		}
		validSequence(t, rec.list(), sreMoves)
	})
}
