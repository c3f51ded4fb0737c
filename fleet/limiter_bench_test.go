package fleet

import (
	"slices"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/redistest"
)

// limBLimiter is a Limiter in cluster mode on the real clock whose limit is never reached, so
// that every Allow takes the admit path.
func limBLimiter(b *testing.B) *Limiter {
	b.Helper()
	srv := redistest.Start(b)
	l, err := NewLimiter(limTFleet(b, srv.Addr, "bench", nil), "bench", 1<<40, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	if l.Stats().Mode != ModeCluster {
		b.Fatal("not in cluster mode")
	}
	return l
}

// BenchmarkLimiterAllow is the decision path in cluster mode.
func BenchmarkLimiterAllow(b *testing.B) {
	l := limBLimiter(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Allow()
	}
}

// BenchmarkLimiterAllowParallel is the decision path under contention.
func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := limBLimiter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = l.Allow()
		}
	})
}

// BenchmarkLimiterAllowLocal is the decision path in local mode (Redis unreachable).
func BenchmarkLimiterAllowLocal(b *testing.B) {
	l, err := NewLimiter(limTFleet(b, "127.0.0.1:1", "bench", nil), "bench", 1<<40, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	if l.Stats().Mode != ModeLocal {
		b.Fatal("not in local mode")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Allow()
	}
}

// BenchmarkLimiterAllowLatency times each Allow while the sync loop runs, and reports the
// 99th and 99.9th percentiles (the target is p99 well under 50µs).
func BenchmarkLimiterAllowLatency(b *testing.B) {
	l := limBLimiter(b)
	samples := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		_ = l.Allow()
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(t0))
		}
	}
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(samples[len(samples)*999/1000].Nanoseconds()), "p99.9-ns")
	}
}
