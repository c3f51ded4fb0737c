package observe

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults of TracingConfig.
const (
	DefaultQueue        = 2048            // spans waiting for export, as the SDK's batch processor
	DefaultBatchSize    = 512             // spans per export call
	DefaultBatchTimeout = 5 * time.Second // longest a span waits for a batch to fill
	DefaultServiceName  = "bulwark"       // when neither ServiceName nor OTEL_SERVICE_NAME is set
	exportTimeout       = 10 * time.Second
)

// Export protocols of TracingConfig.Protocol.
const (
	ProtocolHTTP = "http" // OTLP over HTTP with protobuf bodies (port 4318)
	ProtocolGRPC = "grpc" // OTLP over gRPC (port 4317)
)

// TracingConfig configures NewTracing. The zero value is "tracing off".
//
// Fields left empty fall back to the standard OpenTelemetry environment, which the OTLP
// exporters read themselves: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_INSECURE and friends; Protocol falls back to
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL; ServiceName to
// OTEL_SERVICE_NAME. A field that is set wins over the environment. OTEL_SDK_DISABLED=true
// turns tracing off whatever Enabled says.
type TracingConfig struct {
	// Enabled turns tracing on. Off, NewTracing returns a no-op provider that costs nothing.
	Enabled bool
	// Endpoint is the collector: a URL or a host:port. For HTTP a URL without a path is a
	// base, like OTEL_EXPORTER_OTLP_ENDPOINT (http://host:4318 sends to /v1/traces), and a
	// URL with a path is used as it is (https://host/custom/traces). Empty uses the
	// environment, and then the exporter's default (localhost:4318 for HTTP, localhost:4317
	// for gRPC).
	Endpoint string
	// Protocol is "http" (the default; "http/protobuf" is accepted) or "grpc".
	Protocol string
	// Headers are sent with every export, e.g. an API key.
	Headers map[string]string
	// Insecure sends without TLS when Endpoint is a host:port. A URL's scheme decides itself.
	Insecure bool
	// SampleRate is the share of new traces sampled, in [0, 1]. It is used as given: 0
	// samples no trace this process starts, though a caller's sampled traceparent is
	// still honoured (parent-based sampling).
	SampleRate float64
	// Queue is the number of ended spans that may wait for export; more are dropped and
	// counted. 0 means DefaultQueue.
	Queue int
	// ServiceName and Instance become the resource attributes service.name and
	// service.instance.id. Instance defaults to the host name.
	ServiceName, Instance string

	// BatchSize is the most spans per export call; 0 means DefaultBatchSize.
	BatchSize int
	// BatchTimeout is the longest a queued span waits before it is exported even if the
	// batch is not full; 0 means DefaultBatchTimeout.
	BatchTimeout time.Duration
	// Exporter replaces the OTLP exporter (tests, or another backend). Endpoint, Protocol,
	// Headers and Insecure are then ignored.
	Exporter sdktrace.SpanExporter
	// Clock times BatchTimeout; nil is the real clock.
	Clock clock.Clock
}

// TracingStats are the export queue's counts. They are read one by one, so under load they
// need not agree exactly with one another.
type TracingStats struct {
	// Dropped counts sampled spans that ended while the queue was full, or after Shutdown:
	// they were never sent (bulwark_spans_dropped_total).
	Dropped uint64 `json:"dropped"`
	// Queued is the spans accepted and not yet through the exporter: the queue plus the
	// batch being exported (bulwark_span_queue_length).
	Queued int64 `json:"queued"`
	// Exported counts spans in export calls that succeeded.
	Exported uint64 `json:"exported"`
	// Failed counts spans in export calls that failed (after the exporter's own retries).
	Failed uint64 `json:"failed"`
	// ExportErrors counts export calls that failed.
	ExportErrors uint64 `json:"export_errors"`
}

// Tracing owns a tracer provider, its sampler and its export queue.
type Tracing struct {
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when disabled
	proc     *queueProcessor          // nil when disabled
	sampler  *ratioSampler
}

// NewTracing builds the tracer provider that cfg describes. When tracing is on it starts the
// export worker, which Shutdown stops; the exporter connects lazily, so an unreachable
// collector is not an error here (its spans fail to export and are counted). It returns an
// error for a rate outside [0, 1], a negative Queue or BatchSize, or an unknown protocol.
func NewTracing(ctx context.Context, cfg TracingConfig) (*Tracing, error) {
	sampler, err := newRatioSampler(cfg.SampleRate)
	if err != nil {
		return nil, err
	}
	t := &Tracing{sampler: sampler}
	if !cfg.Enabled || strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		t.provider = noop.NewTracerProvider()
		return t, nil
	}
	if cfg.Queue < 0 || cfg.BatchSize < 0 || cfg.BatchTimeout < 0 {
		return nil, fmt.Errorf("observe: tracing queue, batch size and batch timeout must be ≥ 0, got %d, %d, %v",
			cfg.Queue, cfg.BatchSize, cfg.BatchTimeout)
	}
	queue := orDefault(cfg.Queue, DefaultQueue)
	batch := min(orDefault(cfg.BatchSize, DefaultBatchSize), queue)
	timeout := cfg.BatchTimeout
	if timeout == 0 {
		timeout = DefaultBatchTimeout
	}
	exp := cfg.Exporter
	if exp == nil {
		if exp, err = newExporter(ctx, cfg); err != nil {
			return nil, err
		}
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		exp.Shutdown(ctx)
		return nil, err
	}
	t.proc = newQueueProcessor(exp, queue, batch, timeout, exportTimeout, cfg.Clock)
	t.sdk = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sampler)),
		sdktrace.WithSpanProcessor(t.proc),
	)
	t.provider = t.sdk
	return t, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// protocol resolves cfg.Protocol and its environment fallbacks to ProtocolHTTP or ProtocolGRPC.
func protocol(p string) (string, error) {
	for _, env := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p != "" {
			break
		}
		p = strings.TrimSpace(os.Getenv(env))
	}
	switch strings.ToLower(p) {
	case "", "http", "http/protobuf":
		return ProtocolHTTP, nil
	case "grpc":
		return ProtocolGRPC, nil
	}
	return "", fmt.Errorf("observe: tracing protocol must be http or grpc, got %q", p)
}

func newExporter(ctx context.Context, cfg TracingConfig) (sdktrace.SpanExporter, error) {
	proto, err := protocol(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	isURL := strings.Contains(cfg.Endpoint, "://")
	if proto == ProtocolGRPC {
		var opts []otlptracegrpc.Option
		switch {
		case isURL:
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		case cfg.Endpoint != "":
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure && !isURL {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(cfg.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	var opts []otlptracehttp.Option
	switch {
	case isURL:
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("observe: tracing endpoint: %w", err)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces" // a base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	case cfg.Endpoint != "":
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Insecure && !isURL {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	return otlptracehttp.New(ctx, opts...)
}

// newResource merges the SDK's attributes, OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME and
// the config's service name and instance, later ones winning.
func newResource(ctx context.Context, cfg TracingConfig) (*resource.Resource, error) {
	name := cfg.ServiceName
	if name == "" {
		name = os.Getenv("OTEL_SERVICE_NAME")
	}
	if name == "" {
		name = DefaultServiceName
	}
	inst := cfg.Instance
	if inst == "" {
		inst, _ = os.Hostname()
	}
	attrs := []resource.Option{resource.WithTelemetrySDK(), resource.WithFromEnv(), resource.WithSchemaURL(semconv.SchemaURL)}
	kv := semconv.ServiceName(name)
	attrs = append(attrs, resource.WithAttributes(kv))
	if inst != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceInstanceID(inst)))
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("observe: tracing resource: %w", err)
	}
	return res, nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// TracerProvider returns the provider: the SDK's when enabled, a no-op one when not.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.provider }

// Tracer returns the named tracer of the provider.
func (t *Tracing) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return t.provider.Tracer(name, opts...)
}

// SetGlobal installs the provider and TextMapPropagator as the otel globals, for libraries
// that use otel.Tracer and otel.GetTextMapPropagator. Nothing else touches the globals.
func (t *Tracing) SetGlobal() {
	otel.SetTracerProvider(t.provider)
	otel.SetTextMapPropagator(TextMapPropagator())
}

// SetSampleRate changes the share of new traces sampled, at once and safely while spans
// start. A rate outside [0, 1] (or NaN) is an error and changes nothing. While tracing is
// off the rate is kept and reported but has no effect.
func (t *Tracing) SetSampleRate(r float64) error { return t.sampler.set(r) }

// SampleRate returns the current sample rate (bulwark_trace_sample_rate).
func (t *Tracing) SampleRate() float64 { return t.sampler.rate() }

// Stats returns the export queue's counts; all zero while tracing is off.
func (t *Tracing) Stats() TracingStats {
	p := t.proc
	if p == nil {
		return TracingStats{}
	}
	return TracingStats{
		Dropped:      p.dropped.Load(),
		Queued:       p.queued(),
		Exported:     p.exported.Load(),
		Failed:       p.failed.Load(),
		ExportErrors: p.exportErrs.Load(),
	}
}

// ForceFlush exports every span ended so far, and returns when that is done or ctx ends.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Shutdown ends tracing: spans already queued are exported (until ctx ends), the exporter is
// closed, and spans ended later are not recorded. Tracers keep working as no-ops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}
