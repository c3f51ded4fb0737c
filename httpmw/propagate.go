package httpmw

import (
	"context"
	"net/http"
)

// Propagator moves request-scoped context between HTTP headers and a context.Context: trace
// context and baggage. Protect calls Extract on every request before the handler runs, and
// Transport calls Inject on every outgoing request. The observability layer supplies an
// OpenTelemetry propagator in this shape; until then [TraceHeaders] carries the W3C headers
// through unchanged.
//
// Implementations must be safe for concurrent use. Extract must return ctx itself when the
// headers carry nothing, so that requests without trace context cost nothing.
type Propagator interface {
	Extract(ctx context.Context, h http.Header) context.Context
	Inject(ctx context.Context, h http.Header)
}

// traceHeaderNames are the W3C Trace Context and Baggage headers, canonical form.
var traceHeaderNames = [...]string{"Traceparent", "Tracestate", "Baggage"}

// TraceHeaders is the default Propagator: it keeps the W3C traceparent, tracestate and baggage
// headers of an incoming request in the context, as they came, and copies them onto outgoing
// requests made with that context. It does not parse or sample, and it starts no spans: a
// service that does not trace still passes its caller's trace on to its dependencies.
type TraceHeaders struct{}

type traceKey struct{}

// traceValues are the header values kept in the context, in traceHeaderNames order.
type traceValues [len(traceHeaderNames)]string

// Extract returns ctx with the request's trace headers, or ctx itself when it has none.
func (TraceHeaders) Extract(ctx context.Context, h http.Header) context.Context {
	var v traceValues
	found := false
	for i, name := range traceHeaderNames {
		if v[i] = headerValue(h, name); v[i] != "" {
			found = true
		}
	}
	if !found {
		return ctx
	}
	kept := new(traceValues) // only now: a request without trace headers allocates nothing
	*kept = v
	return context.WithValue(ctx, traceKey{}, kept)
}

// Inject sets the trace headers that ctx carries on h. A header already set on h is kept: the
// caller who set it knows better.
func (TraceHeaders) Inject(ctx context.Context, h http.Header) {
	v, _ := ctx.Value(traceKey{}).(*traceValues)
	if v == nil {
		return
	}
	for i, name := range traceHeaderNames {
		if v[i] != "" && len(h[name]) == 0 {
			h[name] = []string{v[i]}
		}
	}
}
