package fleet

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// cacheBackoff keeps a Redis that just failed out of request paths for one SyncInterval:
// after a failed operation, callers skip Redis (and work on local state) until the interval
// has passed, then one more operation tries again. So a Redis that is down, or a blackholed
// one whose every operation takes OpTimeout, costs a request path at most one failed
// operation per SyncInterval, not one per request.
type cacheBackoff struct {
	f     *Fleet
	until atomic.Int64 // fleet clock, Unix nanoseconds; Redis is skipped before it
}

// open reports whether Redis may be tried now.
func (b *cacheBackoff) open() bool {
	if b.f.Local() {
		return false
	}
	until := b.until.Load()
	return until == 0 || b.f.Clock().Now().UnixNano() >= until
}

// report passes err to Fleet.Report and, when it is a failure, closes Redis for one
// SyncInterval. redis.Nil is an answer, not a failure.
func (b *cacheBackoff) report(err error) {
	b.f.Report(err)
	if err != nil && !errors.Is(err, redis.Nil) {
		b.until.Store(b.f.Clock().Now().Add(b.f.SyncInterval()).UnixNano())
		return
	}
	if b.until.Load() != 0 {
		b.until.Store(0)
	}
}

// reset opens Redis at once (a subscriber just reconnected).
func (b *cacheBackoff) reset() { b.until.Store(0) }

// cacheOpContext returns a context for one Redis operation: bounded by the Fleet's
// OpTimeout, ended by Fleet.Close, and also ended when ctx ends.
func cacheOpContext(f *Fleet, ctx context.Context) (context.Context, context.CancelFunc) {
	opCtx, cancel := f.Context()
	if ctx == nil || ctx.Done() == nil {
		return opCtx, cancel
	}
	stop := context.AfterFunc(ctx, cancel)
	return opCtx, func() { stop(); cancel() }
}
