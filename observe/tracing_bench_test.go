package observe_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwark-go/bulwark/observe"
)

type obsDiscard struct{}

func (obsDiscard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (obsDiscard) Shutdown(context.Context) error                             { return nil }

// BenchmarkSpan is a span's start and end on the request path: with tracing off, sampled out
// (rate 0), and sampled through this package's queue or the SDK's BatchSpanProcessor, to
// show that counting drops costs nothing extra.
//
//	go test -run '^$' -bench BenchmarkSpan -cpu 1,2 ./observe/
func BenchmarkSpan(b *testing.B) {
	sdkBSP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(obsDiscard{})))
	b.Cleanup(func() { sdkBSP.Shutdown(context.Background()) })
	mk := func(cfg observe.TracingConfig) trace.TracerProvider {
		tr, err := observe.NewTracing(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tr.Shutdown(context.Background()) })
		return tr.TracerProvider()
	}
	for _, bc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", mk(observe.TracingConfig{})},
		{"rate0", mk(observe.TracingConfig{Enabled: true, SampleRate: 0, Exporter: obsDiscard{}})},
		{"sampled/observe-queue", mk(observe.TracingConfig{Enabled: true, SampleRate: 1, Exporter: obsDiscard{}})},
		{"sampled/sdk-batch", sdkBSP},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tracer := bc.tp.Tracer("bench")
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, s := tracer.Start(ctx, "req")
					s.End()
				}
			})
		})
	}
}
