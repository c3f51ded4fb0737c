package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
)

// noIOEngine answers every attempt at once with a canned 200, so that a benchmark measures the
// gateway's decisions and not the network.
type noIOEngine struct {
	resp *forward.Response
	vals [4]string
}

func (e *noIOEngine) RoundTrip(*forward.Request) (*forward.Response, error) { return e.resp, nil }

func (e *noIOEngine) WriteResponse(w http.ResponseWriter, r *forward.Response, set [][2]string, _ []string) error {
	h := w.Header()
	for i, kv := range set {
		e.vals[i] = kv[1]
		h[kv[0]] = e.vals[i : i+1 : i+1]
	}
	w.WriteHeader(r.StatusCode)
	return nil
}

func (e *noIOEngine) Close() {}

// discardResponseWriter is a ResponseWriter that keeps one header map.
type discardResponseWriter struct {
	h    http.Header
	code int
}

func (w *discardResponseWriter) Header() http.Header         { return w.h }
func (w *discardResponseWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardResponseWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkDecisionChain runs the whole request path of a read with the default protections
// on (route, block and frequency rules, route rate limit, BBR level admission, per-service
// admission, degrade switch, host pick with its breaker, EMA timeout, metrics) without I/O.
// Target: ≤ 1 µs and ≤ 2 allocs per request.
func BenchmarkDecisionChain(b *testing.B) {
	b.Run("tracing-off", func(b *testing.B) { benchDecisionChain(b, nil, false) })
	one := 0.01
	b.Run("tracing-1pct", func(b *testing.B) {
		benchDecisionChain(b, &config.Tracing{Enabled: true, SampleRate: &one}, false)
	})
	b.Run("access-log", func(b *testing.B) { benchDecisionChain(b, nil, true) })
}

// benchDecisionChain runs a whole read through ServeHTTP with the default protections and an
// engine without I/O; with tracing, spans go to an exporter that discards them; with the
// access log, its JSON lines are encoded and discarded.
func benchDecisionChain(b *testing.B, tracing *config.Tracing, accessLog bool) {
	cfg := testConfig("sz", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	cfg.Log.Access = &accessLog
	svc := addService(cfg, "songs", 1, map[string][]string{"sz": {"127.0.0.1:7001", "127.0.0.1:7002"}, "sh": {"127.0.0.1:7101"}}, false)
	svc.RateLimit = &config.RateLimit{Limit: 1 << 30}
	cfg.Block = []*config.Block{{CIDR: "203.0.113.0/24"}, {Header: "User-Agent", Pattern: "^BadBot"}}
	cfg.Limits = []*config.Limit{{Key: "header:X-User-Id", Limit: 1, Paths: []string{"/api/claim"}}}
	opts := []Option{WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), WithCPU(pinnedCPU(100))}
	if tracing != nil {
		cfg.Tracing = *tracing
		opts = append(opts, WithSpanExporter(tracetest.NewNoopExporter()))
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.tel.stop() })
	g.fwd = &noIOEngine{resp: &forward.Response{Response: &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: -1}}}
	req := httptest.NewRequest(http.MethodGet, "http://example.com/api/songs/1", nil)
	w := &discardResponseWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		g.ServeHTTP(w, req)
	}
	if w.code != 200 {
		b.Fatalf("status %d", w.code)
	}
}
