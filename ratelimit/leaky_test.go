package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func TestLeakyBucketAllowSpacing(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		steps []step // 10 per second: I = 100 ms
	}{
		{"one at a time, I apart", []step{{0, 1, true}, {0, 1, false}, {99 * ms, 1, false}, {1 * ms, 1, true}, {100 * ms, 1, true}}},
		{"AllowN holds the bucket for n·I", []step{{0, 3, true}, {299 * ms, 1, false}, {1 * ms, 1, true}}},
		{"idle time is not saved up", []step{{time.Hour, 1, true}, {0, 1, false}}},
		{"the whole limit at once, then a full period", []step{{0, 10, true}, {999 * ms, 1, false}, {1 * ms, 10, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			// Allow ignores the max wait: it admits only what needs no wait.
			l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Hour))
			mustNoErr(t, err)
			runSteps(t, c, l, tt.steps)
		})
	}
}

func TestLeakyBucketReserve(t *testing.T) {
	const ms = time.Millisecond
	type res struct {
		advance time.Duration
		n       int
		wait    time.Duration
		ok      bool
	}
	tests := []struct {
		name    string
		maxWait time.Duration
		calls   []res // 10 per second: I = 100 ms
	}{
		{"queue up to the max wait, then reject", 250 * ms, []res{
			{0, 1, 0, true}, {0, 1, 100 * ms, true}, {0, 1, 200 * ms, true}, {0, 1, 0, false},
			{100 * ms, 1, 200 * ms, true}, // a rejection reserved nothing: next is still 300 ms
		}},
		{"waits are I apart", time.Second, []res{
			{0, 1, 0, true}, {10 * ms, 1, 90 * ms, true}, {10 * ms, 1, 180 * ms, true}, {500 * ms, 1, 0, true},
		}},
		{"ReserveN takes n slots", time.Second, []res{{0, 3, 0, true}, {0, 2, 300 * ms, true}, {0, 1, 500 * ms, true}}},
		{"exactly the max wait is allowed", 100 * ms, []res{{0, 1, 0, true}, {0, 1, 100 * ms, true}, {0, 1, 0, false}}},
		{"default max wait 0: no queue", 0, []res{{0, 1, 0, true}, {0, 1, 0, false}, {100 * ms, 1, 0, true}}},
		{"n over the limit never passes", time.Hour, []res{{0, 11, 0, false}, {0, 10, 0, true}}},
		{"n ≤ 0 reserves nothing", 0, []res{{0, 0, 0, true}, {0, -4, 0, true}, {0, 1, 0, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			var opts []Option
			if tt.maxWait > 0 {
				opts = append(opts, WithMaxWait(tt.maxWait))
			}
			l, err := NewLeakyBucket(10, time.Second, append(opts, WithClock(c))...)
			mustNoErr(t, err)
			for i, r := range tt.calls {
				c.Advance(r.advance)
				wait, err := l.ReserveN(r.n)
				if err != nil && !errors.Is(err, ErrLimited) {
					t.Fatalf("call %d: %v", i, err)
				}
				if ok := err == nil; ok != r.ok || wait != r.wait {
					t.Fatalf("call %d: ReserveN(%d) = (%v, %v), want (%v, ok=%v)", i, r.n, wait, err, r.wait, r.ok)
				}
			}
		})
	}
}

// TestLeakyBucketIntervalRoundsUp: per/limit is rounded up to whole
// nanoseconds, so the pace never exceeds the limit.
func TestLeakyBucketIntervalRoundsUp(t *testing.T) {
	l, err := NewLeakyBucket(3, time.Second)
	mustNoErr(t, err)
	if l.interval != 333333334 {
		t.Fatalf("interval = %v, want 333.333334ms", l.interval)
	}
	if got, want := l.forgetAfter(), 3*333333334*time.Nanosecond; got != want {
		t.Fatalf("forgetAfter = %v, want %v", got, want)
	}
	l, err = NewLeakyBucket(3, time.Second, WithMaxWait(maxDuration))
	mustNoErr(t, err)
	if got := l.forgetAfter(); got != maxDuration {
		t.Fatalf("forgetAfter with a huge max wait = %v, want it to saturate", got)
	}
}

// waitResult runs l.WaitN(ctx, n) in a goroutine and returns its result
// channel once its timer is armed (or it has returned).
func startWait(t *testing.T, c *clock.Fake, ctx context.Context, l *LeakyBucket, n, timers int) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.WaitN(ctx, n) }()
	c.BlockUntil(timers)
	return done
}

func TestLeakyBucketWait(t *testing.T) {
	c := clock.NewFake(time.Time{})
	l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
	mustNoErr(t, err)
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil { // the first goes at once, without a timer
		t.Fatalf("first Wait = %v", err)
	}
	if c.Waiters() != 0 {
		t.Fatalf("a Wait that needs no wait armed %d timers", c.Waiters())
	}
	done := startWait(t, c, ctx, l, 1, 1)
	c.Advance(99 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before its slot", err)
	default:
	}
	c.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil at its slot", err)
	}
	// The slot it waited for is used: the next goes 100 ms later.
	if wait, err := l.Reserve(); err != nil || wait != 100*time.Millisecond {
		t.Fatalf("Reserve after Wait = (%v, %v), want (100ms, nil)", wait, err)
	}
}

func TestLeakyBucketWaitRejects(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		n       int
		want    error
	}{
		{"over the max wait", 150 * time.Millisecond, 2, ErrLimited}, // would wait 200 ms
		{"default max wait never blocks", 0, 1, ErrLimited},
		{"n over the limit", time.Hour, 11, ErrLimited},
		{"n ≤ 0 passes", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			opts := []Option{WithClock(c)}
			if tt.maxWait > 0 {
				opts = append(opts, WithMaxWait(tt.maxWait))
			}
			l, err := NewLeakyBucket(10, time.Second, opts...)
			mustNoErr(t, err)
			mustNoErr(t, l.AllowN(2)) // busy for 200 ms
			if err := l.WaitN(context.Background(), tt.n); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("WaitN(%d) = %v, want %v", tt.n, err, tt.want)
			}
			if c.Waiters() != 0 {
				t.Fatal("a rejected Wait armed a timer")
			}
		})
	}
}

func TestLeakyBucketWaitCancel(t *testing.T) {
	const ms = time.Millisecond
	t.Run("cancel hands the slot back", func(t *testing.T) {
		c := clock.NewFake(time.Time{})
		l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
		mustNoErr(t, err)
		mustNoErr(t, l.Allow())
		ctx, cancel := context.WithCancel(context.Background())
		done := startWait(t, c, ctx, l, 2, 1) // slot [100, 300) ms
		c.Advance(50 * ms)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
		if c.Waiters() != 0 {
			t.Fatal("the cancelled Wait left its timer armed")
		}
		if wait, err := l.Reserve(); err != nil || wait != 50*ms {
			t.Fatalf("Reserve after the cancel = (%v, %v), want the freed slot at 100 ms: (50ms, nil)", wait, err)
		}
	})
	t.Run("a slot with requests behind it stays booked", func(t *testing.T) {
		c := clock.NewFake(time.Time{})
		l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
		mustNoErr(t, err)
		mustNoErr(t, l.Allow())
		ctx, cancel := context.WithCancel(context.Background())
		done := startWait(t, c, ctx, l, 1, 1) // slot [100, 200) ms
		if wait, err := l.Reserve(); err != nil || wait != 200*ms {
			t.Fatalf("Reserve behind the waiter = (%v, %v), want (200ms, nil)", wait, err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
		if wait, err := l.Reserve(); err != nil || wait != 300*ms {
			t.Fatalf("Reserve = (%v, %v), want (300ms, nil): the promised slot at 200 ms must keep its spacing", wait, err)
		}
	})
	t.Run("cancelled in reverse order, every slot comes back", func(t *testing.T) {
		c := clock.NewFake(time.Time{})
		l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
		mustNoErr(t, err)
		mustNoErr(t, l.Allow())
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		done1 := startWait(t, c, ctx1, l, 1, 1)
		done2 := startWait(t, c, ctx2, l, 1, 2)
		cancel2()
		if err := <-done2; !errors.Is(err, context.Canceled) {
			t.Fatalf("second Wait = %v", err)
		}
		cancel1()
		if err := <-done1; !errors.Is(err, context.Canceled) {
			t.Fatalf("first Wait = %v", err)
		}
		if wait, err := l.Reserve(); err != nil || wait != 100*ms {
			t.Fatalf("Reserve = (%v, %v), want (100ms, nil)", wait, err)
		}
	})
	t.Run("a done context reserves nothing", func(t *testing.T) {
		c := clock.NewFake(time.Time{})
		l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
		mustNoErr(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
		if err := l.Allow(); err != nil {
			t.Fatalf("Allow after a cancelled Wait = %v: the Wait reserved a slot", err)
		}
	})
}

// TestLeakyBucketHammerWait: many goroutines Wait at once on a frozen clock.
// Exactly the slots within the max wait are granted; every other caller is
// rejected at once; then moving the clock past the last slot releases every
// waiter.
func TestLeakyBucketHammerWait(t *testing.T) {
	const goroutines = 32
	c := clock.NewFake(time.Time{})
	l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
	mustNoErr(t, err)
	results := make(chan error, goroutines)
	for range goroutines {
		go func() { results <- l.Wait(context.Background()) }()
	}
	count := func(n int) (passed, limited int) {
		for range n {
			switch err := <-results; {
			case err == nil:
				passed++
			case errors.Is(err, ErrLimited):
				limited++
			default:
				t.Fatal(err)
			}
		}
		return passed, limited
	}
	// Slots at 0, 100, …, 1000 ms: the one at 0 goes with no timer, 10 wait
	// on timers, and the other 21 are rejected, all before time moves.
	passed, limited := count(goroutines - 10)
	if passed != 1 || limited != goroutines-11 {
		t.Fatalf("before time moved: passed %d, limited %d; want 1 and %d", passed, limited, goroutines-11)
	}
	c.BlockUntil(10)
	c.Advance(999 * time.Millisecond)
	if passed, _ := count(9); passed != 9 {
		t.Fatalf("at 999 ms, %d waiters passed, want 9", passed)
	}
	select {
	case err := <-results:
		t.Fatalf("the waiter for the slot at 1 s returned early: %v", err)
	default:
	}
	c.Advance(time.Millisecond)
	if passed, _ := count(1); passed != 1 {
		t.Fatal("the last waiter did not pass")
	}
}

// TestLeakyBucketClockStepsBack: a reading older than the latest one used
// counts as the latest, so a clock stepped back neither frees a slot nor
// stretches the waits.
func TestLeakyBucketClockStepsBack(t *testing.T) {
	for _, back := range []time.Duration{0, -time.Hour} {
		t.Run(fmt.Sprint("to ", back), func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			start := c.Now()
			l, err := NewLeakyBucket(10, time.Second, WithClock(c), WithMaxWait(time.Second))
			mustNoErr(t, err)
			c.Advance(500 * time.Millisecond)
			mustNoErr(t, l.Allow()) // the next slot is at 600 ms
			c.Set(start.Add(back))
			if err := l.Allow(); !errors.Is(err, ErrLimited) {
				t.Fatalf("Allow = %v, want ErrLimited", err)
			}
			if wait, err := l.Reserve(); err != nil || wait != 100*time.Millisecond {
				t.Fatalf("Reserve = (%v, %v), want (100ms, nil): counted from 500 ms", wait, err)
			}
		})
	}
}
