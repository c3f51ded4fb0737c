package observe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/color"
)

// PanicReporter receives panics that a server recovered (D5). v is the recovered value,
// stack the text of runtime/debug.Stack taken in the deferred recover, and r the request
// being served, or nil. Implementations must be safe for concurrent use and must not block
// the request for long: the gateway calls it before it answers 500.
type PanicReporter interface {
	ReportPanic(ctx context.Context, v any, stack []byte, r *http.Request)
}

// SentryConfig configures NewSentry.
type SentryConfig struct {
	// DSN is the Sentry project's DSN. Empty means no reporter: NewSentry returns nil. The
	// SENTRY_DSN environment variable is deliberately not read; put ${SENTRY_DSN} in the
	// config file to use it.
	DSN string
	// Environment and Release tag every event ("production", "v1.2.3"). Empty Release is the
	// SDK's guess from the build.
	Environment, Release string
	// ServerName tags events with the instance; empty is the host name.
	ServerName string
	// Transport replaces the SDK's HTTP transport (tests); nil sends to the DSN.
	Transport sentry.Transport
	// Masker masks request headers, the query and the panic text before an event is built;
	// nil means NewMasker(nil, nil): Authorization and Cookie.
	Masker *Masker
}

// Sentry reports panics to Sentry through its own sentry.Client: the global hub is never
// touched, so the gateway's reporting does not mix with a library's. Events carry the panic
// value, the stack as frames and as text, the request (method, URL without query, masked
// headers and query; never the body or cookies), and tags trace_id, span_id and color.
//
// A nil *Sentry is a valid PanicReporter that reports nothing, so the result of NewSentry
// can be used whether or not a DSN was configured.
type Sentry struct {
	client *sentry.Client
	mask   *Masker
}

var _ PanicReporter = (*Sentry)(nil)

// NewSentry returns a reporter for cfg, or nil and no error when cfg.DSN is empty. A DSN that
// does not parse is an error. The client's transport sends in the background; call Close
// before the program exits.
func NewSentry(cfg SentryConfig) (*Sentry, error) {
	if cfg.DSN == "" {
		return nil, nil
	}
	m := cfg.Masker
	if m == nil {
		var err error
		if m, err = NewMasker(nil, nil); err != nil {
			return nil, err
		}
	}
	c, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         cfg.DSN,
		Environment: cfg.Environment,
		Release:     cfg.Release,
		ServerName:  cfg.ServerName,
		Transport:   cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("observe: sentry: %w", err)
	}
	return &Sentry{client: c, mask: m}, nil
}

// ReportPanic sends one event for a recovered panic. It returns once the event is queued
// with the transport; it does not wait for the network.
func (s *Sentry) ReportPanic(ctx context.Context, v any, stack []byte, r *http.Request) {
	if s == nil {
		return
	}
	msg := s.mask.Mask(fmt.Sprint(v))
	handled := true
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Message = "panic: " + msg
	ex := sentry.Exception{
		Type:      fmt.Sprintf("panic(%T)", v),
		Value:     msg,
		Mechanism: &sentry.Mechanism{Type: "bulwark.recover", Handled: &handled},
	}
	if frames := parseStack(stack); len(frames) > 0 {
		ex.Stacktrace = &sentry.Stacktrace{Frames: frames}
	}
	ev.Exception = []sentry.Exception{ex}
	if len(stack) > 0 {
		ev.Contexts["panic"] = sentry.Context{"stack": s.mask.Mask(string(stack))}
	}
	if r != nil {
		ev.Request = s.request(r)
		ev.Transaction = r.Method + " " + r.URL.Path
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		ev.Tags[LogTraceID] = sc.TraceID().String()
		ev.Tags[LogSpanID] = sc.SpanID().String()
	}
	if c := color.From(ctx); c != "" {
		ev.Tags["color"] = c
	}
	s.client.CaptureEvent(ev, &sentry.EventHint{Context: ctx, RecoveredException: v}, nil)
}

func (s *Sentry) request(r *http.Request) *sentry.Request {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := &sentry.Request{
		Method:      r.Method,
		URL:         scheme + "://" + r.Host + r.URL.Path,
		QueryString: s.mask.MaskQuery(r.URL.RawQuery),
		Headers:     make(map[string]string, len(r.Header)),
	}
	for k, vs := range s.mask.MaskHeader(r.Header) {
		if len(vs) > 0 {
			req.Headers[k] = strings.Join(vs, ", ")
		}
	}
	return req
}

// Flush waits up to timeout for queued events to be sent, and reports whether they were.
func (s *Sentry) Flush(timeout time.Duration) bool {
	if s == nil {
		return true
	}
	return s.client.Flush(timeout)
}

// Close flushes for up to timeout and releases the client's transport.
func (s *Sentry) Close(timeout time.Duration) {
	if s == nil {
		return
	}
	s.client.Flush(timeout)
	s.client.Close()
}
