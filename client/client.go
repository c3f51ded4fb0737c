package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Client is an http.RoundTripper that sends each request to the home center's gateway and
// fails over to the other center by the rules in the package comment. A Client is safe for
// concurrent use. Every goroutine it starts belongs to a RoundTrip call and ends within
// Timeout (an attempt's timer, with a non-real Clock) or ProbeTimeout (a shared probe), so
// there is nothing to Close beyond the base transport's idle connections
// (CloseIdleConnections).
type Client struct {
	settings

	// freeze is the current or last freeze; it is in force while Now is before Until.
	freeze atomic.Pointer[FrozenError]

	mu     sync.Mutex
	flight *probeFlight // the probe in progress, shared by every call that needs it

	probeWaiters atomic.Int64 // calls waiting on a probe; tests read it
	m            counters
}

var (
	_ http.RoundTripper    = (*Client)(nil)
	_ prometheus.Collector = (*Client)(nil)
)

// New validates cfg and returns a Client. An invalid field fails with an error that names
// it, e.g. `client: Config.Home: "x" is not the name of a center ("sz", "bj")`.
func New(cfg Config) (*Client, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Client{settings: s}, nil
}

// RoundTrip sends req to the home center and, when the rules allow, to the other one (see
// the package comment). It never modifies req: every attempt is a clone whose URL scheme
// and host are the center's. The returned response is the one answer the caller gets; a
// response the client discards (a 5xx it failed over from) is drained a little and closed.
// As the RoundTripper contract asks, req.Body is closed in every case.
//
// Errors: *AttemptError for a single failed attempt (a request that could not fail over,
// or the caller's cancellation); *BothDownError when both attempts failed without a
// response (matching ErrFrozen or ErrNetworkDown by the probe's verdict); *FrozenError,
// at once and without I/O, while the client is frozen.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		c.m.calls[callError].Add(1)
		return nil, errors.New("client: request has a nil URL")
	}
	if fe := c.frozenNow(); fe != nil {
		closeBody(req)
		c.m.frozenRejections.Add(1)
		c.m.calls[callFrozen].Add(1)
		return nil, fe
	}

	home, other := &c.centers[0], &c.centers[1]
	resp1, res1, err1 := c.attempt(req, home, req.Body)
	c.m.attempts[0][res1].Add(1)
	if res1.final() || res1 == resCanceled || !replayable(req) {
		return c.end(resp1, res1, err1)
	}
	if ctx := req.Context(); ctx.Err() != nil {
		discard(resp1)
		return c.end(nil, resCanceled, &AttemptError{Center: home.name, Err: context.Cause(ctx)})
	}
	body, err := replayBody(req)
	if err != nil {
		// No fresh body: the home center's answer stands, with the reason it was not retried.
		if resp1 != nil {
			return c.end(resp1, res1, nil)
		}
		return c.end(nil, res1, errors.Join(err1, err))
	}

	c.m.failovers.Add(1)
	resp2, res2, err2 := c.attempt(req, other, body)
	c.m.attempts[1][res2].Add(1)
	switch {
	case res2.failed() && resp1 != nil:
		// The home center answered a 5xx; that answer beats no answer.
		return c.end(resp1, res1, nil)
	case res2.failed():
		return c.bothDown(req, err1, err2)
	}
	discard(resp1)
	return c.end(resp2, res2, err2)
}

// end counts the call's final result and returns it; res is the last attempt's result.
func (c *Client) end(resp *http.Response, res result, err error) (*http.Response, error) {
	switch {
	case resp != nil:
		c.m.calls[callResponse].Add(1)
	case res == resCanceled:
		c.m.calls[callCanceled].Add(1)
	default:
		c.m.calls[callError].Add(1)
	}
	return resp, err
}

// HTTPClient returns an *http.Client whose Transport is c, with no client-level timeout
// (each attempt has Config.Timeout until its headers; use the request context for an
// overall bound). It follows redirects only to the original request's host or to a center's
// host: any other host would be rewritten to a center, so such a redirect is returned to the
// caller as the 3xx response instead.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c, CheckRedirect: c.checkRedirect}
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("client: stopped after 10 redirects")
	}
	switch req.URL.Host {
	case via[0].URL.Host, c.centers[0].host, c.centers[1].host:
		return nil
	}
	return http.ErrUseLastResponse
}

// FrozenUntil reports when the current freeze ends, and whether the client is frozen now.
// After a freeze has passed it reports (zero time, false).
func (c *Client) FrozenUntil() (time.Time, bool) {
	if fe := c.frozenNow(); fe != nil {
		return fe.Until, true
	}
	return time.Time{}, false
}

// CloseIdleConnections closes the base transport's idle connections, if it can.
// http.Client.CloseIdleConnections calls it.
func (c *Client) CloseIdleConnections() {
	if t, ok := c.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// replayable reports whether req may be sent a second time: it has GetBody (any method), or
// it has no body and an idempotent method or an Idempotency-Key / X-Idempotency-Key header.
func replayable(req *http.Request) bool {
	if req.GetBody != nil {
		return true
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// replayBody returns a fresh body for the second attempt.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.GetBody == nil {
		return req.Body, nil // nil or http.NoBody: replayable said so
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("client: not failed over: GetBody: %w", err)
	}
	return body, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
