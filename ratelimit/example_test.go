package ratelimit_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// The default limiter is a sliding window: here, 3 requests per minute.
func ExampleNew() {
	l, err := ratelimit.New(3, time.Minute)
	if err != nil {
		panic(err)
	}
	for i := range 4 {
		if err := l.Allow(); errors.Is(err, ratelimit.ErrLimited) {
			fmt.Println(i, "limited: degrade")
			continue
		}
		fmt.Println(i, "served")
	}
	// Output:
	// 0 served
	// 1 served
	// 2 served
	// 3 limited: degrade
}

// B13's per-user frequency limit: one request per 5 s per user, for at most
// 10000 users at a time.
func ExampleKeyed() {
	perUser, err := ratelimit.NewKeyed(func() (*ratelimit.SlidingWindow, error) {
		return ratelimit.NewSlidingWindow(1, 5*time.Second)
	}, ratelimit.WithMaxKeys(10000))
	if err != nil {
		panic(err)
	}
	for _, user := range []string{"alice", "alice", "bob"} {
		if err := perUser.Allow(user); err != nil {
			fmt.Println(user, "rejected:", err)
			continue
		}
		fmt.Println(user, "served")
	}
	// Output:
	// alice served
	// alice rejected: ratelimit: limited
	// bob served
}

// A sliding window never lets more than the limit through in any interval of
// the period, even across what would be a fixed window's boundary.
func ExampleSlidingWindow() {
	c := clock.NewFake(time.Time{})
	l, _ := ratelimit.NewSlidingWindow(2, time.Second, ratelimit.WithBuckets(10), ratelimit.WithClock(c))
	c.Advance(900 * time.Millisecond)
	fmt.Println("at 0.9s:", l.AllowN(2))
	c.Advance(200 * time.Millisecond)
	fmt.Println("at 1.1s:", l.Allow())
	c.Advance(900 * time.Millisecond)
	fmt.Println("at 2.0s:", l.AllowN(2))
	// Output:
	// at 0.9s: <nil>
	// at 1.1s: ratelimit: limited
	// at 2.0s: <nil>
}

// A fixed window lets twice its limit through around a boundary: the flaw
// B1 names.
func ExampleFixedWindow() {
	c := clock.NewFake(time.Time{})
	l, _ := ratelimit.NewFixedWindow(2, time.Second, ratelimit.WithClock(c))
	c.Advance(999 * time.Millisecond)
	fmt.Println("at 0.999s:", l.AllowN(2))
	c.Advance(time.Millisecond)
	fmt.Println("at 1.000s:", l.AllowN(2))
	// Output:
	// at 0.999s: <nil>
	// at 1.000s: <nil>
}

// A token bucket starts full: its burst passes at once, then requests pass
// at the refill rate.
func ExampleTokenBucket() {
	c := clock.NewFake(time.Time{})
	l, _ := ratelimit.NewTokenBucket(10, time.Second, 3, ratelimit.WithClock(c)) // 10/s, burst 3
	for range 4 {
		fmt.Print(l.Allow() == nil, " ")
	}
	c.Advance(100 * time.Millisecond) // one token
	fmt.Println(l.Allow() == nil, l.Allow() == nil)
	// Output: true true true false true false
}

// A leaky bucket paces requests: each caller learns how long to wait for its
// slot, up to the max wait.
func ExampleLeakyBucket_Reserve() {
	c := clock.NewFake(time.Time{})
	l, _ := ratelimit.NewLeakyBucket(10, time.Second, // one every 100 ms
		ratelimit.WithMaxWait(250*time.Millisecond), ratelimit.WithClock(c))
	for range 4 {
		wait, err := l.Reserve()
		fmt.Println(wait, err)
	}
	// Output:
	// 0s <nil>
	// 100ms <nil>
	// 200ms <nil>
	// 0s ratelimit: limited
}
