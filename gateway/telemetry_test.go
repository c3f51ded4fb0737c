package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/observe"
)

// TestTracingSpansAndLogs: with tracing on, a request that fails locally and fails over makes
// a server span and one client span per attempt, with the attributes; the upstream gets the
// attempt's traceparent; the access log line carries the trace id, the color and the masked
// keywords.
func TestTracingSpansAndLogs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	dead := newBackend(t, "sz-dead")
	dead.kill()
	seen := make(chan string, 4)
	sh := newBackend(t, "sh-a", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
	})))
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	mk := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		one := 1.0
		// sh does not trace: it passes sz's failover traceparent on to its host untouched.
		cfg.Tracing = config.Tracing{Enabled: center == "sz", SampleRate: &one}
		cfg.Keywords = config.Keywords{Headers: []string{"X-Order-Id"}, Query: []string{"user_id"}}
		cfg.Mask = config.Mask{Patterns: []string{`secret-\w+`}}
		addService(cfg, "songs", 2, map[string][]string{"sz": {dead.addr}, "sh": {sh.addr}}, false)
		return cfg
	}
	_, _ = startGateway(t, mk("sh"), shLn)
	g, logs := startGateway(t, mk("sz"), szLn, WithSpanExporter(exp))
	status, _, _ := fetch(t, http.MethodGet, "http://"+addrs["sz"]+"/api/songs?user_id=secret-42",
		http.Header{"X-Order-Id": {"o-7"}})
	if status != http.StatusOK {
		t.Fatalf("GET: %d", status)
	}
	tp := <-seen
	ctx := t.Context()
	if err := g.tel.tracing.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	server, local, fo := byName["GET /api/songs"], byName["local attempt"], byName["failover attempt"]
	if server.Name == "" || local.Name == "" || fo.Name == "" {
		t.Fatalf("spans %v; want the server span and a local and a failover attempt", names(spans))
	}
	if local.Parent.SpanID() != server.SpanContext.SpanID() || fo.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Fatal("the attempt spans are not children of the server span")
	}
	if !strings.Contains(tp, fo.SpanContext.SpanID().String()) || !strings.Contains(tp, server.SpanContext.TraceID().String()) {
		t.Fatalf("the remote got traceparent %q, want the failover span's", tp)
	}
	attrs := map[string]string{}
	for _, a := range server.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	for k, want := range map[string]string{"bulwark.outcome": "failover_ok", "bulwark.service": "songs", "bulwark.center": "sz",
		"keyword.x_order_id": "o-7", "keyword.user_id": "***"} {
		if attrs[k] != want {
			t.Errorf("server span %s = %q, want %q (all: %v)", k, attrs[k], want, attrs)
		}
	}
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["trace_id"] != server.SpanContext.TraceID().String() || line["keyword.x_order_id"] != "o-7" || line["keyword.user_id"] != "***" {
		t.Fatalf("access log line %v; want the trace id and the masked keywords", line)
	}
	if strings.Contains(logs.String(), "secret-42") {
		t.Fatal("a masked value reached the log")
	}
	// The sample rate changes at run time.
	if status, _, body := adminCall(t, g, http.MethodPut, "/tracing", "", `{"sample_rate":0.25}`); status != 200 ||
		!strings.Contains(string(body), `"sample_rate": 0.25`) {
		t.Fatalf("PUT /tracing: %d %s", status, body)
	}
	if status, _, _ := adminCall(t, g, http.MethodPut, "/tracing", "", `{"sample_rate":2}`); status != 400 {
		t.Fatalf("PUT /tracing out of range: %d", status)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestContinuousProfiling: with profiling on, the gateway writes CPU and heap profiles into
// the directory, named for its service and instance, and counts them.
func TestContinuousProfiling(t *testing.T) {
	dir := t.TempDir()
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String(), "sh": "127.0.0.1:1"})
	cfg.Profiling = config.Profiling{Enabled: true, Dir: dir, Interval: config.Duration(time.Second),
		Duration: config.Duration(200 * time.Millisecond)}
	addService(cfg, "songs", 2, map[string][]string{"sz": {"127.0.0.1:1"}, "sh": {"127.0.0.1:1"}}, false)
	g, _ := startGateway(t, cfg, ln)
	eventually(t, 10*time.Second, "a CPU and a heap profile", func() bool {
		files, _ := observe.List(dir, time.Time{}, "")
		kinds := map[string]bool{}
		for _, f := range files {
			kinds[f.Kind] = true
		}
		return kinds["cpu"] && kinds["heap"]
	})
	if g.tel.profiler.Stats().Written < 2 {
		t.Fatalf("profiler stats %+v", g.tel.profiler.Stats())
	}
}
