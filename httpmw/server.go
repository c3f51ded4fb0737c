package httpmw

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/overload"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/shed"
)

// Handler is the protecting middleware that Protect returns. It is an http.Handler and a
// prometheus.Collector of its counts. It is safe for concurrent use and starts no goroutines.
type Handler struct {
	next     http.Handler
	s        settings
	clk      clock.Clock
	admitter *shed.Admitter // over s.limiter; nil without WithLimiter
	pool     *shed.Admitter // the worker pool; nil without WithWorkers
	limits   *ratelimit.Keyed
	limitKey func(*http.Request) string
	retry429 string // Retry-After of a rate-limit refusal

	nextSample atomic.Int64 // clock reading (Unix ns) at or after which the detector is sampled

	inflight atomic.Int64
	served   atomic.Uint64
	panics   atomic.Uint64
	reports  atomic.Uint64 // responses that carried Bulwark-Overload: 1
	rejected [numReasons]atomic.Uint64
}

// Reasons of refusals, the values of Bulwark-Reject and of the metrics' reason label.
const (
	ReasonRateLimited  = "rate_limited"  // 429: WithRateLimit
	ReasonBadDeadline  = "bad_deadline"  // 400: a malformed Bulwark-Deadline
	ReasonDeadline     = "deadline"      // 503: the caller's deadline passed (on arrival or while waiting)
	ReasonOverloaded   = "overloaded"    // 503: the overload detector refused
	ReasonShed         = "shed"          // 503: the adaptive limiter's share for the level is used up
	ReasonQueueTimeout = "queue_timeout" // 503: waited longer than the maximum wait
	ReasonQueueFull    = "queue_full"    // 503: no worker, and the worker queue is full
	ReasonCanceled     = "client_closed" // 499: the client left while its request waited
)

const (
	reasonRateLimited = iota
	reasonBadDeadline
	reasonDeadline
	reasonOverloaded
	reasonShed
	reasonQueueTimeout
	reasonQueueFull
	reasonCanceled
	numReasons
)

var reasonNames = [numReasons]string{ReasonRateLimited, ReasonBadDeadline, ReasonDeadline,
	ReasonOverloaded, ReasonShed, ReasonQueueTimeout, ReasonQueueFull, ReasonCanceled}

// Protect wraps next with the protections the options turn on; with no options it only recovers
// panics and carries color and trace context. See the package comment for the order of the
// checks. It fails, naming the option, on an invalid option or on a Transport-only one.
func Protect(next http.Handler, opts ...Option) (*Handler, error) {
	if next == nil {
		return nil, errors.New("httpmw: Protect: nil handler")
	}
	s, err := apply(opts, sideServer)
	if err != nil {
		return nil, err
	}
	h := &Handler{next: next, s: s, clk: s.clock}
	if s.limiter != nil {
		shedOpts := append([]shed.Option{shed.WithClock(s.clock)}, s.shedOpts...)
		if h.admitter, err = shed.New(s.limiter, shedOpts...); err != nil {
			return nil, err
		}
	}
	if s.workers > 0 {
		// Every level may use every worker; the queue still serves level 1 first.
		h.pool, err = shed.New(shed.Fixed(s.workers), shed.WithClock(s.clock), shed.WithQueue(s.workerQueue),
			shed.WithMaxWait(s.queueWait), shed.WithShares([shed.Levels]float64{1, 1, 1, 1}))
		if err != nil {
			return nil, err
		}
	}
	if rl := s.rateLimit; rl != nil {
		if h.limits, err = rl.keyed(s.clock); err != nil {
			return nil, err
		}
		h.limitKey = rl.key
		h.retry429 = retryAfter(rl.per)
	}
	return h, nil
}

// retryAfter is a Retry-After value for d: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}

// ServeHTTP admits the request or refuses it, then runs the wrapped handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.Add(1)
	defer h.inflight.Add(-1)

	if v := headerValue(r.Header, HeaderDeadline); v != "" {
		dl, err := ParseDeadline(v)
		if err != nil {
			h.reject(w, http.StatusBadRequest, reasonBadDeadline, "")
			return
		}
		if !h.clk.Now().Before(dl) {
			h.reject(w, http.StatusServiceUnavailable, reasonDeadline, "1")
			return
		}
		ctx, cancel := context.WithDeadline(r.Context(), dl)
		defer cancel()
		r = r.WithContext(ctx)
	}
	if h.limits != nil {
		key := ""
		if h.limitKey != nil {
			key = h.limitKey(r)
		}
		if h.limits.Allow(key) != nil {
			h.reject(w, http.StatusTooManyRequests, reasonRateLimited, h.retry429)
			return
		}
	}

	level := h.level(r)
	if d := h.s.detector; d != nil {
		h.maybeSample(d)
		tok, err := d.Admit()
		if err != nil {
			h.reject(w, http.StatusServiceUnavailable, reasonOverloaded, "1")
			return
		}
		defer tok.Done()
	}
	var bbr adaptive.Token // the zero Token's Done and Cancel do nothing
	if h.admitter != nil {
		ticket, err := h.admitter.Admit(r.Context(), level)
		if err != nil {
			h.rejectAdmit(w, r, err, reasonShed)
			return
		}
		defer ticket.Done()
		bbr = h.s.limiter.Start()
		defer func() { bbr.Done() }()
	}
	if h.pool != nil {
		ticket, err := h.pool.Admit(r.Context(), level)
		if err != nil {
			// Not served: a near-zero round trip would drag the limiter's minRt down.
			bbr.Cancel()
			bbr = adaptive.Token{}
			h.rejectAdmit(w, r, err, reasonQueueFull)
			return
		}
		defer ticket.Done()
	}

	if p := h.s.propagator; p != nil {
		if ctx := p.Extract(r.Context(), r.Header); ctx != r.Context() {
			r = r.WithContext(ctx)
		}
	}
	if c := headerValue(r.Header, color.Header); c != "" {
		if ctx := color.With(r.Context(), c); ctx != r.Context() {
			r = r.WithContext(ctx)
		}
	}
	h.serve(w, r)
}

// serve runs the wrapped handler with panic recovery.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	rw := getWriter(w, h)
	defer putWriter(rw)
	defer func() {
		v := recover()
		if v == nil {
			h.served.Add(1)
			return
		}
		if v == http.ErrAbortHandler { // the handler's own way to abort the response
			panic(v)
		}
		h.panics.Add(1)
		stack := debug.Stack()
		h.s.logger.ErrorContext(r.Context(), "httpmw: handler panic recovered", "handler", h.s.name, "method", r.Method,
			"path", r.URL.Path, "panic", v, "stack", string(stack))
		if rep := h.s.panics; rep != nil {
			rep.ReportPanic(r.Context(), v, stack, r)
		}
		if rw.wrote {
			// Part of the response is out: cut the connection rather than let a truncated body
			// pass for a whole one.
			panic(http.ErrAbortHandler)
		}
		hdr := w.Header()
		for k := range hdr {
			delete(hdr, k)
		}
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("X-Content-Type-Options", "nosniff")
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte("internal server error\n"))
	}()
	h.next.ServeHTTP(rw, r)
}

// rejectAdmit answers an Admitter's refusal: the deadline, a timed-out wait, or no room.
func (h *Handler) rejectAdmit(w http.ResponseWriter, r *http.Request, err error, noRoom int) {
	switch {
	case errors.Is(err, context.Canceled):
		// The client left while waiting: nobody reads the answer. 499, as the gateway and
		// nginx count it, keeps it apart from the server's own refusals.
		h.reject(w, statusClientClosed, reasonCanceled, "")
	case errors.Is(err, context.DeadlineExceeded) && hasDeadline(r):
		h.reject(w, http.StatusServiceUnavailable, reasonDeadline, "1")
	case errors.Is(err, shed.ErrQueueTimeout):
		h.reject(w, http.StatusServiceUnavailable, reasonQueueTimeout, "1")
	default:
		h.reject(w, http.StatusServiceUnavailable, noRoom, "1")
	}
}

func hasDeadline(r *http.Request) bool {
	_, ok := r.Context().Deadline()
	return ok
}

// reject answers a refusal by the contract: status, Bulwark-Reject, Retry-After (when given)
// and Bulwark-Overload while overloaded.
func (h *Handler) reject(w http.ResponseWriter, status, reason int, retry string) {
	h.rejected[reason].Add(1)
	hdr := w.Header()
	hdr.Set(HeaderReject, reasonNames[reason])
	if retry != "" {
		hdr.Set("Retry-After", retry)
	}
	if d := h.s.detector; d != nil && d.Overloaded() {
		hdr[HeaderOverload] = overloadValue
		h.reports.Add(1)
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(reasonNames[reason] + "\n"))
}

var overloadValue = []string{"1"}

// statusClientClosed is nginx's "client closed request", which the gateway uses too.
const statusClientClosed = 499

// level is the request's service level: a trusted header, then the level function, then the
// route table, then the default.
func (h *Handler) level(r *http.Request) int {
	if h.s.trustLevel {
		if v := headerValue(r.Header, HeaderLevel); len(v) == 1 && v[0] >= '1' && v[0] <= '0'+shed.Levels {
			return int(v[0] - '0')
		}
	}
	if h.s.levelFunc != nil {
		if l := h.s.levelFunc(r); l >= 1 && l <= shed.Levels {
			return l
		}
	}
	path := r.URL.Path
	for _, rl := range h.s.routeLevels {
		if path == rl.pattern || (rl.pattern[len(rl.pattern)-1] == '/' && len(path) > len(rl.pattern) &&
			path[:len(rl.pattern)] == rl.pattern) {
			return rl.level
		}
	}
	return h.s.defaultLevel
}

// maybeSample samples the detector if the interval since the last sample has passed. One
// caller wins each interval; the others skip, so sampling costs one clock read and one load.
// Samples are taken on arrivals only: a detector matters to the next answers, and those
// belong to requests that arrive.
func (h *Handler) maybeSample(d *overload.Detector) {
	now := h.clk.Now().UnixNano()
	next := h.nextSample.Load()
	if now < next || !h.nextSample.CompareAndSwap(next, now+int64(h.s.sampleEvery)) {
		return
	}
	d.Sample()
}
