package observe

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// queueProcessor is a batch span processor that never blocks OnEnd and counts what it drops.
//
// Why not the SDK's BatchSpanProcessor: it drops too when its queue is full, but keeps the
// count private (it only logs it at debug level, or reports it through the experimental
// self-observability metrics on the global MeterProvider) and does not expose its queue
// length, and D6 wants both as metrics. Wrapping it cannot observe a drop either, since
// OnEnd returns nothing. So this is the same design with the counters exported: a bounded
// channel, a non-blocking send in OnEnd, and one worker that batches by size and interval.
//
// Shutdown drains the queue, exports it, and shuts the exporter down. A sampled span ended
// after Shutdown is counted as dropped. (Like the SDK's processor, a span whose OnEnd runs
// at the very moment of Shutdown may be lost uncounted: OnEnd takes no lock, so that the
// request path never waits.)
type queueProcessor struct {
	exporter sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	maxBatch int
	interval time.Duration
	timeout  time.Duration // per export call
	clk      clock.Clock

	flush    chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
	stopErr  error // written by the worker before done closes

	dropped    atomic.Uint64
	inBatch    atomic.Int64 // spans the worker took off the queue and has not exported yet
	exported   atomic.Uint64
	failed     atomic.Uint64
	exportErrs atomic.Uint64
}

var _ sdktrace.SpanProcessor = (*queueProcessor)(nil)

// newQueueProcessor starts the worker; Shutdown stops it.
func newQueueProcessor(e sdktrace.SpanExporter, queue, maxBatch int, interval, timeout time.Duration, clk clock.Clock) *queueProcessor {
	p := &queueProcessor{
		exporter: e,
		queue:    make(chan sdktrace.ReadOnlySpan, queue),
		maxBatch: maxBatch,
		interval: interval,
		timeout:  timeout,
		clk:      clock.OrReal(clk),
		flush:    make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go p.run()
	return p
}

// OnStart does nothing.
func (p *queueProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span for export, or drops and counts it when the queue is full or
// the processor has stopped. It never blocks.
func (p *queueProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if p.stopped.Load() {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- s:
	default:
		p.dropped.Add(1)
	}
}

// queued is the spans accepted and not yet through the exporter: the queue plus the
// worker's batch. The two are read apart, so a span moving between them may be missed or
// counted twice for a moment; at rest the sum is exact.
func (p *queueProcessor) queued() int64 { return int64(len(p.queue)) + p.inBatch.Load() }

// ForceFlush exports everything queued before it was called, and returns when that is done
// or ctx ends.
func (p *queueProcessor) ForceFlush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case p.flush <- reply:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops accepting spans, exports what is queued and shuts the exporter down. It
// returns the exporter's Shutdown error, or ctx's error when ctx ends first (the worker
// then still finishes in the background). Later calls wait the same way.
func (p *queueProcessor) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.stopped.Store(true)
		close(p.stop)
	})
	select {
	case <-p.done:
		return p.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *queueProcessor) run() {
	defer close(p.done)
	batch := make([]sdktrace.ReadOnlySpan, 0, p.maxBatch)
	timer := p.clk.NewTimer(p.interval)
	defer timer.Stop()
	for {
		select {
		case s := <-p.queue:
			batch = p.add(batch, s)
		case <-timer.C():
			// Everything already queued goes too: a span that was ended before the timer
			// fired never waits for the next one, whichever case select picked first.
			batch = p.drain(batch)
			timer.Reset(p.interval)
		case reply := <-p.flush:
			batch = p.drain(batch)
			close(reply)
		case <-p.stop:
			p.drain(batch)
			ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
			p.stopErr = p.exporter.Shutdown(ctx)
			cancel()
			return
		}
	}
}

// drain exports batch and the spans queued when it starts. It takes no more than those, so
// that producers faster than the exporter cannot keep it (and a ForceFlush) going forever.
func (p *queueProcessor) drain(batch []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	for n := len(p.queue); n > 0; n-- {
		batch = p.add(batch, <-p.queue)
	}
	return p.export(batch)
}

// add appends s to batch, and exports the batch when it is full.
func (p *queueProcessor) add(batch []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	batch = append(batch, s)
	p.inBatch.Store(int64(len(batch)))
	if len(batch) >= p.maxBatch {
		return p.export(batch)
	}
	return batch
}

// export hands batch to the exporter and returns it emptied for reuse.
func (p *queueProcessor) export(batch []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	err := p.exporter.ExportSpans(ctx, batch)
	cancel()
	n := uint64(len(batch))
	if err != nil {
		p.exportErrs.Add(1)
		p.failed.Add(n)
	} else {
		p.exported.Add(n)
	}
	p.inBatch.Store(0)
	clear(batch) // let the spans be collected
	return batch[:0]
}
