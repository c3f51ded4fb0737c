package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// failover retries a locally failed request once at the remote center's gateway (SEEDS.md
// A2). It reports false when the rules do not allow a retry; the caller then answers with the
// local failure. A request that already carries Bulwark-Failover is never failed over again.
func (g *Gateway) failover(r *http.Request, x *exchange, svc *service, body *forward.Body, res attemptResult) (*forward.Response, bool) {
	st := x.st
	if st.remote == "" || x.from != "" {
		return nil, false
	}
	to := st.remote
	if !svc.onFail[res.reason] || !svc.failEn {
		return nil, false
	}
	if !svc.methods[r.Method] {
		g.metrics.Failover(svc.name, to, metrics.ResultNotIdempotent)
		return nil, false
	}
	if body != nil && !body.Replayable() {
		g.metrics.Failover(svc.name, to, metrics.ResultNotReplayable)
		return nil, false
	}
	if !g.switches.Enabled(svc.name) {
		g.metrics.Failover(svc.name, to, metrics.ResultSwitchedOff)
		return nil, false
	}
	win := svc.windowsFor(x)[to]
	if win.Allow() != nil {
		g.metrics.Failover(svc.name, to, metrics.ResultNoBudget)
		return nil, false
	}
	if res.resp != nil { // release the local 5xx before waiting on the remote
		res.resp.Discard()
		res.resp = nil
	}
	x.attempts++
	timeout := remoteTimeout(r, svc)
	at, hdrs := g.startAttempt(r, x, "failover", to, st.remoteURL.Host, withColor(st.failoverHdrs, x))
	resp, err := g.fwd.RoundTrip(&forward.Request{
		In:        r,
		Scheme:    st.remoteURL.Scheme,
		Target:    st.remoteURL.Host,
		Body:      body,
		Timeout:   timeout,
		SetHeader: hdrs,
	})
	at.done(resp, err)
	if err != nil {
		win.Record(false)
		g.metrics.Failover(svc.name, to, metrics.ResultError)
		return nil, false
	}
	ok := resp.StatusCode < 500
	win.Record(ok)
	if c := resp.Header.Get(HeaderCredit); c != "" {
		if n, err := strconv.ParseInt(c, 10, 64); err == nil && n >= 0 {
			win.Grant(n)
		}
	}
	if ok {
		g.metrics.Failover(svc.name, to, metrics.ResultOK)
	} else {
		g.metrics.Failover(svc.name, to, metrics.ResultError)
	}
	x.host = st.remoteURL.Host
	return resp, true
}

// remoteTimeout bounds the wait for another gateway's response headers: twice the service's
// tmax (the other gateway applies its own dynamic timeout and may retry once locally), and
// never past the request's deadline.
func remoteTimeout(r *http.Request, svc *service) time.Duration {
	timeout := 2 * svc.cfg.Timeout.Tmax.D()
	if dl, ok := r.Context().Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	return timeout
}

// forwardWrite sends a write request that reached a non-primary gateway to the primary
// center's gateway (SEEDS.md A1). It is not a failover: it carries no Bulwark-Failover and
// uses no retry window. The primary applies its own protections.
func (g *Gateway) forwardWrite(w http.ResponseWriter, r *http.Request, x *exchange) {
	st := x.st
	if st.primaryURL == nil {
		g.reject(w, x, rejNoHost)
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
	svc := x.route.svc
	timeout := remoteTimeout(r, svc)
	x.host, x.attempts = st.primaryURL.Host, 1
	at, hdrs := g.startAttempt(r, x, "primary", "", st.primaryURL.Host, withColor(st.failoverHdrs[1:], x))
	resp, err := g.fwd.RoundTrip(&forward.Request{
		In:        r,
		Scheme:    st.primaryURL.Scheme,
		Target:    st.primaryURL.Host,
		Body:      body,
		Timeout:   timeout,
		SetHeader: hdrs,
	})
	at.done(resp, err)
	if err != nil {
		switch {
		case errors.Is(err, forward.ErrBodyTooLarge):
			g.reject(w, x, rejTooLarge)
			return
		}
		switch forward.Classify(err) {
		case forward.KindTimeout:
			g.reject(w, x, rejTimeout)
		case forward.KindCanceled:
			g.reject(w, x, rejCanceled)
		default:
			g.reject(w, x, rejConnect)
		}
		return
	}
	if resp.StatusCode < 500 {
		x.outcome = metrics.OutcomeOK
	} else {
		x.outcome = metrics.OutcomeUpstreamError
	}
	g.writeResponse(w, x, nil, resp)
}
