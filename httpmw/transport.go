package httpmw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
)

// ErrTimeout is the error of a call that the dynamic timeout cut before the response headers
// arrived. errors.Is(err, context.DeadlineExceeded) holds for it too, so code that checks for
// a deadline keeps working, and it reports Timeout() == true as a net.Error does.
var ErrTimeout error = timeoutSentinel{}

type timeoutSentinel struct{}

func (timeoutSentinel) Error() string        { return "httpmw: dynamic timeout" }
func (timeoutSentinel) Is(target error) bool { return target == context.DeadlineExceeded }
func (timeoutSentinel) Timeout() bool        { return true }

// RoundTripper is the protecting client transport that Transport returns: an http.RoundTripper
// and a prometheus.Collector (see transport_metrics.go for its metrics). It is safe for
// concurrent use and starts no goroutine of its own, with one exception: under a clock other
// than the real one (a test's clock.Fake), whose timers have only a channel, each call with a
// pending dynamic timeout has one goroutine waiting on that timer until the headers arrive.
//
// It keeps a breaker, a dynamic timeout and counters per target host (URL.Host) for its whole
// life, so it suits a client that talks to a bounded set of hosts, as a service does with its
// dependencies; it is not meant for a crawler.
type RoundTripper struct {
	base       http.RoundTripper
	name       string
	clk        clock.Clock
	realClock  bool // clk is clock.Real: timers are runtime timers (time.AfterFunc)
	logger     *slog.Logger
	propagator Propagator
	sw         *degrade.Switch
	fallback   func(*http.Request, error) (*http.Response, error)
	limits     *ratelimit.Keyed // nil without WithRateLimit
	limitKey   func(*http.Request) string
	breakers   *breaker.Group   // nil with WithoutBreaker
	timeouts   []timeout.Option // nil with WithoutTimeout; else the options of every host's Dynamic

	hosts sync.Map // URL.Host → *clientHost
}

var _ http.RoundTripper = (*RoundTripper)(nil)

// clientHost is the per-host state: the breaker, the dynamic timeout and the counters.
type clientHost struct {
	name      string
	breaker   breaker.Breaker  // nil = off
	timeout   *timeout.Dynamic // nil = off
	counts    [numCallOutcomes]atomic.Uint64
	fallbacks atomic.Uint64
}

// Transport returns a RoundTripper that protects the calls it makes through base (nil means
// http.DefaultTransport). Per call, in this order, cheapest refusal first:
//
//  1. The degrade switch (WithDegrade): a degraded call fails with degrade.ErrDegraded.
//  2. The rate limit (WithRateLimit): a sliding window per key, by default the target host;
//     over the limit fails with ratelimit.ErrLimited.
//  3. The host's breaker (SRE by default, WithBreaker; WithoutBreaker turns it off): a refusal
//     fails with breaker.ErrOpen.
//  4. The host's EMA dynamic timeout (WithTimeout; WithoutTimeout turns it off) and the
//     caller's deadline, whichever is earlier, bound the wait for the response headers. If the
//     dynamic timeout fires first, the call fails with ErrTimeout. Once the headers are in,
//     only the caller's context bounds the body.
//  5. The outgoing request, a copy of the caller's (which is never modified), carries
//     Bulwark-Deadline = that bound in Unix ms (a Bulwark-Deadline the caller set is kept if it
//     is earlier; with no bound the header is left as it is), the trace context
//     (WithPropagator), and Bulwark-Color from color.From unless the request has one.
//
// A call whose context is already done is not made, and is counted but reported to nobody.
//
// The outcome goes to the host's breaker and EMA when the headers arrive (or the call fails):
// a response below 500 without Bulwark-Overload: 1 is a success, and the EMA observes its
// latency; a 5xx or Bulwark-Overload: 1 response is a failure for the breaker, and the EMA
// observes its latency; a transport error, the dynamic timeout and the caller's deadline are
// failures for both (the EMA is fed max(elapsed, Tmax)), as the gateway counts them, so that a
// hanging host trips the breaker even for callers whose deadlines are shorter than the
// timeout. The caller's cancellation is reported to neither: its breaker Permit is dropped,
// which the SRE breaker simply does not count; a classic breaker's half-open trial slot held by
// such a permit is freed by the breaker's own rule, one open timeout later.
//
// Refused calls (steps 1-3) and failed ones (a transport error, ErrTimeout) go to the fallback
// of WithDegrade if one is set, with the error; its answer is returned as is. A 5xx response
// is a response, and is returned, not replaced. A call that the caller cancelled or whose
// deadline passed gets no fallback: nobody is waiting for it. The fallback runs on the
// caller's goroutine, holding no lock; the request body may already have been consumed.
//
// Every error is wrapped with the host: "httpmw: call to 10.0.0.7:8080: breaker: open"; test
// it with errors.Is. An error that is a timeout (ErrTimeout, a deadline) reports Timeout() ==
// true, so http.Client's url.Error does too.
//
// The response body the caller gets wraps the base's, to release the call's context when it
// is closed or read to EOF; as with any response, the caller must close it. It has Read and
// Close, and Write for a 101 Switching Protocols connection; it drops other methods of the
// base's body (io.WriterTo), which only costs io.Copy its fast path.
//
// Transport fails, naming the option, on an invalid option or on a Protect-only one.
func Transport(base http.RoundTripper, opts ...Option) (*RoundTripper, error) {
	s, err := apply(opts, sideTransport)
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	_, realClock := s.clock.(clock.Real)
	t := &RoundTripper{base: base, name: s.name, clk: s.clock, realClock: realClock, logger: s.logger,
		propagator: s.propagator, sw: s.degrade, fallback: s.fallback}
	if rl := s.rateLimit; rl != nil {
		if t.limits, err = rl.keyed(s.clock); err != nil {
			return nil, err
		}
		t.limitKey = rl.key
	}
	if !s.noBreaker {
		bopts := append(s.breakerOpts[:len(s.breakerOpts):len(s.breakerOpts)], breaker.WithClock(s.clock))
		if t.breakers, err = breaker.NewGroup(s.breakerKind, bopts...); err != nil {
			return nil, fmt.Errorf("httpmw: WithBreaker: %w", err)
		}
	}
	if !s.noTimeout {
		t.timeouts = append(s.timeoutOpts[:len(s.timeoutOpts):len(s.timeoutOpts)], timeout.WithClock(s.clock))
		if _, err := timeout.New(t.timeouts...); err != nil { // checked once here, so hosts never fail
			return nil, fmt.Errorf("httpmw: WithTimeout: %w", err)
		}
	}
	return t, nil
}

// host returns the state of a target host, making it on first use.
func (t *RoundTripper) host(name string) *clientHost {
	if h, ok := t.hosts.Load(name); ok {
		return h.(*clientHost)
	}
	h := &clientHost{name: name}
	if t.breakers != nil {
		h.breaker = t.breakers.Get(name)
	}
	if t.timeouts != nil {
		d, err := timeout.New(t.timeouts...)
		if err != nil {
			panic("httpmw: timeout options accepted by Transport now fail: " + err.Error())
		}
		h.timeout = d
	}
	v, _ := t.hosts.LoadOrStore(name, h)
	return v.(*clientHost)
}

// decision is what the admission steps (1-4) decided for one call that may go ahead.
type decision struct {
	host    *clientHost
	permit  breaker.Permit // the zero Permit without a breaker
	start   time.Time      // the settings clock when the call was admitted
	timeout time.Duration  // the host's dynamic timeout; 0 = off
}

// admit runs steps 1-4 for req. It returns the decision, or the refusal's outcome and error
// (not yet wrapped with the host). It allocates nothing on the admit path.
func (t *RoundTripper) admit(req *http.Request, h *clientHost) (decision, callOutcome, error) {
	d := decision{host: h}
	if t.sw != nil {
		if err := t.sw.Allow(); err != nil {
			return d, callDegraded, err
		}
	}
	if t.limits != nil {
		key := h.name
		if t.limitKey != nil {
			key = t.limitKey(req)
		}
		if err := t.limits.Allow(key); err != nil {
			if errors.Is(err, ratelimit.ErrLimited) {
				return d, callRateLimited, err
			}
			return d, callFailed, err
		}
	}
	if h.breaker != nil {
		p, err := h.breaker.Allow()
		if err != nil {
			return d, callBreakerOpen, err
		}
		d.permit = p
	}
	d.start = t.clk.Now()
	if h.timeout != nil {
		d.timeout = h.timeout.Timeout()
	}
	return d, callOK, nil
}

// finish reports a call's outcome to the host's breaker and dynamic timeout, and counts it.
// A call the caller cancelled is reported to neither.
func (d *decision) finish(o callOutcome, elapsed time.Duration) {
	h := d.host
	h.counts[o].Add(1)
	switch o {
	case callOK:
		d.permit.Done(true)
	case callError5xx, callOverloaded:
		d.permit.Done(false)
	case callFailed, callTimeout, callDeadline:
		d.permit.Done(false)
		if h.timeout != nil {
			h.timeout.Fail(elapsed)
		}
		return
	default: // callCanceled
		return
	}
	if h.timeout != nil {
		h.timeout.Observe(elapsed)
	}
}

// RoundTrip makes one protected call; see Transport for the steps. It never modifies req:
// the headers go onto a copy. It closes req.Body, as a RoundTripper must, also when it refuses
// the call. A response's body must be closed (or read to EOF) to release the call's context.
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeRequestBody(req)
		return nil, errors.New("httpmw: Transport: nil request URL")
	}
	h := t.host(req.URL.Host)
	ctx := req.Context()
	if err := ctx.Err(); err != nil { // the caller gave up before the call: not the host's doing
		closeRequestBody(req)
		h.counts[callerOutcome(err)].Add(1)
		return nil, &callError{host: h.name, err: err}
	}
	d, o, err := t.admit(req, h)
	if err != nil {
		h.counts[o].Add(1)
		resp, err := t.orFallback(req, h, &callError{host: h.name, err: err})
		closeRequestBody(req)
		return resp, err
	}
	return t.send(req, &d)
}

// send runs step 5 and the call itself, and reports its outcome.
func (t *RoundTripper) send(req *http.Request, d *decision) (*http.Response, error) {
	ctx := req.Context()
	bound, bounded := ctx.Deadline()
	var a *attempt
	if d.timeout > 0 {
		if own := d.start.Add(d.timeout); !bounded || own.Before(bound) {
			bound, bounded = own, true
			a = newAttempt(ctx)
		}
	}
	out := t.outgoing(req, a, bound, bounded)
	if a != nil {
		a.arm(t.clk, t.realClock, d.timeout)
	}
	resp, err := t.base.RoundTrip(out)
	elapsed := t.clk.Since(d.start)
	if resp == nil && err == nil {
		err = errors.New("httpmw: the base RoundTripper returned neither a response nor an error")
	}
	timedOut := a != nil && !a.answered()
	if timedOut {
		<-a.ctx.Done() // the timer or the caller has cancelled it, or is about to
		if err == nil {
			resp.Body.Close() // the timer fired as the headers came: their context is gone
			resp, err = nil, ErrTimeout
		}
	}
	if err != nil {
		o := callFailed
		switch {
		case timedOut && context.Cause(a.ctx) == ErrTimeout:
			o, err = callTimeout, &timeoutError{after: d.timeout}
		case ctx.Err() != nil:
			o, err = callerOutcome(ctx.Err()), ctx.Err()
		}
		if a != nil {
			a.release()
		}
		d.finish(o, elapsed)
		err = &callError{host: d.host.name, err: err}
		if o == callCanceled || o == callDeadline { // the caller has left: nobody wants a fallback
			return nil, err
		}
		return t.orFallback(req, d.host, err)
	}
	o := callOK
	switch {
	case resp.StatusCode >= 500:
		o = callError5xx
	case headerValue(resp.Header, HeaderOverload) == "1":
		o = callOverloaded
	}
	d.finish(o, elapsed)
	if a != nil {
		resp.Body = a.wrap(resp.Body)
	}
	return resp, nil
}

// outgoing returns the request to send: req itself when nothing is to change, else a shallow
// copy with the attempt's context and a copy of the header that carries the deadline, the
// trace context and the color.
func (t *RoundTripper) outgoing(req *http.Request, a *attempt, bound time.Time, bounded bool) *http.Request {
	ctx := req.Context()
	c := color.From(ctx)
	if a == nil && !bounded && t.propagator == nil && c == "" {
		return req
	}
	octx := ctx
	if a != nil {
		octx = a.ctx
	}
	out := req.WithContext(octx)
	h := req.Header.Clone()
	if h == nil {
		h = make(http.Header, 3)
	}
	if bounded {
		keep := false
		if v := headerValue(h, HeaderDeadline); v != "" {
			if dl, err := ParseDeadline(v); err == nil && dl.UnixMilli() < bound.UnixMilli() {
				keep = true
			}
		}
		if !keep {
			h[HeaderDeadline] = []string{FormatDeadline(bound)}
		}
	}
	if t.propagator != nil {
		t.propagator.Inject(ctx, h)
	}
	if c != "" && len(h[color.Header]) == 0 {
		h[color.Header] = []string{c}
	}
	out.Header = h
	return out
}

// orFallback answers a refused or failed call: with the fallback of WithDegrade if there is
// one, else with err.
func (t *RoundTripper) orFallback(req *http.Request, h *clientHost, err error) (*http.Response, error) {
	if t.fallback == nil {
		return nil, err
	}
	h.fallbacks.Add(1)
	resp, ferr := t.fallback(req, err)
	switch {
	case ferr != nil:
		if resp != nil {
			if resp.Body != nil {
				resp.Body.Close()
			}
			t.logger.Warn("httpmw: the fallback returned a response and an error; the response was dropped",
				"client", t.name, "host", h.name, "err", ferr)
		}
		return nil, ferr
	case resp == nil:
		t.logger.Warn("httpmw: the fallback returned neither a response nor an error; the call fails",
			"client", t.name, "host", h.name, "err", err)
		return nil, err
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the base RoundTripper, if it has that
// method (http.Transport does), so that http.Client.CloseIdleConnections reaches it.
func (t *RoundTripper) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// callerOutcome is the outcome of a call whose own context ended with err.
func callerOutcome(err error) callOutcome {
	if errors.Is(err, context.DeadlineExceeded) {
		return callDeadline
	}
	return callCanceled
}

// callError is every error RoundTrip returns: the host it called and why the call failed.
type callError struct {
	host string
	err  error
}

func (e *callError) Error() string { return "httpmw: call to " + e.host + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// Timeout reports whether the call timed out, as net.Error does, so that url.Error.Timeout
// (what http.Client returns) sees through to it.
func (e *callError) Timeout() bool {
	var te interface{ Timeout() bool }
	return errors.As(e.err, &te) && te.Timeout()
}

// timeoutError is the cause of a call the dynamic timeout cut: it matches ErrTimeout and
// context.DeadlineExceeded.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string {
	return "dynamic timeout of " + e.after.String() + " passed before the response headers"
}
func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}
func (e *timeoutError) Timeout() bool { return true }
