package observe_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/observe"
)

func Example() {
	ctx := context.Background()

	// Tracing: off here (Enabled: false) so the example needs no collector; with
	// Enabled: true and an Endpoint the same calls export over OTLP.
	tracing, err := observe.NewTracing(ctx, observe.TracingConfig{SampleRate: 0.01, ServiceName: "gateway"})
	if err != nil {
		panic(err)
	}
	defer tracing.Shutdown(ctx)
	tracing.SetSampleRate(0.05) // e.g. from the admin API

	// Masking and keywords, from the config's mask.* and keywords.*.
	masker, _ := observe.NewMasker(nil, []string{`\d{12,19}`})
	keywords, _ := observe.NewKeywords([]string{"X-Order-Id"}, []string{"user_id"}, masker)

	// Logs carry trace ids.
	logger := slog.New(observe.NewLogHandler(slog.NewTextHandler(os.Stdout,
		&slog.HandlerOptions{ReplaceAttr: dropTime})))

	r := httptest.NewRequest("GET", "/songs?user_id=4111111111111111", nil)
	r.Header.Set("X-Order-Id", "o-42")
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.Header.Set("Baggage", "bulwark.color=stress")

	// On the way in: trace context and color from the headers.
	ctx = observe.HTTP{}.Extract(ctx, r.Header)
	ctx, span := tracing.Tracer("gateway").Start(ctx, "GET /songs")
	span.SetAttributes(keywords.Attrs(r)...)
	logger.InfoContext(ctx, "request", "color", color.From(ctx))
	span.End()

	// On the way out: the color goes on in the baggage.
	out := http.Header{}
	observe.HTTP{}.Inject(ctx, out)
	fmt.Println("baggage:", out.Get("Baggage"))
	for _, a := range keywords.LogAttrs(r) {
		fmt.Println(a)
	}
	fmt.Println("sample rate:", tracing.SampleRate())
	// Output:
	// level=INFO msg=request color=stress trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
	// baggage: bulwark.color=stress
	// keyword.x_order_id=o-42
	// keyword.user_id=***
	// sample rate: 0.05
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func ExampleProfiler() {
	dir, _ := os.MkdirTemp("", "profiles")
	defer os.RemoveAll(dir)
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: dir, Service: "gateway", Instance: "sz-1",
		Interval: 5 * time.Minute, Duration: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	p.Start()
	defer p.Stop()

	// Later, or from `bulwark profiles ls --dir DIR --since 1h`:
	files, _ := observe.List(dir, time.Now().Add(-time.Hour), "gateway")
	fmt.Println(len(files), "profiles so far; names look like",
		observe.ProfileName("gateway", "sz-1", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), observe.ProfileCPU))
	// Output: 0 profiles so far; names look like gateway_sz-1_20260301T120000Z_cpu.pprof
}
