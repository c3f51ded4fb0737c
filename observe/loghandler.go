package observe

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute names that NewLogHandler adds.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// NewLogHandler returns a slog.Handler that passes every record to inner, adding trace_id
// and span_id (lower-case hex, as in traceparent) when the record's context holds a valid
// span context: a recording span, or a remote parent that was only extracted. Records
// logged without a context (slog.Info rather than slog.InfoContext), or with one that holds
// no span, pass through unchanged.
//
// The ids are record attributes, so after WithGroup they land inside the group like any
// other attribute; log with the top-level logger where trace lookup matters. inner must
// not be nil.
func NewLogHandler(inner slog.Handler) slog.Handler {
	if inner == nil {
		panic("observe: NewLogHandler: nil inner handler")
	}
	return logHandler{inner: inner}
}

type logHandler struct{ inner slog.Handler }

// Enabled defers to the inner handler.
func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle adds the trace ids of ctx, if any, and passes the record on.
func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone() // only clips the attribute slice: the caller's record stays intact
			r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
		}
	}
	return h.inner.Handle(ctx, r)
}

// WithAttrs returns a handler that adds trace ids in front of inner.WithAttrs(as).
func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{inner: h.inner.WithAttrs(as)}
}

// WithGroup returns a handler that adds trace ids in front of inner.WithGroup(name).
func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{inner: h.inner.WithGroup(name)}
}
