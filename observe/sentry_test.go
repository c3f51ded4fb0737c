package observe_test

import (
	"context"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/observe"
)

// obsTransport is a sentry.Transport that keeps the events it is given.
type obsTransport struct {
	mu     sync.Mutex
	events []*sentry.Event
}

func (t *obsTransport) Configure(sentry.ClientOptions)        {}
func (t *obsTransport) Flush(time.Duration) bool              { return true }
func (t *obsTransport) FlushWithContext(context.Context) bool { return true }
func (t *obsTransport) Close()                                {}

func (t *obsTransport) SendEvent(e *sentry.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
}

func (t *obsTransport) Events() []*sentry.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*sentry.Event(nil), t.events...)
}

func (t *obsTransport) count() int { return len(t.Events()) }

// obsPanicking panics in a named function, so that the stack has a frame to look for.
func obsPanicking() { panic("boom: token sk_live_abc123") }

// obsRecover runs f and returns what it panicked with and the stack, as a server's recover
// does.
func obsRecover(f func()) (v any, stack []byte) {
	defer func() {
		v = recover()
		stack = debug.Stack()
	}()
	f()
	return nil, nil
}

func TestSentryReportsAMaskedPanic(t *testing.T) {
	tr := &obsTransport{}
	m := obsMasker(t, []string{"Authorization", "Cookie", "token"}, []string{`sk_[a-z]+_[a-z0-9]+`})
	s, err := observe.NewSentry(observe.SentryConfig{DSN: "https://public@sentry.example.com/1", Environment: "test",
		Release: "v9", Transport: tr, Masker: m})
	if err != nil || s == nil {
		t.Fatalf("NewSentry = %v, %v", s, err)
	}
	defer s.Close(time.Second)

	r := httptest.NewRequest("POST", "http://gw.local/songs/7?token=abc&page=2", strings.NewReader("secret body"))
	r.Header.Set("Authorization", "Bearer s3cret")
	r.Header.Set("Cookie", "sid=xyz")
	r.Header.Set("X-Order-Id", "o-42")
	ctx := color.With(trace.ContextWithSpanContext(context.Background(), obsSC), "stress")
	v, stack := obsRecover(obsPanicking)
	s.ReportPanic(ctx, v, stack, r)
	s.Flush(time.Second)

	evs := tr.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Message != "panic: boom: token ***" || ev.Level != sentry.LevelError || ev.Environment != "test" || ev.Release != "v9" {
		t.Errorf("event = message %q level %q env %q release %q", ev.Message, ev.Level, ev.Environment, ev.Release)
	}
	if len(ev.Exception) != 1 || ev.Exception[0].Value != "boom: token ***" || ev.Exception[0].Stacktrace == nil {
		t.Fatalf("exception = %+v", ev.Exception)
	}
	frames := ev.Exception[0].Stacktrace.Frames
	last := frames[len(frames)-1]
	found := false
	for _, f := range frames {
		if f.Function == "obsPanicking" && f.Module == "github.com/bulwark-go/bulwark/observe_test" && f.InApp &&
			strings.HasSuffix(f.AbsPath, "observe/sentry_test.go") && f.Lineno > 0 {
			found = true
		}
	}
	if !found || last.Function != "Stack" || last.Module != "runtime/debug" || last.InApp {
		t.Errorf("frames (oldest first) lack obsPanicking or do not end in debug.Stack: %+v", frames)
	}
	if st, _ := ev.Contexts["panic"]["stack"].(string); !strings.Contains(st, "obsPanicking") || strings.Contains(st, "sk_live") {
		t.Errorf("stack text = %q", st)
	}
	req := ev.Request
	if req == nil || req.Method != "POST" || req.URL != "http://gw.local/songs/7" || req.QueryString != "token=***&page=2" {
		t.Fatalf("request = %+v", req)
	}
	if req.Headers["Authorization"] != "***" || req.Headers["Cookie"] != "***" || req.Headers["X-Order-Id"] != "o-42" {
		t.Errorf("headers = %v", req.Headers)
	}
	if req.Data != "" || req.Cookies != "" {
		t.Errorf("body or cookies sent: %+v", req)
	}
	if ev.Tags["trace_id"] != obsSC.TraceID().String() || ev.Tags["span_id"] != obsSC.SpanID().String() || ev.Tags["color"] != "stress" {
		t.Errorf("tags = %v", ev.Tags)
	}
	if ev.Transaction != "POST /songs/7" {
		t.Errorf("transaction = %q", ev.Transaction)
	}
}

func TestSentryDefaultMaskerAndNoRequest(t *testing.T) {
	tr := &obsTransport{}
	s, err := observe.NewSentry(observe.SentryConfig{DSN: "https://public@sentry.example.com/1", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(time.Second)
	s.ReportPanic(context.Background(), 42, nil, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Basic Zm9v")
	s.ReportPanic(context.Background(), "x", []byte("garbage\n\tnot a stack"), r)
	evs := tr.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].Message != "panic: 42" || evs[0].Request != nil || evs[0].Exception[0].Type != "panic(int)" {
		t.Errorf("first event = %+v", evs[0])
	}
	if evs[1].Request.Headers["Authorization"] != "***" {
		t.Errorf("default masker did not mask Authorization: %v", evs[1].Request.Headers)
	}
}

func TestNewSentryWithoutDSNIsNil(t *testing.T) {
	t.Setenv("SENTRY_DSN", "https://public@sentry.example.com/1") // must not be read
	tr := &obsTransport{}
	s, err := observe.NewSentry(observe.SentryConfig{Transport: tr})
	if err != nil || s != nil {
		t.Fatalf("NewSentry without DSN = %v, %v; want nil, nil", s, err)
	}
	var rep observe.PanicReporter = s
	rep.ReportPanic(context.Background(), "boom", debug.Stack(), nil) // a nil *Sentry reports nothing
	s.Flush(time.Second)
	s.Close(time.Second)
	if tr.count() != 0 {
		t.Fatal("an event was sent without a DSN")
	}
	if _, err := observe.NewSentry(observe.SentryConfig{DSN: "not a dsn"}); err == nil {
		t.Fatal("a bad DSN was accepted")
	}
}
