package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/shed"
)

// exchange is what one request did, for the metrics and the access log.
type exchange struct {
	st       *state
	route    *route
	start    time.Duration // g.since() when the request arrived
	status   int
	outcome  string
	host     string
	attempts int
	from     string // Bulwark-Failover of the incoming request
	instance string // Bulwark-Instance of a failover request
	reason   string // Bulwark-Reject
	bytesErr error
	color    string      // the request's kept color (color.go); "" = production traffic
	shadow   *shadowPool // the shadow hosts a colored request goes to; nil = the production pool
	abort    bool        // cut the client's connection after finishing (a panic mid-response)
	span     trace.Span  // the server span; nil while tracing is off
}

// ServeHTTP runs the request path described in the package comment.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := g.state.Load()
	x := exchange{st: st, start: g.since(), from: headerValue(r.Header, HeaderFailover)}
	if x.from != "" {
		x.instance = headerValue(r.Header, HeaderInstance)
	}
	r = g.startServerSpan(r, &x)
	g.serveRecovering(w, r, &x)
	g.finish(r, &x)
	g.endServerSpan(r, &x)
	if x.abort || errors.Is(x.bytesErr, forward.ErrUpstreamBody) {
		// The upstream broke off mid-body: abort the client's response instead of letting
		// a shorter body pass for a complete one.
		panic(http.ErrAbortHandler)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, x *exchange) {
	st := x.st
	if r.Method == http.MethodConnect { // a reverse proxy is not a tunnel
		g.reject(w, x, rejConnectMethod)
		return
	}
	ro := st.router.match(r)
	if ro == nil {
		g.reject(w, x, rejNoRoute)
		return
	}
	x.route = ro
	if !g.colorEntry(w, r, x) {
		return
	}
	if st.entry.blocked(r) {
		g.reject(w, x, rejBlocked)
		return
	}
	if per := st.entry.limited(r); per > 0 {
		g.reject(w, x, rateLimited("limit", per))
		return
	}
	svc := ro.svc
	if d := headerValue(r.Header, HeaderDeadline); d != "" {
		ms, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			g.reject(w, x, rejBadDeadln)
			return
		}
		deadline := time.UnixMilli(ms)
		if !g.clk.Now().Before(deadline) {
			g.reject(w, x, rejDeadline)
			return
		}
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		r = r.WithContext(ctx)
	}
	if ro.write && !st.isPrimary {
		g.forwardWrite(w, r, x)
		return
	}

	// Route rate limit: a refusal may fail over (SEEDS.md A2 lists "a local rate limit").
	if svc.limiter != nil {
		if svc.limiter.Allow() != nil {
			g.localFailed(w, r, x, nil, attemptResult{reason: config.ReasonRateLimited,
				rej: rateLimited("rate_limited", svc.cfg.RateLimit.Per.D())})
			return
		}
		svc.countServed(x.start)
	}
	ctx := r.Context()
	if st.admit != nil {
		tk, err := st.admit.Admit(ctx, ro.level)
		if err != nil {
			svc.markShed()
			g.reject(w, x, admissionRejection(err))
			return
		}
		defer tk.Done()
		bt := st.bbr.Start()
		defer func() {
			// The limiter learns the gateway's capacity from requests that did the work: an
			// answer relayed from a host. A request refused or failed in microseconds (a dead
			// pool, an open breaker) would drag minRt, and with it the limit, toward zero for
			// a whole window, starving every level once the pool is back.
			if x.attempts > 0 && x.status < 500 {
				bt.Done()
			} else {
				bt.Cancel()
			}
		}()
	}
	tk, err := svc.admit.Admit(ctx, ro.level)
	if err != nil {
		svc.markShed()
		g.reject(w, x, admissionRejection(err))
		return
	}
	defer tk.Done()
	svc.inflight.Add(1)
	defer svc.inflight.Add(-1)

	if svc.degrade.Allow() != nil {
		g.degraded(w, x, svc)
		return
	}

	body, err := g.requestBody(r, st)
	if err != nil {
		g.reject(w, x, rejTooLarge)
		return
	}
	if body != nil {
		defer body.Release()
	}
	if faults := g.faults.active.Load(); faults != nil && g.injectFault(w, r, x, body, *faults) {
		return
	}
	cacheKey := x.cacheKey(svc, r)
	if cacheKey != "" && g.fromCache(w, r, x, svc, cacheKey) {
		return
	}
	if sig := x.drSignature(svc, r); cacheKey != "" || sig != "" {
		cw := &captureWriter{ResponseWriter: w, limit: maxCaptured}
		w = cw
		defer func() {
			if x.bytesErr == nil && (x.outcome == metrics.OutcomeOK || x.outcome == metrics.OutcomeFailoverOK) {
				g.keepLater(svc, cw, cacheKey, sig)
			}
		}()
	}
	svc.observeLocal(x)
	res := g.tryLocal(r, x, svc, body)
	if res.reason == "" && res.resp != nil {
		x.outcome = metrics.OutcomeOK
		g.writeResponse(w, x, svc, res.resp)
		return
	}
	g.localFailed(w, r, x, body, res)
}

// headerValue is h.Get(key) for a key already in canonical form, without canonicalizing it
// again: the Bulwark-* headers are read on every request.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// admissionRejection maps an admission error to its answer.
func admissionRejection(err error) rejection {
	switch {
	case errors.Is(err, context.Canceled):
		return rejCanceled
	case errors.Is(err, shed.ErrQueueTimeout):
		return rejQueue
	default:
		return rejShed
	}
}

// requestBody wraps the incoming body so that it can be replayed on another host or center.
// It returns nil for a request without a body. This is where the traffic recorder samples
// requests: the body, when held for replay, is then in memory.
func (g *Gateway) requestBody(r *http.Request, st *state) (*forward.Body, error) {
	var body *forward.Body
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		var err error
		if body, err = forward.NewBody(r.Body, r.ContentLength, st.replay, st.maxBody); err != nil {
			return nil, err
		}
	}
	if rs := g.rec.cur.Load(); rs != nil && len(r.Header[color.Header]) == 0 { // not load-test traffic
		g.rec.record(rs, r, body)
	}
	return body, nil
}

// attemptResult is the outcome of the local attempt(s).
type attemptResult struct {
	resp   *forward.Response // a response to pass on (ok, or the upstream's 5xx)
	reason string            // failover reason; "" = success (or canceled, see rej)
	rej    rejection         // the answer when there is no response and no failover
}

// tryLocal sends the request to a local host, and once more to another local host when the
// first attempt certainly did not send it (a connection error). That retry is safe for any
// method and does not use the retry window.
func (g *Gateway) tryLocal(r *http.Request, x *exchange, svc *service, body *forward.Body) (res attemptResult) {
	pool, tmo := svc.pool, svc.timeout
	if x.shadow != nil { // a colored request: the shadow hosts only (color.go)
		pool, tmo = x.shadow.pool, x.shadow.timeout
	}
	if pool == nil {
		return attemptResult{reason: config.ReasonConnectError, rej: rejNoHost}
	}
	var exclude *upstream.Host
	retried := false
	defer func() {
		if res.reason != "" && res.reason != config.ReasonBreakerOpen && x.shadow == nil {
			svc.markFailed(x.start)
		}
		if retried {
			result := metrics.ResultError
			if res.resp != nil && res.reason == "" {
				result = metrics.ResultOK
			}
			g.metrics.LocalRetry(svc.name, result)
		}
	}()
	for try := 0; ; try++ {
		a, err := pool.Acquire(exclude)
		if err != nil {
			if errors.Is(err, breaker.ErrOpen) {
				return attemptResult{reason: config.ReasonBreakerOpen, rej: rejBreaker}
			}
			if try > 0 {
				return attemptResult{reason: config.ReasonConnectError, rej: rejConnect}
			}
			return attemptResult{reason: config.ReasonConnectError, rej: rejNoHost}
		}
		host := a.Host()
		x.host, x.attempts = host.Addr(), x.attempts+1
		to := tmo.Timeout()
		if dl, ok := r.Context().Deadline(); ok {
			to = min(to, time.Until(dl))
		}
		sc := scratchPool.Get().(*scratch)
		sc.req = forward.Request{In: r, Target: x.host, Body: body, Timeout: to, SetHeader: x.route.upstreamHdrs}
		sc.setColor(x)
		var at attempt
		at, sc.req.SetHeader = g.startAttempt(r, x, "local", x.st.cfg.Center, x.host, sc.req.SetHeader)
		resp, err := g.fwd.RoundTrip(&sc.req)
		sc.release()
		at.done(resp, err)
		lat := a.Elapsed()
		if obs := svc.hostObs[x.host]; obs != nil {
			obs.Observe(lat.Seconds())
		}
		if err == nil {
			overload := headerValue(resp.Header, HeaderOverload) == "1"
			tmo.Observe(lat)
			if resp.StatusCode >= 500 {
				a.DoneElapsed(upstream.Outcome{Err: upstream.Status5xx, Latency: lat, Overload: overload})
				return attemptResult{resp: resp, reason: config.Reason5xx}
			}
			a.DoneElapsed(upstream.Outcome{Err: upstream.OK, Latency: lat, Overload: overload})
			return attemptResult{resp: resp}
		}
		if errors.Is(err, forward.ErrBodyTooLarge) { // the client's fault, not the host's
			a.DoneElapsed(upstream.Outcome{Err: upstream.Canceled, Latency: lat})
			return attemptResult{rej: rejTooLarge}
		}
		switch forward.Classify(err) {
		case forward.KindConnect:
			a.DoneElapsed(upstream.Outcome{Err: upstream.ConnectError, Latency: lat})
			if try == 0 && (body == nil || body.Replayable() || !body.Sent()) {
				exclude, retried = host, true
				continue
			}
			return attemptResult{reason: config.ReasonConnectError, rej: rejConnect}
		case forward.KindTimeout:
			a.DoneElapsed(upstream.Outcome{Err: upstream.Timeout, Latency: lat})
			tmo.Fail(lat)
			return attemptResult{reason: config.ReasonTimeout, rej: rejTimeout}
		case forward.KindCanceled:
			a.DoneElapsed(upstream.Outcome{Err: upstream.Canceled, Latency: lat})
			return attemptResult{rej: rejCanceled}
		default: // sent, then the connection broke: the upstream failed like a 5xx
			a.DoneElapsed(upstream.Outcome{Err: upstream.OtherError, Latency: lat})
			tmo.Fail(lat)
			return attemptResult{reason: config.Reason5xx, rej: rejUpstream}
		}
	}
}

// localFailed answers a request whose local attempt failed: through the remote center when
// the failover rules allow it, else with the local failure.
func (g *Gateway) localFailed(w http.ResponseWriter, r *http.Request, x *exchange, body *forward.Body, res attemptResult) {
	svc := x.route.svc
	var remote *forward.Response // the remote center's 5xx, kept while the last resorts run
	if res.reason != "" && !x.route.write {
		if resp, ok := g.failover(r, x, svc, body, res); ok {
			if res.resp != nil {
				res.resp.Discard()
				res.resp = nil
			}
			if resp.StatusCode < 500 {
				x.outcome = metrics.OutcomeFailoverOK
				g.writeResponse(w, x, svc, resp)
				return
			}
			remote = resp
		}
	}
	if lastResortReasons[res.reason] && g.lastResort(w, r, x, svc, body) {
		for _, resp := range []*forward.Response{remote, res.resp} {
			if resp != nil {
				resp.Discard()
			}
		}
		return
	}
	if remote != nil {
		x.outcome = metrics.OutcomeFailoverError
		g.writeResponse(w, x, svc, remote)
		return
	}
	if res.resp != nil { // the upstream's own 5xx, passed on
		x.outcome = metrics.OutcomeUpstreamError
		g.writeResponse(w, x, svc, res.resp)
		return
	}
	if res.reason == config.ReasonRateLimited {
		svc.markShed()
	}
	g.reject(w, x, res.rej)
}

// writeResponse passes resp on to the client, with Bulwark-Center and, for a failover request,
// Bulwark-Credit.
func (g *Gateway) writeResponse(w http.ResponseWriter, x *exchange, svc *service, resp *forward.Response) {
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	set := sc.set[:1]
	set[0] = [2]string{HeaderCenter, x.st.cfg.Center}
	del := deleteOnRelay // a remote's credit is for this gateway, not for the client
	if x.from != "" && svc != nil {
		set = append(set, [2]string{HeaderCredit, strconv.FormatInt(g.creditFor(x, svc), 10)})
		del = nil
	}
	x.status = resp.StatusCode
	x.bytesErr = g.fwd.WriteResponse(w, resp, set, del)
	if errors.Is(x.bytesErr, forward.ErrBadUpgrade) { // a 101 nobody asked for; nothing written yet
		g.reject(w, x, rejUpstream)
	}
}

var deleteOnRelay = []string{HeaderCredit}

// scratch is per-request memory that the engine's arguments live in. It is pooled because
// passing pointers through the engine interface would otherwise allocate on every request.
type scratch struct {
	req forward.Request
	set [2][2]string
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func (sc *scratch) release() {
	*sc = scratch{}
	scratchPool.Put(sc)
}

// reject answers a refusal the gateway makes itself.
func (g *Gateway) reject(w http.ResponseWriter, x *exchange, rj rejection) {
	x.status, x.outcome, x.reason = rj.status, rj.outcome, rj.reason
	g.metrics.Rejection(rj.reason)
	w.Header()[HeaderCenter] = x.st.centerHdr
	if x.from != "" && x.route != nil {
		w.Header().Set(HeaderCredit, strconv.FormatInt(g.creditFor(x, x.route.svc), 10))
	}
	rj.write(w)
}

// degraded answers with the service's fallback, or 503 without one.
func (g *Gateway) degraded(w http.ResponseWriter, x *exchange, svc *service) {
	fb := svc.cfg.Degrade.Fallback
	if fb == nil {
		g.reject(w, x, rejDegraded)
		return
	}
	h := w.Header()
	h[HeaderCenter] = x.st.centerHdr
	for k, v := range fb.Headers {
		h.Set(k, v)
	}
	h.Set(HeaderReject, "degraded")
	x.status, x.outcome, x.reason = fb.Status, metrics.OutcomeDegraded, "degraded"
	w.WriteHeader(fb.Status)
	_, _ = w.Write([]byte(fb.Body))
}

// creditFor is the Bulwark-Credit this gateway grants the sender of a failover request.
func (g *Gateway) creditFor(x *exchange, svc *service) int64 {
	pressured := false
	if x.st.bbr != nil {
		_, pressured = x.st.bbr.Capacity()
	}
	return svc.credit(x.instance, pressured, x.st.creditCap)
}
