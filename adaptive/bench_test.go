package adaptive

import (
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/cpu"
)

// The benchmarks use the real clock, as production does.

func benchLimiter(b *testing.B, perMille int64) *Limiter {
	b.Helper()
	l, err := New(WithCPU(cpu.Static(perMille)))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func benchAllowDone(b *testing.B, perMille int64) {
	l := benchLimiter(b, perMille)
	b.ReportAllocs()
	for b.Loop() {
		if tok, err := l.Allow(); err == nil {
			tok.Done()
		}
	}
}

func benchAllowDoneParallel(b *testing.B, perMille int64) {
	l := benchLimiter(b, perMille)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tok, err := l.Allow(); err == nil {
				tok.Done()
			}
		}
	})
}

// CPU below the threshold: the lock-free admission path.
func BenchmarkAllowDone(b *testing.B)         { benchAllowDone(b, 300) }
func BenchmarkAllowDoneParallel(b *testing.B) { benchAllowDoneParallel(b, 300) }

// CPU above the threshold: every Allow checks inflight under the lock.
func BenchmarkAllowDoneOverloaded(b *testing.B)         { benchAllowDone(b, 900) }
func BenchmarkAllowDoneOverloadedParallel(b *testing.B) { benchAllowDoneParallel(b, 900) }

// jumpClock is the real clock plus a jump that a benchmark's setup makes,
// so that setup can move time on without sleeping. The jump is not changed
// while the timed loop runs.
type jumpClock struct {
	clock.Real
	jump time.Duration
}

func (c *jumpClock) Now() time.Time                  { return time.Now().Add(c.jump) }
func (c *jumpClock) Since(t time.Time) time.Duration { return time.Since(t) + c.jump }

// BenchmarkAllowShed measures a rejection: the server is full.
func BenchmarkAllowShed(b *testing.B) {
	clk := &jumpClock{}
	l, err := New(WithCPU(cpu.Static(900)), WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	for range 100 { // an estimate of at least 1 ...
		l.Start().Done()
	}
	clk.jump = 2 * l.width // ... in a completed bucket ...
	for range 1000 {       // ... and more in flight than it allows
		l.Start()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(); err == nil {
			b.Fatal("admitted")
		}
	}
}

func BenchmarkCapacity(b *testing.B) {
	l := benchLimiter(b, 900)
	b.ReportAllocs()
	for b.Loop() {
		l.Capacity()
	}
}

func BenchmarkCapacityParallel(b *testing.B) {
	l := benchLimiter(b, 900)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Capacity()
		}
	})
}
