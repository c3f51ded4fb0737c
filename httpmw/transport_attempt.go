package httpmw

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// attempt is the context of one call that the dynamic timeout bounds. Its timer cancels the
// context, with ErrTimeout as the cause, unless the response headers arrive first; after that
// the context lives on, for the body, until the response body is closed or read to EOF, and
// is released then. The attempt is also the response body that the caller gets: it wraps the
// base's body, so the wrapper costs no allocation of its own.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	state  atomic.Uint32 // attemptWaiting, then attemptAnswered or attemptTimedOut, once
	timer  *time.Timer   // under the real clock: a runtime timer, no goroutine
	ctimer clock.Timer   // under another clock: watched by one goroutine until stop is closed
	stop   chan struct{}
	body   io.ReadCloser // the base's response body
}

const (
	attemptWaiting uint32 = iota
	attemptAnswered
	attemptTimedOut
)

// newAttempt returns an attempt whose context is a child of parent.
func newAttempt(parent context.Context) *attempt {
	a := &attempt{}
	a.ctx, a.cancel = context.WithCancelCause(parent)
	return a
}

// arm starts the timer: d from now on clk. Under the real clock it is a time.AfterFunc, which
// needs no goroutine until it fires; a clock.Timer has only a channel, so under any other clock
// (a test's clock.Fake) one goroutine waits on it until the headers arrive.
func (a *attempt) arm(clk clock.Clock, real bool, d time.Duration) {
	if real {
		a.timer = time.AfterFunc(d, a.fire)
		return
	}
	a.ctimer = clk.NewTimer(d)
	a.stop = make(chan struct{})
	go a.watch(a.ctimer.C(), a.stop)
}

func (a *attempt) watch(fired <-chan time.Time, stop <-chan struct{}) {
	select {
	case <-fired:
		a.fire()
	case <-stop:
	}
}

// fire cancels the attempt with ErrTimeout, unless the headers have arrived.
func (a *attempt) fire() {
	if a.state.CompareAndSwap(attemptWaiting, attemptTimedOut) {
		a.cancel(ErrTimeout)
	}
}

// answered stops the timer once the base RoundTrip has returned. It reports whether that
// happened before the timer fired; if not, the context is cancelled (or being cancelled) and
// a response, if any, is lost. Call it once.
func (a *attempt) answered() bool {
	won := a.state.CompareAndSwap(attemptWaiting, attemptAnswered)
	if a.timer != nil {
		a.timer.Stop()
	} else {
		a.ctimer.Stop()
		close(a.stop)
	}
	return won
}

// release ends the attempt's context. It may be called any number of times.
func (a *attempt) release() { a.cancel(nil) }

// wrap returns the body to hand to the caller, which releases the attempt when it is closed or
// read to EOF. A response without a body releases it at once. A body that is also an io.Writer
// (the connection of a 101 Switching Protocols response) keeps its Write.
func (a *attempt) wrap(body io.ReadCloser) io.ReadCloser {
	if body == nil || body == http.NoBody {
		a.release()
		return body
	}
	a.body = body
	if _, ok := body.(io.Writer); ok {
		return readWriteBody{a}
	}
	return a
}

// Read reads the base's body and releases the attempt at EOF.
func (a *attempt) Read(p []byte) (int, error) {
	n, err := a.body.Read(p)
	if err == io.EOF {
		a.release()
	}
	return n, err
}

// Close closes the base's body and releases the attempt.
func (a *attempt) Close() error {
	err := a.body.Close()
	a.release()
	return err
}

// readWriteBody is the body of a 101 Switching Protocols response: the upgraded connection.
type readWriteBody struct{ *attempt }

func (b readWriteBody) Write(p []byte) (int, error) { return b.body.(io.Writer).Write(p) }
