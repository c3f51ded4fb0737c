package ratelimit

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// hammer calls call from goroutines goroutines, calls times each, all at
// once, and returns how many calls returned nil. Any error other than
// ErrLimited fails the test.
func hammer(t *testing.T, goroutines, calls int, call func(g, i int) error) int64 {
	t.Helper()
	var admitted, failed atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-ready
			for i := range calls {
				switch err := call(g, i); {
				case err == nil:
					admitted.Add(1)
				case !errors.Is(err, ErrLimited):
					failed.Add(1)
				}
			}
		})
	}
	close(ready)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d calls failed with an error other than ErrLimited", n)
	}
	return admitted.Load()
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConstructorArguments(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	sw := func() (*SlidingWindow, error) { return NewSlidingWindow(1, time.Second, WithClock(fake)) }
	tests := []struct {
		name    string
		build   func() error
		wantErr string // "" means success
	}{
		{"sliding ok", func() error { _, err := NewSlidingWindow(10, time.Second, WithBuckets(4), WithClock(fake)); return err }, ""},
		{"sliding limit 0 ok", func() error { _, err := NewSlidingWindow(0, time.Second); return err }, ""},
		{"sliding negative limit", func() error { _, err := NewSlidingWindow(-1, time.Second); return err }, "ratelimit: NewSlidingWindow: limit must be ≥ 0, got -1"},
		{"sliding zero per", func() error { _, err := NewSlidingWindow(1, 0); return err }, "ratelimit: NewSlidingWindow: per must be > 0, got 0s"},
		{"sliding zero buckets", func() error { _, err := NewSlidingWindow(1, time.Second, WithBuckets(0)); return err }, "ratelimit: WithBuckets: must be in [1, 65536], got 0"},
		{"sliding too many buckets", func() error { _, err := NewSlidingWindow(1, time.Second, WithBuckets(MaxBuckets+1)); return err }, "ratelimit: WithBuckets: must be in [1, 65536], got 65537"},
		{"sliding max buckets ok", func() error { _, err := NewSlidingWindow(1, time.Second, WithBuckets(MaxBuckets)); return err }, ""},
		{"sliding refuses WithMaxWait", func() error { _, err := NewSlidingWindow(1, time.Second, WithMaxWait(time.Second)); return err }, "ratelimit: WithMaxWait: not an option of NewSlidingWindow"},
		{"sliding skips nil option", func() error { _, err := NewSlidingWindow(1, time.Second, nil); return err }, ""},
		{"first invalid option wins", func() error { _, err := NewSlidingWindow(1, time.Second, WithBuckets(-3), WithBuckets(0)); return err }, "got -3"},
		{"New refuses like NewSlidingWindow", func() error { _, err := New(1, -time.Second); return err }, "ratelimit: NewSlidingWindow: per must be > 0, got -1s"},
		{"fixed ok", func() error { _, err := NewFixedWindow(5, time.Minute, WithClock(nil)); return err }, ""},
		{"fixed negative limit", func() error { _, err := NewFixedWindow(-5, time.Minute); return err }, "ratelimit: NewFixedWindow: limit must be ≥ 0, got -5"},
		{"fixed refuses WithBuckets", func() error { _, err := NewFixedWindow(5, time.Minute, WithBuckets(3)); return err }, "ratelimit: WithBuckets: not an option of NewFixedWindow"},
		{"token ok", func() error { _, err := NewTokenBucket(5, time.Second, 0); return err }, ""},
		{"token negative burst", func() error { _, err := NewTokenBucket(5, time.Second, -1); return err }, "ratelimit: NewTokenBucket: burst must be ≥ 0, got -1"},
		{"token negative per", func() error { _, err := NewTokenBucket(5, -time.Second, 1); return err }, "ratelimit: NewTokenBucket: per must be > 0, got -1s"},
		{"token refuses WithTTL", func() error { _, err := NewTokenBucket(5, time.Second, 1, WithTTL(time.Second)); return err }, "ratelimit: WithTTL: not an option of NewTokenBucket"},
		{"leaky ok", func() error { _, err := NewLeakyBucket(5, time.Second, WithMaxWait(time.Second)); return err }, ""},
		{"leaky negative max wait", func() error { _, err := NewLeakyBucket(5, time.Second, WithMaxWait(-1)); return err }, "ratelimit: WithMaxWait: must be ≥ 0, got -1ns"},
		{"leaky refuses WithMaxKeys", func() error { _, err := NewLeakyBucket(5, time.Second, WithMaxKeys(3)); return err }, "ratelimit: WithMaxKeys: not an option of NewLeakyBucket"},
		{"keyed ok", func() error { _, err := NewKeyed(sw, WithMaxKeys(1), WithTTL(time.Hour), WithClock(fake)); return err }, ""},
		{"keyed zero max keys", func() error { _, err := NewKeyed(sw, WithMaxKeys(0)); return err }, "ratelimit: WithMaxKeys: must be ≥ 1, got 0"},
		{"keyed zero TTL", func() error { _, err := NewKeyed(sw, WithTTL(0)); return err }, "ratelimit: WithTTL: must be > 0, got 0s"},
		{"keyed refuses WithBuckets", func() error { _, err := NewKeyed(sw, WithBuckets(2)); return err }, "ratelimit: WithBuckets: not an option of NewKeyed"},
		{"keyed nil factory", func() error { _, err := NewKeyed[Limiter](nil); return err }, "ratelimit: NewKeyed: newLimiter is nil"},
		{"keyed factory fails", func() error {
			_, err := NewKeyed(func() (*FixedWindow, error) { return NewFixedWindow(-1, time.Second) })
			return err
		}, "ratelimit: NewKeyed: newLimiter: ratelimit: NewFixedWindow: limit must be ≥ 0, got -1"},
		{"keyed factory returns nil", func() error {
			_, err := NewKeyed(func() (Limiter, error) { return nil, nil })
			return err
		}, "ratelimit: NewKeyed: newLimiter: newLimiter returned nil"},
		{"keyed foreign limiter needs TTL", func() error {
			_, err := NewKeyed(func() (Limiter, error) { return foreignLimiter{}, nil })
			return err
		}, "ratelimit: WithTTL: required by NewKeyed for a limiter of type ratelimit.foreignLimiter"},
		{"keyed foreign limiter with TTL", func() error {
			_, err := NewKeyed(func() (Limiter, error) { return foreignLimiter{}, nil }, WithTTL(time.Minute))
			return err
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

type foreignLimiter struct{}

func (foreignLimiter) Allow() error       { return nil }
func (foreignLimiter) AllowN(n int) error { return nil }

func TestNewReturnsSlidingWindow(t *testing.T) {
	l, err := New(3, time.Hour, WithBuckets(4))
	mustNoErr(t, err)
	sw, ok := l.(*SlidingWindow)
	if !ok {
		t.Fatalf("New returned %T, want *SlidingWindow", l)
	}
	if got, want := sw.win.Len(), 5; got != want {
		t.Fatalf("window has %d buckets, want n+1 = %d", got, want)
	}
}

// limiters builds one of each limiter on c, all with limit (or burst) 'limit'
// per second, for the tests that treat them alike.
func limiters(t *testing.T, c clock.Clock, limit int) map[string]Limiter {
	t.Helper()
	fw, err := NewFixedWindow(limit, time.Second, WithClock(c))
	mustNoErr(t, err)
	sw, err := NewSlidingWindow(limit, time.Second, WithClock(c))
	mustNoErr(t, err)
	tb, err := NewTokenBucket(limit, time.Second, limit, WithClock(c))
	mustNoErr(t, err)
	lb, err := NewLeakyBucket(limit, time.Second, WithClock(c))
	mustNoErr(t, err)
	return map[string]Limiter{"fixed": fw, "sliding": sw, "token": tb, "leaky": lb}
}

// TestLimiterContract checks what the Limiter interface promises every
// implementation: n ≤ 0 is admitted and consumes nothing, n above the limit
// is rejected and consumes nothing, and a rejection is ErrLimited.
func TestLimiterContract(t *testing.T) {
	for name, l := range limiters(t, clock.NewFake(time.Time{}), 4) {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{0, -1, -1 << 62} {
				if err := l.AllowN(n); err != nil {
					t.Fatalf("AllowN(%d) = %v, want nil", n, err)
				}
			}
			for _, n := range []int{5, 1 << 62} {
				if err := l.AllowN(n); !errors.Is(err, ErrLimited) {
					t.Fatalf("AllowN(%d) = %v, want ErrLimited", n, err)
				}
			}
			// Nothing was consumed: the first request still passes.
			if err := l.Allow(); err != nil {
				t.Fatalf("Allow after no-op calls = %v, want nil", err)
			}
		})
	}
}

// TestLimitZeroAdmitsNothing: a limit of 0 is a closed door (a token bucket
// with burst 0 likewise).
func TestLimitZeroAdmitsNothing(t *testing.T) {
	c := clock.NewFake(time.Time{})
	for name, l := range limiters(t, c, 0) {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				if err := l.Allow(); !errors.Is(err, ErrLimited) {
					t.Fatalf("Allow = %v, want ErrLimited", err)
				}
				c.Advance(time.Hour)
			}
			if err := l.AllowN(0); err != nil {
				t.Fatalf("AllowN(0) = %v, want nil", err)
			}
		})
	}
}

// TestHammerFrozenClock hammers every limiter from many goroutines with the
// clock frozen: exactly the limit (or burst) passes, no more, no less.
func TestHammerFrozenClock(t *testing.T) {
	const goroutines, calls, limit = 16, 500, 1000
	c := clock.NewFake(time.Time{})
	want := map[string]int64{"fixed": limit, "sliding": limit, "token": limit, "leaky": 1}
	for name, l := range limiters(t, c, limit) {
		t.Run(name, func(t *testing.T) {
			got := hammer(t, goroutines, calls, func(int, int) error { return l.Allow() })
			if got != want[name] {
				t.Fatalf("admitted %d, want exactly %d", got, want[name])
			}
		})
	}
	t.Run("leaky reserve", func(t *testing.T) {
		// I = 1ms; a max wait of 999 ms queues the first slot and 999 more.
		l, err := NewLeakyBucket(limit, time.Second, WithClock(c), WithMaxWait(999*time.Millisecond))
		mustNoErr(t, err)
		var maxWait atomic.Int64
		got := hammer(t, goroutines, calls, func(int, int) error {
			wait, err := l.Reserve()
			for w := maxWait.Load(); int64(wait) > w && !maxWait.CompareAndSwap(w, int64(wait)); w = maxWait.Load() {
			}
			return err
		})
		if got != limit {
			t.Fatalf("reserved %d, want exactly %d", got, limit)
		}
		if got := time.Duration(maxWait.Load()); got != 999*time.Millisecond {
			t.Fatalf("longest wait %v, want 999ms", got)
		}
	})
	t.Run("sliding AllowN", func(t *testing.T) {
		l, err := NewSlidingWindow(limit, time.Second, WithClock(c))
		mustNoErr(t, err)
		got := hammer(t, goroutines, calls, func(int, int) error { return l.AllowN(2) })
		if got*2 != limit {
			t.Fatalf("admitted %d units, want exactly %d", got*2, limit)
		}
	})
}

// TestHammerAcrossWindows hammers in phases, moving the clock between them by
// just enough for each limiter to forget: every phase admits exactly the
// limit again.
func TestHammerAcrossWindows(t *testing.T) {
	const goroutines, calls, limit, phases = 8, 200, 300, 4
	c := clock.NewFake(time.Time{})
	for name, l := range limiters(t, c, limit) {
		if name == "leaky" {
			continue // a pacer admits one at a time; covered above
		}
		t.Run(name, func(t *testing.T) {
			for phase := range phases {
				got := hammer(t, goroutines, calls, func(int, int) error { return l.Allow() })
				if got != limit {
					t.Fatalf("phase %d: admitted %d, want exactly %d", phase, got, limit)
				}
				c.Advance(l.(forgetter).forgetAfter())
			}
		})
	}
}

// TestAllowDoesNotAllocate pins 0 allocations on the admit and the reject
// paths of every limiter, on the fake and the real clock.
func TestAllowDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		name  string
		clock clock.Clock
	}{{"fake", clock.NewFake(time.Time{})}, {"real", nil}} {
		for name, l := range limiters(t, c.clock, 50) {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				// 100 runs against a limit of 50: both paths are taken.
				if allocs := testing.AllocsPerRun(100, func() { _ = l.Allow() }); allocs != 0 {
					t.Fatalf("%v allocs per Allow, want 0", allocs)
				}
			})
		}
	}
	t.Run("leaky reserve", func(t *testing.T) {
		l, err := NewLeakyBucket(50, time.Second, WithMaxWait(time.Second), WithClock(clock.NewFake(time.Time{})))
		mustNoErr(t, err)
		if allocs := testing.AllocsPerRun(100, func() { _, _ = l.Reserve() }); allocs != 0 {
			t.Fatalf("%v allocs per Reserve, want 0", allocs)
		}
	})
}

// TestHammerMovingClock hammers every limiter while one goroutine moves the
// clock, so that callers race with stale readings. Whatever the interleaving,
// a run of duration D can admit at most what D allows: limit per started
// period for the windows, burst plus D·rate for the token bucket, and one per
// interval for the leaky bucket.
func TestHammerMovingClock(t *testing.T) {
	const goroutines, calls, limit = 8, 4000, 50
	const step, every = 7 * time.Millisecond, 10 // goroutine 0 moves the clock
	c := clock.NewFake(time.Time{})
	ls := limiters(t, c, limit)
	start := c.Now()
	admitted := map[string]*atomic.Int64{}
	for name := range ls {
		admitted[name] = new(atomic.Int64)
	}
	hammer(t, goroutines, calls, func(g, i int) error {
		if g == 0 && i%every == 0 {
			c.Advance(step)
		}
		for name, l := range ls {
			if l.Allow() == nil {
				admitted[name].Add(1)
			}
		}
		return nil
	})
	d := c.Since(start)
	periods := int64(d/time.Second) + 1
	bounds := map[string]int64{
		"fixed":   limit * periods,
		"sliding": limit * periods,
		"token":   limit + int64(d)*limit/int64(time.Second),
		"leaky":   int64(d/(time.Second/limit)) + 1,
	}
	for name, n := range admitted {
		if got := n.Load(); got > bounds[name] || got == 0 {
			t.Errorf("%s admitted %d over %v, want 1…%d", name, got, d, bounds[name])
		}
	}
}
