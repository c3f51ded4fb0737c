// Package observe is Bulwark's telemetry adapter (SEEDS.md D2, D3, D5, D6): OpenTelemetry
// tracing with a dropping export queue, W3C propagation that carries the traffic color,
// masking of sensitive values, business keywords, a slog handler that adds trace ids, panic
// reporting to Sentry, and continuous profiling.
//
// # Tracing (D3, D6)
//
// [NewTracing] builds an SDK tracer provider whose sampler is
// ParentBased(TraceIDRatioBased(rate)): the decision is made where a trace starts and then
// follows the traceparent flag, and the rate changes at run time with [Tracing.SetSampleRate].
// Ended spans go to a bounded queue that never blocks the request path: when it is full the
// span is dropped and counted ([Tracing.Stats], bulwark_spans_dropped_total), and the queue
// length is a gauge (bulwark_span_queue_length). A disabled config gives a no-op provider.
// Nothing touches the otel globals unless [Tracing.SetGlobal] is called.
//
// # Propagation and color (C4)
//
// [HTTP] moves W3C traceparent/tracestate and baggage between headers and a context, and
// maps the baggage member bulwark.color to and from [color.With]/[color.From]. It has the
// shape of httpmw.Propagator, so httpmw.WithPropagator(observe.HTTP{}) plugs it in.
// [TextMapPropagator] is the same for the otel API.
//
// # Masking and keywords (D3)
//
// A [Masker] replaces the values of named keys (Authorization and Cookie by default) and the
// matches of regular expressions by "***" before anything leaves the process. [Keywords]
// pulls configured headers and query parameters out of a request, masked, as span
// attributes and log attributes named keyword.<name>, so a trace can be found from a
// complaint ("order 123 failed").
//
// # Logs, panics and profiles (D2, D5)
//
// [NewLogHandler] wraps a slog.Handler and adds trace_id and span_id to every record whose
// context holds a valid span. [Sentry] is a [PanicReporter] on a private sentry.Client.
// [Profiler] writes a CPU and a heap profile every interval, named by service, instance and
// time, with retention by count and age; [List] finds them again.
//
// The package starts no goroutine on import: [NewTracing] starts the export worker (stopped
// by [Tracing.Shutdown]) and [Profiler.Start] the profiling loop (stopped by [Profiler.Stop]).
package observe
