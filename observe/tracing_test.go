package observe_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/promcheck"
	"github.com/bulwark-go/bulwark/observe"
)

func obsNewTracing(t *testing.T, cfg observe.TracingConfig) *observe.Tracing {
	t.Helper()
	tr, err := observe.NewTracing(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr.Shutdown(ctx)
	})
	return tr
}

func obsFlush(t *testing.T, tr *observe.Tracing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
}

func TestTracingExportsToOTLPCollector(t *testing.T) {
	httpC, httpURL := obsHTTPCollector(t)
	grpcC, grpcAddr := obsGRPCCollector(t)
	tests := []struct {
		name string
		cfg  observe.TracingConfig
		c    *obsCollector
		env  map[string]string
	}{
		{"http URL", observe.TracingConfig{Endpoint: httpURL, Headers: map[string]string{"X-Api-Key": "k1"}}, httpC, nil},
		{"http host:port insecure", observe.TracingConfig{Endpoint: strings.TrimPrefix(httpURL, "http://"), Insecure: true}, httpC, nil},
		{"http from OTEL env", observe.TracingConfig{}, httpC, map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": httpURL, "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=k2"}},
		{"grpc", observe.TracingConfig{Protocol: "grpc", Endpoint: grpcAddr, Insecure: true}, grpcC, nil},
		{"grpc from OTEL env protocol", observe.TracingConfig{Endpoint: "http://" + grpcAddr}, grpcC, map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg := tt.cfg
			cfg.Enabled, cfg.SampleRate, cfg.ServiceName, cfg.Instance = true, 1, "gw-"+tt.name, "sz-1"
			tr := obsNewTracing(t, cfg)
			before := len(tt.c.Spans())
			ctx, span := tr.Tracer("test").Start(context.Background(), "proxy "+tt.name,
				trace.WithAttributes(attribute.String("center", "sz"), attribute.String("keyword.x_order_id", "o-42")))
			_, child := tr.Tracer("test").Start(ctx, "attempt")
			child.End()
			span.End()
			obsFlush(t, tr)
			got := obsWaitSpans(t, tt.c, before+2)[before:]
			byName := map[string]obsSpan{}
			for _, s := range got {
				byName[s.Name] = s
			}
			root, ok := byName["proxy "+tt.name]
			if !ok {
				t.Fatalf("root span missing; got %+v", got)
			}
			if root.Attrs["center"] != "sz" || root.Attrs["keyword.x_order_id"] != "o-42" {
				t.Errorf("root attributes = %v", root.Attrs)
			}
			if root.Resource["service.name"] != cfg.ServiceName || root.Resource["service.instance.id"] != "sz-1" {
				t.Errorf("resource = %v", root.Resource)
			}
			if c := byName["attempt"]; string(c.TraceID) != string(root.TraceID) {
				t.Errorf("child in another trace")
			}
			if st := tr.Stats(); st.Exported != 2 || st.Dropped != 0 || st.Queued != 0 || st.ExportErrors != 0 {
				t.Errorf("Stats = %+v, want 2 exported", st)
			}
			if tt.c == httpC && cfg.Headers != nil || tt.env["OTEL_EXPORTER_OTLP_HEADERS"] != "" {
				h := httpC.Headers()
				want := "k1"
				if tt.env != nil {
					want = "k2"
				}
				if got := h[len(h)-1].Get("X-Api-Key"); got != want {
					t.Errorf("X-Api-Key = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestTracingExportErrorsAreCounted(t *testing.T) {
	_, url := obsHTTPCollector(t)
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, SampleRate: 1, Endpoint: url + "/nowhere"})
	_, s := tr.Tracer("t").Start(context.Background(), "lost")
	s.End()
	obsFlush(t, tr)
	if st := tr.Stats(); st.ExportErrors != 1 || st.Failed != 1 || st.Exported != 0 || st.Queued != 0 {
		t.Fatalf("Stats = %+v, want one failed export of one span", st)
	}
}

func TestTracingDisabledIsNoop(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  observe.TracingConfig
		env  string
	}{
		{"disabled", observe.TracingConfig{SampleRate: 1}, ""},
		{"OTEL_SDK_DISABLED", observe.TracingConfig{Enabled: true, SampleRate: 1}, "true"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_SDK_DISABLED", tt.env)
			tr := obsNewTracing(t, tt.cfg)
			if tr.Enabled() {
				t.Fatal("Enabled")
			}
			_, s := tr.Tracer("t").Start(context.Background(), "x")
			if s.IsRecording() || s.SpanContext().IsValid() {
				t.Fatal("a disabled tracer made a real span")
			}
			s.End()
			if st := tr.Stats(); st != (observe.TracingStats{}) {
				t.Fatalf("Stats = %+v", st)
			}
			if err := tr.SetSampleRate(0.5); err != nil || tr.SampleRate() != 0.5 {
				t.Fatalf("SetSampleRate while off: %v, rate %v", err, tr.SampleRate())
			}
		})
	}
}

func TestNewTracingRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  observe.TracingConfig
		want string
	}{
		{"negative rate", observe.TracingConfig{Enabled: true, SampleRate: -0.1}, "[0, 1]"},
		{"rate above 1", observe.TracingConfig{Enabled: true, SampleRate: 1.5}, "[0, 1]"},
		{"NaN rate", observe.TracingConfig{Enabled: true, SampleRate: math.NaN()}, "[0, 1]"},
		{"bad rate even when off", observe.TracingConfig{SampleRate: 2}, "[0, 1]"},
		{"protocol", observe.TracingConfig{Enabled: true, Protocol: "http/json"}, "http or grpc"},
		{"negative queue", observe.TracingConfig{Enabled: true, Queue: -1}, "≥ 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := observe.NewTracing(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// obsExporter records exported spans; with gate set, every export waits on it.
type obsExporter struct {
	gate    chan struct{} // nil: do not block
	entered chan struct{} // receives once per export call, if not nil
	mu      sync.Mutex
	names   []string
	calls   int
}

func (e *obsExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.entered != nil {
		e.entered <- struct{}{}
	}
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	for _, s := range spans {
		e.names = append(e.names, s.Name())
	}
	return nil
}

func (e *obsExporter) Shutdown(context.Context) error { return nil }

func (e *obsExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.names)
}

func TestQueueDropsExactlyAndNeverBlocks(t *testing.T) {
	const queue, extra = 4, 7
	exp := &obsExporter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, SampleRate: 1, Queue: queue, BatchSize: 1, Exporter: exp})
	tracer := tr.Tracer("t")
	end := func(name string) {
		_, s := tracer.Start(context.Background(), name)
		s.End()
	}
	end("first")
	<-exp.entered // the worker holds "first" inside a blocked export
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range queue + extra {
			end("more")
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("End blocked while the exporter was stuck")
	}
	st := tr.Stats()
	if st.Dropped != extra || st.Queued != queue+1 || st.Exported != 0 {
		t.Fatalf("Stats with a stuck exporter = %+v, want dropped %d, queued %d", st, extra, queue+1)
	}
	close(exp.gate)
	go func() { // drain the remaining "entered" signals
		for range exp.entered {
		}
	}()
	obsFlush(t, tr)
	st = tr.Stats()
	if st.Dropped != extra || st.Exported != queue+1 || st.Queued != 0 || exp.count() != queue+1 {
		t.Fatalf("Stats after release = %+v (exporter saw %d), want %d exported", st, exp.count(), queue+1)
	}
}

func TestQueueConcurrentTotalsAreExact(t *testing.T) {
	const goroutines, perG = 8, 500
	exp := &obsExporter{}
	tr, err := observe.NewTracing(context.Background(),
		observe.TracingConfig{Enabled: true, SampleRate: 1, Queue: 64, BatchSize: 16, Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Tracer("t")
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perG {
				_, s := tracer.Start(context.Background(), "s")
				s.End()
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	if st.Dropped+st.Exported != goroutines*perG || st.Exported != uint64(exp.count()) || st.Queued != 0 {
		t.Fatalf("Stats = %+v, exporter saw %d: dropped + exported must be %d", st, exp.count(), goroutines*perG)
	}
	t.Logf("dropped %d of %d with a queue of 64", st.Dropped, goroutines*perG)
}

func TestQueueExportsAfterBatchTimeout(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	exp := &obsExporter{}
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, SampleRate: 1, BatchSize: 10,
		BatchTimeout: 2 * time.Second, Exporter: exp, Clock: fake})
	fake.BlockUntil(1) // the worker's batch timer
	_, s := tr.Tracer("t").Start(context.Background(), "lonely")
	s.End()
	deadline := time.Now().Add(5 * time.Second)
	for tr.Stats().Queued != 1 && time.Now().Before(deadline) { // the span reaches the worker's batch
		time.Sleep(time.Millisecond)
	}
	fake.Advance(1999 * time.Millisecond)
	if exp.count() != 0 {
		t.Fatal("exported before the batch timeout")
	}
	fake.Advance(time.Millisecond)
	for exp.count() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if exp.count() != 1 {
		t.Fatal("not exported after the batch timeout")
	}
}

func TestSamplingIsParentBasedWithRuntimeRate(t *testing.T) {
	remote := func(sampled bool) context.Context {
		flags := trace.TraceFlags(0)
		if sampled {
			flags = trace.FlagsSampled
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5},
			TraceFlags: flags, Remote: true})
		return trace.ContextWithRemoteSpanContext(context.Background(), sc)
	}
	tests := []struct {
		name    string
		rate    float64
		parent  context.Context
		sampled int // of 200 spans
	}{
		{"rate 0 samples no root", 0, context.Background(), 0},
		{"rate 1 samples every root", 1, context.Background(), 200},
		{"rate 0 honours a sampled remote parent", 0, remote(true), 200},
		{"rate 1 honours an unsampled remote parent", 1, remote(false), 0},
	}
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, Exporter: &obsExporter{}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tr.SetSampleRate(tt.rate); err != nil {
				t.Fatal(err)
			}
			n := 0
			for range 200 {
				_, s := tr.Tracer("t").Start(tt.parent, "s")
				if s.SpanContext().IsSampled() {
					n++
				}
				s.End()
			}
			if n != tt.sampled {
				t.Fatalf("sampled %d of 200, want %d", n, tt.sampled)
			}
		})
	}
	t.Run("rate 0.5 samples about half", func(t *testing.T) {
		tr.SetSampleRate(0.5)
		n := 0
		for range 2000 {
			_, s := tr.Tracer("t").Start(context.Background(), "s")
			if s.SpanContext().IsSampled() {
				n++
			}
			s.End()
		}
		if n < 800 || n > 1200 {
			t.Fatalf("sampled %d of 2000 at rate 0.5", n)
		}
	})
	t.Run("bad rate keeps the old one", func(t *testing.T) {
		tr.SetSampleRate(0.25)
		for _, r := range []float64{-1, 1.01, math.NaN(), math.Inf(1)} {
			if err := tr.SetSampleRate(r); err == nil {
				t.Errorf("SetSampleRate(%v) accepted", r)
			}
		}
		if tr.SampleRate() != 0.25 {
			t.Fatalf("rate = %v after bad sets", tr.SampleRate())
		}
	})
}

func TestSetSampleRateConcurrent(t *testing.T) {
	exp := &obsExporter{}
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, SampleRate: 1, Queue: 100000, Exporter: exp})
	const setters, starters, perG = 4, 4, 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	sampled := 0
	for i := range setters {
		wg.Go(func() {
			for j := range perG {
				if err := tr.SetSampleRate(float64((i+j)%2) * 1); err != nil {
					t.Error(err)
				}
				_ = tr.SampleRate()
			}
		})
	}
	for range starters {
		wg.Go(func() {
			n := 0
			for range perG {
				_, s := tr.Tracer("t").Start(context.Background(), "s")
				if s.SpanContext().IsSampled() {
					n++
				}
				s.End()
			}
			mu.Lock()
			sampled += n
			mu.Unlock()
		})
	}
	wg.Wait()
	obsFlush(t, tr)
	if st := tr.Stats(); st.Exported != uint64(sampled) || exp.count() != sampled || st.Dropped != 0 {
		t.Fatalf("sampled %d, Stats %+v, exporter %d: every sampled span must be exported once", sampled, st, exp.count())
	}
	if r := tr.SampleRate(); r != 0 && r != 1 {
		t.Fatalf("rate = %v, want one of the values set", r)
	}
}

func TestTracingMetricsPassPromtool(t *testing.T) {
	exp := &obsExporter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	tr := obsNewTracing(t, observe.TracingConfig{Enabled: true, SampleRate: 1, Queue: 1, BatchSize: 1, Exporter: exp})
	t.Cleanup(func() { close(exp.gate) })
	for i := range 3 {
		_, s := tr.Tracer("t").Start(context.Background(), "s")
		s.End()
		if i == 0 {
			<-exp.entered
		}
	}
	tr.SetSampleRate(0.5)
	body := promcheck.Scrape(t, tr)
	for _, want := range []string{"bulwark_spans_dropped_total 1", "bulwark_span_queue_length 2", "bulwark_trace_sample_rate 0.5"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	promcheck.Check(t, body, observe.MetricSpansDropped, observe.MetricSpanQueueLength, observe.MetricTraceSampleRate)
}
