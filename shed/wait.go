package shed

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrShed means the request was refused under overload: its level's share of
// the limit was used up and it could not wait (the queue was off or full, or
// a more important request took its place in the queue).
var ErrShed = errors.New("shed: request shed")

// ErrQueueTimeout means the request got no slot in time: it waited the
// maximum queue wait, or its context ended or its deadline passed first.
// When the context was the cause, the error also matches context.Canceled or
// context.DeadlineExceeded under errors.Is.
var ErrQueueTimeout = errors.New("shed: queue wait timed out")

// ErrLevel means the level passed to Admit was outside 1..[Levels]. It is a
// programming or configuration error, not overload.
var ErrLevel = errors.New("shed: level out of range")

// Pre-built so that the rejection paths do not allocate.
var (
	errDeadline = fmt.Errorf("%w: %w", ErrQueueTimeout, context.DeadlineExceeded)
	errCanceled = fmt.Errorf("%w: %w", ErrQueueTimeout, context.Canceled)
)

// contextError returns the ErrQueueTimeout that wraps cause.
func contextError(cause error) error {
	switch cause {
	case context.Canceled:
		return errCanceled
	case context.DeadlineExceeded:
		return errDeadline
	}
	return fmt.Errorf("%w: %w", ErrQueueTimeout, cause)
}

// CheckQueueWait applies the queue-wait drop of SEEDS.md B12 to a request
// that was queued at enqueuedAt and is about to be served at now. It returns
// nil when the request should be served, and otherwise an error matching
// [ErrQueueTimeout]:
//   - ctx is done: the error also matches ctx.Err();
//   - ctx has a deadline at or before now: it also matches
//     context.DeadlineExceeded (the caller has timed out by now, even if the
//     context has not noticed yet);
//   - maxWait > 0 and the request waited maxWait or longer.
//
// maxWait ≤ 0 disables the wait limit; a now before enqueuedAt counts as no
// wait. CheckQueueWait does not allocate. A typical use, with the 500 ms of
// the source design:
//
//	if err := shed.CheckQueueWait(ctx, job.enqueued, clk.Now(), 500*time.Millisecond); err != nil {
//		dropped.Add(1)
//		return err
//	}
func CheckQueueWait(ctx context.Context, enqueuedAt, now time.Time, maxWait time.Duration) error {
	if err := contextDone(ctx, now); err != nil {
		return err
	}
	if maxWait > 0 && now.Sub(enqueuedAt) >= maxWait {
		return ErrQueueTimeout
	}
	return nil
}

// contextDone reports, as an ErrQueueTimeout, a context that is done or
// whose deadline is at or before now.
func contextDone(ctx context.Context, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return contextError(err)
	}
	if dl, ok := ctx.Deadline(); ok && !now.Before(dl) {
		return errDeadline
	}
	return nil
}
