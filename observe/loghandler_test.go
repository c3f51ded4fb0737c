package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/observe"
)

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	withSpan := trace.ContextWithSpanContext(context.Background(), obsSC)
	remote := trace.ContextWithRemoteSpanContext(context.Background(), obsSC)
	invalid := trace.ContextWithSpanContext(context.Background(), trace.SpanContext{})
	tests := []struct {
		name  string
		ctx   context.Context
		log   func(l *slog.Logger, ctx context.Context)
		ids   bool
		group string
	}{
		{"span", withSpan, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "a", 1) }, true, ""},
		{"remote parent", remote, func(l *slog.Logger, ctx context.Context) { l.ErrorContext(ctx, "m") }, true, ""},
		{"no context", withSpan, func(l *slog.Logger, _ context.Context) { l.Info("m") }, false, ""},
		{"no span", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") }, false, ""},
		{"invalid span", invalid, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") }, false, ""},
		{"many attrs", withSpan, func(l *slog.Logger, ctx context.Context) {
			l.InfoContext(ctx, "m", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6)
		}, true, ""},
		{"with attrs", withSpan, func(l *slog.Logger, ctx context.Context) { l.With("svc", "songs").InfoContext(ctx, "m") }, true, ""},
		{"with group", withSpan, func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m") }, true, "g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(observe.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
			tt.log(l, tt.ctx)
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			if tt.group != "" {
				rec, _ = rec[tt.group].(map[string]any)
			}
			tid, sid := rec["trace_id"], rec["span_id"]
			if !tt.ids {
				if tid != nil || sid != nil {
					t.Fatalf("ids added: %s", buf.Bytes())
				}
				return
			}
			if tid != obsSC.TraceID().String() || sid != obsSC.SpanID().String() {
				t.Fatalf("ids = %v, %v in %s", tid, sid, buf.Bytes())
			}
		})
	}
}

func TestLogHandlerLeavesTheCallersRecordAlone(t *testing.T) {
	var a, b bytes.Buffer
	ha := observe.NewLogHandler(slog.NewTextHandler(&a, nil))
	hb := slog.NewTextHandler(&b, nil)
	ctx := trace.ContextWithSpanContext(context.Background(), obsSC)
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	rec.AddAttrs(slog.Int("a", 1), slog.Int("b", 2), slog.Int("c", 3), slog.Int("d", 4), slog.Int("e", 5), slog.Int("f", 6))
	if err := ha.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := hb.Handle(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.String(), "trace_id=") || strings.Contains(b.String(), "trace_id") || strings.Contains(b.String(), "BUG") {
		t.Fatalf("wrapped: %s\nplain: %s", a.String(), b.String())
	}
}

func TestNewLogHandlerNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	observe.NewLogHandler(nil)
}
