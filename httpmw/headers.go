package httpmw

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Header names of the contracts in ARCHITECTURE.md that the middleware and the transport read
// or write. They are the gateway's names; the gateway and a service behind it must agree.
const (
	// HeaderLevel carries the service level (1..4) that a trusted gateway assigned a request.
	HeaderLevel = "Bulwark-Level"
	// HeaderDeadline carries the caller's deadline in Unix milliseconds.
	HeaderDeadline = "Bulwark-Deadline"
	// HeaderOverload is "1" on responses of a node that is overloaded (SEEDS.md B9).
	HeaderOverload = "Bulwark-Overload"
	// HeaderReject names the reason on a response the middleware refused.
	HeaderReject = "Bulwark-Reject"
)

// ErrBadDeadline means a Bulwark-Deadline header is not a decimal count of Unix milliseconds.
var ErrBadDeadline = errors.New("httpmw: bad Bulwark-Deadline")

// ParseDeadline parses a Bulwark-Deadline value: decimal Unix milliseconds, as the gateway writes
// it. Anything else (empty, signs, spaces, a number out of int64 range) is ErrBadDeadline.
func ParseDeadline(v string) (time.Time, error) {
	if v == "" || v[0] == '+' || v[0] == '-' {
		return time.Time{}, ErrBadDeadline
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, ErrBadDeadline
	}
	return time.UnixMilli(ms), nil
}

// FormatDeadline is the Bulwark-Deadline value for t: Unix milliseconds, rounded down, so that
// the receiver never believes it has more time than the sender.
func FormatDeadline(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// headerValue is h.Get(name) for a canonical name, without canonicalizing it on every call.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
