package bench

import (
	"sync/atomic"
	"testing"
	"time"

	uber "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/bulwark-go/bulwark/ratelimit"
)

// limit is the rate, per second, of the token buckets and the sliding
// window: 2^40/s (about 10^12/s) with a burst of as many, so that no run can
// drain them, while every call still does the full refill arithmetic (an
// infinite rate would take x/time/rate's shortcut and skip it).
const limit = 1 << 40

// BenchmarkTokenBucket: ratelimit.TokenBucket.Allow against
// x/time/rate's Limiter.Allow, both at 2^40/s with a burst of 2^40. Both read
// time.Now once per call, outside their lock.
func BenchmarkTokenBucket(b *testing.B) { runFamily(b, tokenBucket) }

var tokenBucket = []impl{
	{ours, func(tb testing.TB) instance {
		l, err := ratelimit.NewTokenBucket(limit, time.Second, limit)
		must(tb, err)
		return instance{op: func() bool { return l.Allow() == nil }}
	}},
	{"xtime-rate", newXTimeRate},
}

func newXTimeRate(testing.TB) instance {
	l := rate.NewLimiter(rate.Limit(limit), limit)
	return instance{op: l.Allow}
}

// leakyRate is the rate of the leaky buckets: 10^9/s, one slot a
// nanosecond, the finest pace either can be set to, so that neither ever
// has a reason to make a caller wait.
const leakyRate = 1_000_000_000

// BenchmarkLeakyBucket: ratelimit.LeakyBucket.Reserve against uber-go's
// Limiter.Take, both pacing one slot per nanosecond with no slack.
//
// Ours is called through Reserve with a max wait of 1 s rather than Allow:
// both run the same code (Allow is a reservation with a max wait of 0), but
// under parallel load a caller that read the clock just before another one
// booked the next slot is told to wait a nanosecond or two, which Allow
// turns into a rejection and Reserve into an admission with a wait, like
// Take. Take would then sleep: its clock here is the real clock for Now,
// while Sleep only counts the call instead of sleeping, so that both sides
// measure the decision, not the wait. The waits are reported as waits/op.
func BenchmarkLeakyBucket(b *testing.B) { runFamily(b, leakyBucket) }

var leakyBucket = []impl{
	{ours, func(tb testing.TB) instance {
		l, err := ratelimit.NewLeakyBucket(leakyRate, time.Second, ratelimit.WithMaxWait(time.Second))
		must(tb, err)
		waits := new(atomic.Int64)
		return instance{
			op: func() bool {
				wait, err := l.Reserve()
				if wait > 0 {
					waits.Add(1)
				}
				return err == nil
			},
			waits: waits,
		}
	}},
	{"uber-ratelimit", func(testing.TB) instance {
		c := &sleepCounter{}
		l := uber.New(leakyRate, uber.WithoutSlack, uber.WithClock(c))
		return instance{op: func() bool { l.Take(); return true }, waits: &c.sleeps}
	}},
}

// sleepCounter is uber-go/ratelimit's Clock: the real time.Now, and a Sleep
// that counts instead of sleeping.
type sleepCounter struct{ sleeps atomic.Int64 }

func (*sleepCounter) Now() time.Time { return time.Now() }

func (c *sleepCounter) Sleep(time.Duration) { c.sleeps.Add(1) }

// BenchmarkSlidingWindow: ratelimit.New, the default limiter (a sliding
// window of 10 buckets), at 2^40 per second. No in-memory sliding-window
// limiter exists among the peers, so it is compared with the fastest rate
// limiter peer, x/time/rate's token bucket, as in BenchmarkTokenBucket; the
// "proxy-" prefix says so.
func BenchmarkSlidingWindow(b *testing.B) { runFamily(b, slidingWindow) }

var slidingWindow = []impl{
	{ours, func(tb testing.TB) instance {
		l, err := ratelimit.New(limit, time.Second)
		must(tb, err)
		return instance{op: func() bool { return l.Allow() == nil }}
	}},
	{"proxy-xtime-rate", newXTimeRate},
}
