package observe

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/bulwark-go/bulwark/color"
)

// ColorBaggageKey is the W3C baggage member that carries the traffic color beside the
// Bulwark-Color header, so that the color survives hops that forward baggage but not
// Bulwark's own headers.
const ColorBaggageKey = "bulwark.color"

const baggageHeader = "Baggage" // canonical form of the W3C baggage header

var (
	traceContext = propagation.TraceContext{}
	baggageProp  = propagation.Baggage{}
)

// HTTP propagates W3C trace context (traceparent, tracestate) and baggage between HTTP
// headers and a context, with the traffic color mapped to and from the baggage member
// bulwark.color. It has the method set of httpmw.Propagator, so
// httpmw.WithPropagator(observe.HTTP{}) makes services trace and carry color through
// baggage. The zero value is ready and safe for concurrent use.
//
// Extract sets color.With from a valid bulwark.color member only when the context has no
// color yet, so an earlier decision (the Bulwark-Color header, or the gateway's stripping)
// stands. Inject makes the baggage agree with color.From: the member is set to the
// context's color, and removed when the context has none, so a color that was stripped or
// never granted cannot leak onward through a forwarded baggage header. It does not write
// the Bulwark-Color header; httpmw's transport and the gateway do.
type HTTP struct{}

// Extract returns ctx with the remote span context, the baggage and the color of h. It
// returns ctx itself when h carries neither traceparent nor baggage, so that requests
// without trace context cost nothing.
func (HTTP) Extract(ctx context.Context, h http.Header) context.Context {
	if len(h["Traceparent"]) == 0 && len(h[baggageHeader]) == 0 {
		return ctx
	}
	return extract(ctx, propagation.HeaderCarrier(h))
}

// Inject sets traceparent/tracestate from ctx's span (replacing any already on h, since
// the span is the newer parent) and the baggage from ctx with the color member in line with
// color.From(ctx). With no baggage to send, a Baggage header already on h is kept except for
// its bulwark.color members, which go unless ctx carries that color.
func (HTTP) Inject(ctx context.Context, h http.Header) {
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	bag := baggageWithColor(baggage.FromContext(ctx), color.From(ctx))
	if s := bag.String(); s != "" {
		h[baggageHeader] = []string{s}
		return
	}
	stripColorBaggage(h)
}

// StripColor removes the traffic color from h: the Bulwark-Color header and every
// bulwark.color member of the Baggage header (dropping the header when nothing is left).
// The gateway calls it at the entry for requests that may not carry a color. It reports
// whether anything was removed. Members are matched by name, case-insensitively, even in a
// malformed header, so a color cannot slip through a header that a lenient parser would
// accept.
func StripColor(h http.Header) bool {
	removed := len(h[color.Header]) > 0
	delete(h, color.Header)
	if stripColorBaggage(h) {
		removed = true
	}
	return removed
}

// TextMapPropagator returns the propagator of HTTP for the otel API (otel.SetTextMapPropagator,
// otelhttp and the like): W3C trace context and baggage, with the color mapped the same way.
// With a carrier that cannot delete, a stripped color member is removed by rewriting the
// baggage value (possibly to "").
func TextMapPropagator() propagation.TextMapPropagator { return textMap{} }

type textMap struct{}

func (textMap) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return extract(ctx, c)
}

func (textMap) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	traceContext.Inject(ctx, c)
	bag := baggageWithColor(baggage.FromContext(ctx), color.From(ctx))
	if s := bag.String(); s != "" {
		c.Set("baggage", s)
		return
	}
	if old := c.Get("baggage"); old != "" {
		if s, changed := stripColorMembers(old); changed {
			c.Set("baggage", s)
		}
	}
}

func (textMap) Fields() []string { return []string{"traceparent", "tracestate", "baggage"} }

func extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	ctx = traceContext.Extract(ctx, c)
	ctx = baggageProp.Extract(ctx, c)
	if color.From(ctx) == "" {
		if v := baggage.FromContext(ctx).Member(ColorBaggageKey).Value(); v != "" {
			ctx = color.With(ctx, v) // With ignores an invalid color
		}
	}
	return ctx
}

// baggageWithColor returns bag with its bulwark.color member set to c, or removed when c is
// "" or not a valid color.
func baggageWithColor(bag baggage.Baggage, c string) baggage.Baggage {
	if !color.Valid(c) {
		if bag.Member(ColorBaggageKey).Key() == "" {
			return bag
		}
		return bag.DeleteMember(ColorBaggageKey)
	}
	if bag.Member(ColorBaggageKey).Value() == c {
		return bag
	}
	m, err := baggage.NewMemberRaw(ColorBaggageKey, c)
	if err != nil {
		return bag.DeleteMember(ColorBaggageKey)
	}
	if nb, err := bag.SetMember(m); err == nil {
		return nb
	}
	return bag.DeleteMember(ColorBaggageKey)
}

// stripColorBaggage removes bulwark.color members from every Baggage line of h.
func stripColorBaggage(h http.Header) bool {
	lines := h[baggageHeader]
	if len(lines) == 0 {
		return false
	}
	removed := false
	kept := lines[:0:0]
	for _, line := range lines {
		s, changed := stripColorMembers(line)
		removed = removed || changed
		if strings.TrimSpace(s) != "" {
			kept = append(kept, s)
		}
	}
	if !removed {
		return false
	}
	if len(kept) == 0 {
		delete(h, baggageHeader)
	} else {
		h[baggageHeader] = kept
	}
	return true
}

// stripColorMembers drops the list members of a baggage value whose key is bulwark.color
// (case-insensitive). Values are percent-encoded, so a raw comma always separates members.
func stripColorMembers(v string) (string, bool) {
	if !strings.Contains(strings.ToLower(v), ColorBaggageKey) {
		return v, false
	}
	parts := strings.Split(v, ",")
	kept := parts[:0]
	for _, p := range parts {
		key := p
		if i := strings.IndexAny(key, "=;"); i >= 0 {
			key = key[:i]
		}
		if strings.EqualFold(strings.TrimSpace(key), ColorBaggageKey) {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == len(parts) {
		return v, false
	}
	return strings.TrimSpace(strings.Join(kept, ",")), true
}
