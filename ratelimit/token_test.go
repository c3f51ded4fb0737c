package ratelimit

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func TestTokenBucket(t *testing.T) {
	const ms = time.Millisecond
	const year = 365 * 24 * time.Hour
	tests := []struct {
		name         string
		limit, burst int
		per          time.Duration
		steps        []step
	}{
		{"starts full, burst passes at once", 10, 5, time.Second, []step{{0, 5, true}, {0, 1, false}}},
		{"refill: 10/s earns one token per 100ms", 10, 5, time.Second, []step{
			{0, 5, true}, {99 * ms, 1, false}, {1 * ms, 1, true}, {0, 1, false}, {300 * ms, 3, true}, {0, 1, false},
		}},
		{"half tokens add up", 10, 5, time.Second, []step{{0, 5, true}, {50 * ms, 1, false}, {50 * ms, 1, true}}},
		{"fractional rate: 1 per 3s", 1, 1, 3 * time.Second, []step{
			{0, 1, true}, {2999 * ms, 1, false}, {1 * ms, 1, true}, {1500 * ms, 1, false}, {1500 * ms, 1, true},
		}},
		{"fractional rate: 2 per 3s, burst 2", 2, 2, 3 * time.Second, []step{
			{0, 2, true}, {1500 * ms, 1, true}, {0, 1, false}, {3 * time.Second, 2, true},
		}},
		{"refill stops at burst", 10, 5, time.Second, []step{{0, 5, true}, {10 * time.Second, 5, true}, {0, 1, false}}},
		{"long idle: no overflow", 1000, 3, time.Second, []step{{0, 3, true}, {200 * year, 3, true}, {0, 1, false}}},
		{"clock does not move: no refill", 10, 2, time.Second, []step{{0, 2, true}, {0, 1, false}, {0, 1, false}, {0, 1, false}}},
		{"AllowN over burst never passes, consumes nothing", 10, 5, time.Second, []step{{0, 6, false}, {time.Hour, 6, false}, {0, 5, true}}},
		{"a rejected AllowN consumes nothing", 10, 5, time.Second, []step{{0, 3, true}, {0, 3, false}, {0, 2, true}}},
		{"burst 0 admits nothing", 10, 0, time.Second, []step{{0, 1, false}, {time.Hour, 1, false}, {0, 0, true}}},
		{"rate 0: the burst, then nothing", 0, 3, time.Second, []step{{0, 3, true}, {0, 1, false}, {100 * year, 1, false}}},
		{"high rate, small burst", 1_000_000, 1, time.Second, []step{{0, 1, true}, {0, 1, false}, {1 * time.Microsecond, 1, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			l, err := NewTokenBucket(tt.limit, tt.per, tt.burst, WithClock(c))
			mustNoErr(t, err)
			runSteps(t, c, l, tt.steps)
		})
	}
}

// TestTokenBucketClockStepsBack: a clock stepped back refills nothing, and
// once it is past the latest time seen again, only the time since then
// counts.
func TestTokenBucketClockStepsBack(t *testing.T) {
	c := clock.NewFake(time.Time{})
	start := c.Now()
	l, err := NewTokenBucket(10, time.Second, 5, WithClock(c))
	mustNoErr(t, err)
	c.Advance(time.Second)
	runSteps(t, c, l, []step{{0, 5, true}})
	c.Set(start.Add(-time.Hour))
	runSteps(t, c, l, []step{{0, 1, false}})
	c.Set(start.Add(time.Second + 200*time.Millisecond))
	runSteps(t, c, l, []step{{0, 2, true}, {0, 1, false}})
}

// TestTokenBucketSteadyRate: over a long run of small steps the bucket
// admits the rate, with no drift from float rounding.
func TestTokenBucketSteadyRate(t *testing.T) {
	c := clock.NewFake(time.Time{})
	l, err := NewTokenBucket(7, time.Second, 1, WithClock(c))
	mustNoErr(t, err)
	admitted := 0
	for range 70_000 { // 70 s in steps of 1 ms
		c.Advance(time.Millisecond)
		if err := l.Allow(); err == nil {
			admitted++
		} else if !errors.Is(err, ErrLimited) {
			t.Fatal(err)
		}
	}
	// Starting full, 1 + 7·70 tokens are earned; the last may be a hair short.
	if admitted < 7*70 || admitted > 7*70+1 {
		t.Fatalf("admitted %d in 70 s at 7/s, want %d or %d", admitted, 7*70, 7*70+1)
	}
}

func TestTokenBucketForgetAfter(t *testing.T) {
	for _, tt := range []struct {
		name         string
		limit, burst int
		per          time.Duration
		want         time.Duration
	}{
		{"refill time", 10, 5, time.Second, 500 * time.Millisecond},
		{"rounded up", 3, 1, time.Second, 333333334 * time.Nanosecond},
		{"rate 0 never forgets", 0, 5, time.Second, maxDuration},
		{"burst 0", 10, 0, time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewTokenBucket(tt.limit, tt.per, tt.burst)
			mustNoErr(t, err)
			if got := l.forgetAfter(); got != tt.want {
				t.Fatalf("forgetAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
