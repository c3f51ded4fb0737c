package ratelimit

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// step is one call in a scripted scenario: move the clock by advance, then
// AllowN(n), expecting admitted or not.
type step struct {
	advance time.Duration
	n       int
	admit   bool
}

func runSteps(t *testing.T, c *clock.Fake, l Limiter, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.Advance(s.advance)
		err := l.AllowN(s.n)
		if err != nil && !errors.Is(err, ErrLimited) {
			t.Fatalf("step %d: AllowN(%d) = %v", i, s.n, err)
		}
		if got := err == nil; got != s.admit {
			t.Fatalf("step %d (+%v, n=%d): admitted = %v, want %v", i, s.advance, s.n, got, s.admit)
		}
	}
}

func TestFixedWindow(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		steps []step // limit 3 per second
	}{
		{"limit then reject", []step{{0, 1, true}, {0, 1, true}, {0, 1, true}, {0, 1, false}}},
		{"AllowN fills the window", []step{{0, 2, true}, {0, 2, false}, {0, 1, true}, {0, 1, false}}},
		{"reset at the boundary", []step{{0, 3, true}, {999 * ms, 1, false}, {1 * ms, 3, true}, {0, 1, false}}},
		{"windows are aligned to the start, not to the first call", []step{{900 * ms, 3, true}, {100 * ms, 3, true}}},
		{"a long jump starts a fresh window", []step{{0, 3, true}, {time.Hour + 500*ms, 3, true}, {499 * ms, 1, false}, {1 * ms, 1, true}}},
		{"a rejected request consumes nothing", []step{{0, 2, true}, {0, 2, false}, {0, 1, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			l, err := NewFixedWindow(3, time.Second, WithClock(c))
			mustNoErr(t, err)
			runSteps(t, c, l, tt.steps)
		})
	}
}

// TestFixedWindowDoubleBurstAtEdge demonstrates the flaw B1 names: a client
// that spends the limit just before a boundary and again just after it gets
// 2·limit through within a millisecond. The sliding window, given the same
// traffic, keeps to the limit.
func TestFixedWindowDoubleBurstAtEdge(t *testing.T) {
	const limit = 100
	burst := func(l Limiter) (admitted int) {
		for range limit {
			if l.Allow() == nil {
				admitted++
			}
		}
		return admitted
	}
	for _, tt := range []struct {
		name string
		make func(c clock.Clock) (Limiter, error)
		want int
	}{
		{"fixed admits 2×limit", func(c clock.Clock) (Limiter, error) { return NewFixedWindow(limit, time.Second, WithClock(c)) }, 2 * limit},
		{"sliding admits limit", func(c clock.Clock) (Limiter, error) { return NewSlidingWindow(limit, time.Second, WithClock(c)) }, limit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			l, err := tt.make(c)
			mustNoErr(t, err)
			c.Advance(999 * time.Millisecond) // 1 ms before the boundary
			got := burst(l)
			c.Advance(time.Millisecond) // on the boundary
			got += burst(l)
			if got != tt.want {
				t.Fatalf("admitted %d within 1ms, want %d", got, tt.want)
			}
		})
	}
}

// TestFixedWindowClockStepsBack: a clock stepped back counts in the current
// window, which neither rewinds nor resets.
func TestFixedWindowClockStepsBack(t *testing.T) {
	c := clock.NewFake(time.Time{})
	start := c.Now()
	l, err := NewFixedWindow(2, time.Second, WithClock(c))
	mustNoErr(t, err)
	c.Advance(1500 * time.Millisecond)
	runSteps(t, c, l, []step{{0, 2, true}})
	for _, back := range []time.Time{start.Add(500 * time.Millisecond), start.Add(-time.Hour)} {
		c.Set(back)
		if err := l.Allow(); !errors.Is(err, ErrLimited) {
			t.Fatalf("at %v after a step back: Allow = %v, want ErrLimited", back.Sub(start), err)
		}
	}
	c.Set(start.Add(2 * time.Second))
	runSteps(t, c, l, []step{{0, 2, true}, {0, 1, false}})
}
