package forward

import (
	"context"
	"errors"
	"net"
)

// ErrorKind says how far a failed attempt got, which is what the caller's retry decision needs.
type ErrorKind int

const (
	// KindOther: the request may have reached the upstream (it was sent, or partly sent, and then
	// the connection failed: reset, EOF before headers, a bad response). It is not safe to repeat
	// a non-idempotent request after this. It is the zero value, so an unclassified error is
	// treated conservatively.
	KindOther ErrorKind = iota
	// KindConnect: the request certainly did not reach the upstream. The connection could not be
	// made: the dial was refused or timed out, the name did not resolve, or the TLS handshake
	// failed. Repeating the request elsewhere, whatever its method, cannot duplicate it.
	KindConnect
	// KindTimeout: no response headers arrived within Request.Timeout (or the incoming request's
	// own deadline passed). The request may have reached the upstream.
	KindTimeout
	// KindCanceled: the incoming request's context was canceled (the client went away). Nobody
	// is waiting for an answer any more.
	KindCanceled
)

// String returns "other", "connect", "timeout" or "canceled".
func (k ErrorKind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	default:
		return "other"
	}
}

var (
	// ErrConnect matches (errors.Is) an *Error of KindConnect.
	ErrConnect = errors.New("forward: could not connect; the request was not sent")
	// ErrTimeout matches an *Error of KindTimeout.
	ErrTimeout = errors.New("forward: no response headers within the timeout")
	// ErrCanceled matches an *Error of KindCanceled.
	ErrCanceled = errors.New("forward: the incoming request was canceled")

	// ErrBodyTooLarge is returned by NewBody when the incoming body is longer than its maxBytes,
	// and is in the chain of a RoundTrip error when a streamed body turned out to be longer. The
	// gateway answers 413.
	ErrBodyTooLarge = errors.New("forward: request body too large")
	// ErrNotReplayable is in the chain of a RoundTrip error when the Body is not replayable and
	// an earlier attempt already consumed part of it. Nothing was sent.
	ErrNotReplayable = errors.New("forward: request body already sent and not replayable")

	// ErrUpstreamBody is in the chain of a WriteResponse error when reading the upstream's body
	// failed mid-way. The status and part of the body may have reached the client: the handler
	// should panic(http.ErrAbortHandler) so that the client sees a broken response, not a
	// short one that looks complete.
	ErrUpstreamBody = errors.New("forward: upstream response body broke")
	// ErrClientGone is in the chain of a WriteResponse error when writing to the client failed
	// or the client's request context ended.
	ErrClientGone = errors.New("forward: client went away")
	// ErrBadUpgrade is in the chain of a WriteResponse error when a 101 Switching Protocols
	// response cannot be relayed: the upstream switched to a protocol the client did not ask
	// for, or the client connection cannot be hijacked (HTTP/2). Nothing was written to the
	// client, so the caller may still answer 502.
	ErrBadUpgrade = errors.New("forward: cannot relay protocol switch")
	// ErrReleased is returned by WriteResponse for a Response that was already written or
	// discarded.
	ErrReleased = errors.New("forward: response already released")
)

// errHeaderTimeout is the cancel cause of an attempt whose Timeout expired.
var errHeaderTimeout = errors.New("forward: header timeout")

// errBodyClosed is returned by an attempt's body reader after the attempt ended: a transport
// goroutine that still reads the request body after the response was handled gets an error
// instead of racing the next request on the same server connection.
var errBodyClosed = errors.New("forward: request body read after the attempt ended")

// Error is the error RoundTrip returns. errors.Is(err, ErrConnect / ErrTimeout / ErrCanceled)
// matches its Kind; Unwrap gives the underlying transport error.
type Error struct {
	Kind   ErrorKind
	Target string // host:port of the attempt
	Err    error
}

// Error returns "forward: <target>: <kind>: <underlying error>".
func (e *Error) Error() string {
	return "forward: " + e.Target + ": " + e.Kind.String() + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrConnect:
		return e.Kind == KindConnect
	case ErrTimeout:
		return e.Kind == KindTimeout
	case ErrCanceled:
		return e.Kind == KindCanceled
	}
	return false
}

// Classify returns the kind of a RoundTrip error: the Kind of an *Error in its chain. For other
// errors it guesses conservatively: context.Canceled is KindCanceled, a deadline is KindTimeout,
// a dial error of this package is KindConnect, anything else (nil included) is KindOther.
func Classify(err error) ErrorKind {
	if err == nil {
		return KindOther
	}
	if fe, ok := errors.AsType[*Error](err); ok {
		return fe.Kind
	}
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case isDialError(err):
		return KindConnect
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errHeaderTimeout):
		return KindTimeout
	}
	return KindOther
}

// dialError marks an error of the engine's own dialer: the connection was never made, so the
// request was never written. The transport returns dial errors unchanged, and only for the
// request whose connection attempt failed, so finding one in a RoundTrip error proves that this
// request was not sent.
type dialError struct{ err error }

func (d *dialError) Error() string { return d.err.Error() }
func (d *dialError) Unwrap() error { return d.err }

// Timeout keeps net.Error semantics for code that checks them.
func (d *dialError) Timeout() bool {
	ne, ok := d.err.(net.Error)
	return ok && ne.Timeout()
}

// Temporary keeps net.Error semantics for code that checks them.
func (d *dialError) Temporary() bool { return false }

func isDialError(err error) bool {
	_, ok := errors.AsType[*dialError](err)
	return ok
}
