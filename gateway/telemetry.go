package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/observe"
)

// Telemetry (issue 7; SEEDS.md D2, D3, D5):
//   - Tracing: a server span per request and a client span per upstream attempt (the local
//     attempts, the remote failover, the write forwarded to the primary, the fallback pool),
//     with the center, host, attempt, outcome and reject reason as attributes, and the
//     configured keywords, masked. W3C traceparent is extracted from the request and injected
//     into every attempt; the sampling decision (ParentBased(TraceIDRatioBased(rate))) is
//     the caller's when it sent one. Baggage is not re-injected: it travels as the request's
//     own header, after the color gate has stripped what may not pass, so a color the gateway
//     removed can never come back through the baggage.
//   - The sample rate changes at run time through PUT /tracing, and through the fleet's
//     switches when there is a fleet. Every other tracing, profiling and Sentry setting needs a
//     restart.
//   - Logs: every log line made with a request's context carries trace_id and span_id
//     (observe.NewLogHandler); the access log adds the color and the keywords; successful
//     requests' lines are sampled by log.success_sample, others always written.
//   - Panics go to Sentry when sentry.dsn is set; profiles are written when profiling is on.

// telemetry is what the gateway keeps of the observe package; it lives as long as the gateway.
type telemetry struct {
	tracing  *observe.Tracing
	tracer   trace.Tracer // nil while tracing is off: every span helper then does nothing
	prop     propagation.TextMapPropagator
	sentry   *observe.Sentry
	profiler *observe.Profiler
}

func newTelemetry(g *Gateway, cfg *config.Config) (*telemetry, error) {
	t := &telemetry{prop: propagation.TraceContext{}}
	tc := cfg.Tracing
	rate := 0.0
	if tc.SampleRate != nil {
		rate = *tc.SampleRate
	}
	tr, err := observe.NewTracing(context.Background(), observe.TracingConfig{
		Enabled: tc.Enabled, Endpoint: tc.Endpoint, Protocol: tc.Protocol, Headers: tc.Headers,
		Insecure: tc.Insecure, SampleRate: rate, Queue: tc.Queue, ServiceName: "bulwark-gateway",
		Instance: cfg.Instance, Exporter: g.spanExporter,
	})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	t.tracing = tr
	if tr.Enabled() {
		t.tracer = tr.Tracer("github.com/bulwark-go/bulwark/gateway")
	}
	if cfg.Sentry.DSN != "" {
		masker, err := observe.NewMasker(cfg.Mask.Keys, cfg.Mask.Patterns)
		if err != nil {
			return nil, fmt.Errorf("mask: %w", err)
		}
		if t.sentry, err = observe.NewSentry(observe.SentryConfig{DSN: cfg.Sentry.DSN, Environment: cfg.Sentry.Environment,
			ServerName: cfg.Instance, Masker: masker}); err != nil {
			return nil, fmt.Errorf("sentry: %w", err)
		}
	}
	if p := cfg.Profiling; p.Enabled {
		if t.profiler, err = observe.NewProfiler(observe.ProfilerConfig{Dir: p.Dir, Service: "gateway-" + cfg.Center,
			Instance: cfg.Instance, Interval: p.Interval.D(), Duration: p.Duration.D(), Keep: p.Keep,
			MaxAge: p.MaxAge.D(), Logger: g.log}); err != nil {
			return nil, fmt.Errorf("profiling: %w", err)
		}
	}
	return t, nil
}

// keywordsFor builds the keywords of a config (per state: they reload); nil, which records
// nothing, when none are configured.
func keywordsFor(cfg *config.Config) (*observe.Keywords, error) {
	if len(cfg.Keywords.Headers) == 0 && len(cfg.Keywords.Query) == 0 {
		return nil, nil
	}
	masker, err := observe.NewMasker(cfg.Mask.Keys, cfg.Mask.Patterns)
	if err != nil {
		return nil, fmt.Errorf("mask: %w", err)
	}
	kw, err := observe.NewKeywords(cfg.Keywords.Headers, cfg.Keywords.Query, masker)
	if err != nil {
		return nil, fmt.Errorf("keywords: %w", err)
	}
	return kw, nil
}

// startServerSpan starts the request's server span and puts it in the request's context.
// Attributes are set only on a span that records (sampled): an unsampled request pays for
// the span and its context, nothing more.
func (g *Gateway) startServerSpan(r *http.Request, x *exchange) *http.Request {
	t := g.tel
	if t.tracer == nil {
		return r
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, x.span = t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	if x.span.IsRecording() {
		x.span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
			attribute.String("bulwark.center", x.st.cfg.Center))
	}
	return r.WithContext(ctx)
}

// endServerSpan records the request's outcome on its span and ends it.
func (g *Gateway) endServerSpan(r *http.Request, x *exchange) {
	if x.span == nil {
		return
	}
	if !x.span.IsRecording() {
		x.span.End()
		return
	}
	attrs := []attribute.KeyValue{attribute.Int("http.response.status_code", x.status), attribute.String("bulwark.outcome", x.outcome)}
	if ro := x.route; ro != nil {
		x.span.SetName(r.Method + " " + ro.name)
		attrs = append(attrs, attribute.String("http.route", ro.name), attribute.String("bulwark.service", ro.svc.name),
			attribute.Int("bulwark.level", ro.level))
	}
	if x.reason != "" {
		attrs = append(attrs, attribute.String("bulwark.reject", x.reason))
	}
	if x.color != "" {
		attrs = append(attrs, attribute.String("bulwark.color", x.color))
	}
	if x.from != "" {
		attrs = append(attrs, attribute.String("bulwark.failover_from", x.from))
	}
	attrs = append(attrs, x.st.keywords.Attrs(r)...)
	x.span.SetAttributes(attrs...)
	if x.status >= 500 {
		x.span.SetStatus(codes.Error, x.outcome)
	}
	x.span.End()
}

// attempt is one upstream attempt's client span; the zero value (tracing off) does nothing.
type attempt struct{ span trace.Span }

// startAttempt starts a client span for one attempt of kind (local, failover, primary,
// fallback) at host, and returns the headers to send: hdrs plus the span's traceparent. For
// an unsampled request it makes no span and sends the server span's traceparent, so the
// decision not to sample still travels downstream.
func (g *Gateway) startAttempt(r *http.Request, x *exchange, kind, center, host string, hdrs [][2]string) (attempt, [][2]string) {
	t := g.tel
	if t.tracer == nil || x.span == nil {
		return attempt{}, hdrs
	}
	if !x.span.IsRecording() {
		return attempt{}, withTraceparent(hdrs, x.span.SpanContext())
	}
	_, span := t.tracer.Start(r.Context(), kind+" attempt", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("bulwark.attempt.kind", kind), attribute.String("bulwark.center", center),
			attribute.String("server.address", host), attribute.Int("bulwark.attempt", x.attempts)))
	return attempt{span}, withTraceparent(hdrs, span.SpanContext())
}

// withTraceparent returns hdrs plus the W3C traceparent of sc (and its tracestate).
func withTraceparent(hdrs [][2]string, sc trace.SpanContext) [][2]string {
	if !sc.IsValid() {
		return hdrs
	}
	out := make([][2]string, len(hdrs), len(hdrs)+2)
	copy(out, hdrs)
	tid, sid, flags := sc.TraceID(), sc.SpanID(), sc.TraceFlags()
	var b [55]byte
	n := copy(b[:], "00-")
	n += hex.Encode(b[n:], tid[:])
	b[n] = '-'
	n++
	n += hex.Encode(b[n:], sid[:])
	b[n] = '-'
	n++
	n += hex.Encode(b[n:], []byte{byte(flags)})
	out = append(out, [2]string{"Traceparent", string(b[:n])})
	if ts := sc.TraceState().String(); ts != "" {
		out = append(out, [2]string{"Tracestate", ts})
	}
	return out
}

// done ends the attempt's span with the attempt's response or error.
func (a attempt) done(resp *forward.Response, err error) {
	if a.span == nil {
		return
	}
	if err != nil {
		a.end(0, forward.Classify(err).String())
		return
	}
	a.end(resp.StatusCode, "")
}

// end records the attempt's result: its status (0 = no response) or the failure reason.
func (a attempt) end(status int, reason string) {
	if a.span == nil {
		return
	}
	if status > 0 {
		a.span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if reason != "" {
		a.span.SetAttributes(attribute.String("bulwark.outcome", reason))
		a.span.SetStatus(codes.Error, reason)
	} else if status >= 500 {
		a.span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	a.span.End()
}

// logSuccess reports whether a successful request's access-log line is written
// (log.success_sample); failed and refused requests' lines always are.
func logSuccess(st *state, x *exchange) bool {
	if x.status >= 400 || x.reason != "" || st.successSample >= 1 {
		return true
	}
	return st.successSample > 0 && rand.Float64() < st.successSample
}

// accessAttrs are the telemetry fields of an access-log line: trace and span ids come from
// the log handler; here the color and the keywords.
func accessAttrs(attrs []slog.Attr, st *state, r *http.Request, x *exchange) []slog.Attr {
	if x.color != "" {
		attrs = append(attrs, slog.String("color", x.color))
	}
	return append(attrs, st.keywords.LogAttrs(r)...)
}

func (t *telemetry) start() error {
	if t.profiler != nil {
		return t.profiler.Start()
	}
	return nil
}

// stop flushes and ends what telemetry runs, within a few seconds.
func (t *telemetry) stop() {
	if t.profiler != nil {
		t.profiler.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.tracing.Shutdown(ctx)
	if t.sentry != nil {
		t.sentry.Close(2 * time.Second)
	}
}

// TracingStatus is the body of GET and PUT /tracing.
type TracingStatus struct {
	Enabled    bool    `json:"enabled"`
	SampleRate float64 `json:"sample_rate"` // share of new traces sampled, in [0, 1]
}

// Tracing returns the tracing state.
func (g *Gateway) Tracing() TracingStatus {
	return TracingStatus{Enabled: g.tel.tracing.Enabled(), SampleRate: g.tel.tracing.SampleRate()}
}

// SetSampleRate changes the trace sample rate at run time, on every gateway of the fleet when
// there is one (an error wrapping ErrNotShared: on this one only, for now).
func (g *Gateway) SetSampleRate(rate float64) error {
	if err := g.tel.tracing.SetSampleRate(rate); err != nil {
		return err
	}
	g.log.Info("trace sample rate changed", "sample_rate", rate)
	return g.share(map[string]string{fieldSampleRate: strconv.FormatFloat(rate, 'g', -1, 64)}, nil)
}

func (g *Gateway) handleGetTracing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Tracing())
}

func (g *Gateway) handlePutTracing(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SampleRate *float64 `json:"sample_rate"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.SampleRate == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: want {"sample_rate": 0.01}`})
		return
	}
	err := g.SetSampleRate(*in.SampleRate)
	switch {
	case errors.Is(err, ErrNotShared):
		writeJSON(w, http.StatusOK, struct {
			TracingStatus
			Warning string `json:"warning"`
		}{g.Tracing(), err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sample_rate: " + err.Error()})
	default:
		writeJSON(w, http.StatusOK, g.Tracing())
	}
}
