package observe_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/observe"
)

// obsPropagator is httpmw.Propagator's method set, restated: observe may not import httpmw.
type obsPropagator interface {
	Extract(ctx context.Context, h http.Header) context.Context
	Inject(ctx context.Context, h http.Header)
}

var _ obsPropagator = observe.HTTP{}

var obsSC = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
})

const obsTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestHTTPInjectExtractRoundTrip(t *testing.T) {
	ctx := trace.ContextWithSpanContext(context.Background(), obsSC)
	ctx = color.With(ctx, "stress")
	m, _ := baggage.NewMember("tenant", "t1")
	bag, _ := baggage.New(m)
	ctx = baggage.ContextWithBaggage(ctx, bag)

	h := http.Header{}
	observe.HTTP{}.Inject(ctx, h)
	if got := h.Get("Traceparent"); got != obsTraceparent {
		t.Fatalf("traceparent = %q", got)
	}
	out, _ := baggage.Parse(h.Get("Baggage"))
	if out.Member("bulwark.color").Value() != "stress" || out.Member("tenant").Value() != "t1" {
		t.Fatalf("baggage = %q", h.Get("Baggage"))
	}

	got := observe.HTTP{}.Extract(context.Background(), h)
	if sc := trace.SpanContextFromContext(got); !sc.IsRemote() || sc.TraceID() != obsSC.TraceID() || !sc.IsSampled() {
		t.Fatalf("extracted span context = %+v", sc)
	}
	if c := color.From(got); c != "stress" {
		t.Fatalf("color = %q", c)
	}
	if v := baggage.FromContext(got).Member("tenant").Value(); v != "t1" {
		t.Fatalf("tenant = %q", v)
	}
}

func TestHTTPExtract(t *testing.T) {
	base := context.Background()
	tests := []struct {
		name      string
		ctx       context.Context
		h         http.Header
		color     string
		same      bool // Extract must return ctx itself
		remoteSet bool
	}{
		{"nothing", base, http.Header{"Accept": {"*/*"}}, "", true, false},
		{"only Bulwark-Color is not its job", base, http.Header{color.Header: {"stress"}}, "", true, false},
		{"traceparent", base, http.Header{"Traceparent": {obsTraceparent}}, "", false, true},
		{"color from baggage", base, http.Header{"Baggage": {"bulwark.color=stress"}}, "stress", false, false},
		{"invalid color ignored", base, http.Header{"Baggage": {"bulwark.color=a%20b"}}, "", false, false},
		{"too long color ignored", base, http.Header{"Baggage": {"bulwark.color=" + strings.Repeat("x", 65)}}, "", false, false},
		{"existing color stands", color.With(base, "canary"), http.Header{"Baggage": {"bulwark.color=stress"}}, "canary", false, false},
		{"malformed baggage", base, http.Header{"Baggage": {"==,;"}}, "", true, false},
		{"bad traceparent", base, http.Header{"Traceparent": {"00-zz-yy-01"}}, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := observe.HTTP{}.Extract(tt.ctx, tt.h)
			if tt.same && got != tt.ctx {
				t.Fatal("Extract made a new context from headers that carry nothing")
			}
			if c := color.From(got); c != tt.color {
				t.Fatalf("color = %q, want %q", c, tt.color)
			}
			if r := trace.SpanContextFromContext(got).IsRemote(); r != tt.remoteSet {
				t.Fatalf("remote span context set = %v", r)
			}
		})
	}
}

func TestHTTPInjectKeepsBaggageInLineWithColor(t *testing.T) {
	withBag := func(ctx context.Context, s string) context.Context {
		b, err := baggage.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return baggage.ContextWithBaggage(ctx, b)
	}
	base := context.Background()
	tests := []struct {
		name    string
		ctx     context.Context
		h       http.Header
		want    []string // Baggage lines after Inject; nil: no header
		wantBag map[string]string
	}{
		{"no color, no baggage", base, http.Header{}, nil, nil},
		{"color only", color.With(base, "stress"), http.Header{}, nil, map[string]string{"bulwark.color": "stress"}},
		{"ctx color replaces a baggage color", withBag(color.With(base, "stress"), "bulwark.color=other,a=1"),
			http.Header{}, nil, map[string]string{"bulwark.color": "stress", "a": "1"}},
		{"stripped color leaves the ctx baggage", withBag(base, "bulwark.color=stress,a=1"), http.Header{},
			nil, map[string]string{"a": "1"}},
		{"stale header member removed", base, http.Header{"Baggage": {"a=1, bulwark.color=stress", "bulwark.color=x"}},
			[]string{"a=1"}, nil},
		{"stale header of only a color dropped", base, http.Header{"Baggage": {"Bulwark.Color=stress"}}, nil, nil},
		{"other header baggage kept", base, http.Header{"Baggage": {"a=1;p=2"}}, []string{"a=1;p=2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			observe.HTTP{}.Inject(tt.ctx, tt.h)
			if tt.wantBag != nil {
				b, err := baggage.Parse(tt.h.Get("Baggage"))
				if err != nil || b.Len() != len(tt.wantBag) {
					t.Fatalf("baggage = %q (%v), want %v", tt.h.Get("Baggage"), err, tt.wantBag)
				}
				for k, v := range tt.wantBag {
					if b.Member(k).Value() != v {
						t.Fatalf("baggage = %q, want %v", tt.h.Get("Baggage"), tt.wantBag)
					}
				}
				return
			}
			if got := tt.h["Baggage"]; strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("Baggage = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStripColor(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		removed bool
		left    []string
	}{
		{"none", http.Header{"Baggage": {"a=1"}}, false, []string{"a=1"}},
		{"header", http.Header{color.Header: {"stress"}}, true, nil},
		{"member", http.Header{"Baggage": {"bulwark.color=stress;p, a=1"}}, true, []string{"a=1"}},
		{"malformed member still removed", http.Header{"Baggage": {"bulwark.color = stress , ,x"}}, true, []string{",x"}},
		{"both", http.Header{color.Header: {"s"}, "Baggage": {"bulwark.color=s"}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := observe.StripColor(tt.h); got != tt.removed {
				t.Fatalf("StripColor = %v", got)
			}
			if len(tt.h[color.Header]) != 0 {
				t.Fatal("Bulwark-Color left")
			}
			if strings.Join(tt.h["Baggage"], "|") != strings.Join(tt.left, "|") {
				t.Fatalf("Baggage = %q, want %q", tt.h["Baggage"], tt.left)
			}
			if c := color.From(observe.HTTP{}.Extract(context.Background(), tt.h)); c != "" {
				t.Fatalf("a color survived: %q", c)
			}
		})
	}
}

func TestTextMapPropagator(t *testing.T) {
	p := observe.TextMapPropagator()
	ctx := color.With(trace.ContextWithSpanContext(context.Background(), obsSC), "stress")
	c := propagation.MapCarrier{}
	p.Inject(ctx, c)
	if c["traceparent"] != obsTraceparent || c["baggage"] != "bulwark.color=stress" {
		t.Fatalf("carrier = %v", c)
	}
	got := p.Extract(context.Background(), c)
	if color.From(got) != "stress" || trace.SpanContextFromContext(got).TraceID() != obsSC.TraceID() {
		t.Fatal("round trip through a MapCarrier lost something")
	}
	c2 := propagation.MapCarrier{"baggage": "bulwark.color=stress,a=1"}
	p.Inject(context.Background(), c2)
	if c2["baggage"] != "a=1" {
		t.Fatalf("stale color not stripped: %v", c2)
	}
	if f := p.Fields(); strings.Join(f, ",") != "traceparent,tracestate,baggage" {
		t.Fatalf("Fields = %v", f)
	}
}

func BenchmarkHTTPExtract(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    http.Header
	}{
		{"none", http.Header{"Accept": {"*/*"}}},
		{"traceparent+color", http.Header{"Traceparent": {obsTraceparent}, "Baggage": {"bulwark.color=stress"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				observe.HTTP{}.Extract(ctx, bc.h)
			}
		})
	}
}

func TestHTTPExtractNothingAllocsNothing(t *testing.T) {
	h := http.Header{"Accept": {"*/*"}}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { observe.HTTP{}.Extract(ctx, h) }); n != 0 {
		t.Fatalf("Extract without trace headers allocates %v times", n)
	}
}

func FuzzHTTPExtract(f *testing.F) {
	f.Add(obsTraceparent, "bulwark.color=stress,a=1", "")
	f.Add("", "bulwark.color=%ZZ", "x")
	f.Add("00-00000000000000000000000000000000-0000000000000000-00", "bulwark.color=a;b=c", "")
	f.Fuzz(func(t *testing.T, tp, bag, extra string) {
		h := http.Header{"Traceparent": {tp}, "Baggage": {bag, extra}}
		ctx := observe.HTTP{}.Extract(context.Background(), h)
		if c := color.From(ctx); c != "" && !color.Valid(c) {
			t.Fatalf("invalid color %q got through", c)
		}
		out := http.Header{}
		observe.HTTP{}.Inject(ctx, out)
		if c := color.From(ctx); c != "" {
			b, err := baggage.Parse(out.Get("Baggage"))
			if err != nil || b.Member("bulwark.color").Value() != c {
				t.Fatalf("color %q not injected: %q", c, out.Get("Baggage"))
			}
		}
		observe.StripColor(h)
		if c := color.From(observe.HTTP{}.Extract(context.Background(), h)); c != "" {
			t.Fatalf("color %q survived StripColor: %q", c, h["Baggage"])
		}
	})
}
