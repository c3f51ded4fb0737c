package client

import (
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is; the errors RoundTrip returns wrap
// them together with the per-center attempt errors.
var (
	// ErrFrozen matches every error of a call made while the client is frozen, and the error
	// of the call whose probe started the freeze. The concrete value is a *FrozenError.
	ErrFrozen = errors.New("client: frozen: both centers are down")

	// ErrNetworkDown matches the error of a call whose two attempts failed without a response
	// and whose network probe failed too: the trouble is on this side, so nothing is frozen.
	ErrNetworkDown = errors.New("client: network down: both centers and the network probe failed")

	// ErrBothDown matches the error of every call whose two attempts both failed without a
	// response (connection error or timeout), whatever the probe said. Alone (without
	// ErrFrozen or ErrNetworkDown) it means no probe was configured (Config.Probe is "").
	// The concrete value is a *BothDownError.
	ErrBothDown = errors.New("client: both centers failed without a response")

	// ErrTimeout matches an attempt that got no response headers within Config.Timeout.
	// It reports Timeout() == true, like a net.Error.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string { return "client: no response headers within Config.Timeout" }

// Timeout reports true, so code that checks for net.Error-style timeouts sees one.
func (timeoutError) Timeout() bool { return true }

// FrozenError is the error of a call refused because the client is frozen: both centers
// failed and the network probe succeeded, so the gateways themselves are down. Until is when
// the freeze ends (by the Config.Clock). errors.Is(err, ErrFrozen) is true.
//
// While a freeze lasts, every refused call gets the same *FrozenError value, so refusing
// costs no allocation; treat it as read-only.
type FrozenError struct {
	Until time.Time
}

// Error says until when requests are refused.
func (e *FrozenError) Error() string {
	return "client: frozen: both centers are down; requests fail at once until " +
		e.Until.Format(time.RFC3339Nano)
}

// Is reports whether target is ErrFrozen.
func (e *FrozenError) Is(target error) bool { return target == ErrFrozen }

// AttemptError is the failure of one attempt at one center: a connection error from the base
// transport, ErrTimeout, or the caller's context error. It unwraps to that error, so
// errors.Is(err, syscall.ECONNREFUSED) or errors.Is(err, context.Canceled) see through it.
type AttemptError struct {
	Center string // the Center.Name the attempt went to
	Err    error
}

// Error names the center and the cause.
func (e *AttemptError) Error() string { return "client: center " + e.Center + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *AttemptError) Unwrap() error { return e.Err }

// BothDownError is the error of a call whose attempts at both centers failed without a
// response. Reason is the verdict: a *FrozenError (the probe reached the network: the
// gateways are down), ErrNetworkDown (the probe failed too), the caller's context error (it
// gave up while the probe ran), or nil (no probe configured).
//
// errors.Is finds ErrBothDown, Reason and both attempt errors (and what they wrap).
type BothDownError struct {
	Reason error
	Home   error // the *AttemptError at the home center
	Other  error // the *AttemptError at the other center
}

// Error gives the verdict first, then the two attempts.
func (e *BothDownError) Error() string {
	var b strings.Builder
	b.WriteString("client: both centers failed without a response")
	if e.Reason != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Reason.Error(), "client: "))
	}
	for _, a := range [2]error{e.Home, e.Other} {
		if a != nil {
			b.WriteString("; ")
			b.WriteString(strings.TrimPrefix(a.Error(), "client: "))
		}
	}
	return b.String()
}

// Is reports whether target is ErrBothDown.
func (e *BothDownError) Is(target error) bool { return target == ErrBothDown }

// Unwrap returns the non-nil errors among Reason, Home and Other.
func (e *BothDownError) Unwrap() []error {
	errs := make([]error, 0, 3)
	for _, err := range [3]error{e.Reason, e.Home, e.Other} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
