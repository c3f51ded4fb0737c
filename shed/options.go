package shed

import (
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/fraction"
)

// Levels is the number of service levels. Valid levels are 1..Levels;
// level 1 is the most important.
const Levels = 4

// Defaults used by [New] when the matching option is not given.
const (
	DefaultQueue   = 128                    // waiting requests; see WithQueue
	DefaultMaxWait = 500 * time.Millisecond // see WithMaxWait (SEEDS.md B12)
)

// DefaultShares are the shares of the limit that levels 1..4 may use when
// [WithShares] is not given.
var DefaultShares = [Levels]float64{1.0, 0.9, 0.75, 0.6}

// Option configures an [Admitter].
type Option func(*options) error

type options struct {
	shares  [Levels]float64
	queue   int
	maxWait time.Duration
	clock   clock.Clock
}

func defaultOptions() options {
	return options{shares: DefaultShares, queue: DefaultQueue, maxWait: DefaultMaxWait}
}

// WithShares sets the share of the limit that each level may use;
// shares[0] is level 1. Every share must be in (0, 1] (at least 10⁻⁹ after
// rounding) and the shares must not increase from level 1 to level 4, so that
// a less important level is never admitted when a more important one would
// be refused. Default [DefaultShares].
func WithShares(shares [Levels]float64) Option {
	return func(o *options) error {
		for i, s := range shares {
			if math.IsNaN(s) || s <= 0 || s > 1 || fraction.FromFloat(s) < 1 {
				return fmt.Errorf("shed: WithShares: level %d share must be in (0, 1], got %v", i+1, s)
			}
			if i > 0 && s > shares[i-1] {
				return fmt.Errorf("shed: WithShares: level %d share %v exceeds level %d share %v; shares must not increase with the level",
					i+1, s, i, shares[i-1])
			}
		}
		o.shares = shares
		return nil
	}
}

// WithQueue sets how many requests may wait for a slot at once, over all
// levels. 0 disables waiting: a request that cannot be admitted at once gets
// [ErrShed]. Default [DefaultQueue].
func WithQueue(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("shed: WithQueue: must be ≥ 0, got %d", n)
		}
		o.queue = n
		return nil
	}
}

// WithMaxWait sets the longest a request waits in the queue before it gets
// [ErrQueueTimeout]. It must be > 0; use WithQueue(0) to disable waiting.
// Default [DefaultMaxWait].
func WithMaxWait(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("shed: WithMaxWait: must be > 0, got %v (use WithQueue(0) to disable waiting)", d)
		}
		o.maxWait = d
		return nil
	}
}

// WithClock sets the clock that times the queue wait and judges context
// deadlines. nil means the real clock, which is also the default.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		o.clock = c
		return nil
	}
}
