package timeout

import (
	"testing"
	"time"
)

func BenchmarkObserve(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	for b.Loop() {
		d.Observe(70 * time.Millisecond)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Observe(70 * time.Millisecond)
		}
	})
}

func BenchmarkTimeout(b *testing.B) {
	d := mustNew(b, WithInitialEMA(100*time.Millisecond))
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Timeout()
	}
}

func BenchmarkTimeoutParallel(b *testing.B) {
	d := mustNew(b, WithInitialEMA(100*time.Millisecond))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = d.Timeout()
		}
	})
}

// BenchmarkTimeoutObserve is one call's worth of work: read the timeout,
// then feed the result.
func BenchmarkTimeoutObserve(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Timeout()
		d.Observe(70 * time.Millisecond)
	}
}

func BenchmarkTimeoutObserveParallel(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = d.Timeout()
			d.Observe(70 * time.Millisecond)
		}
	})
}

// BenchmarkCall includes two reads of the real clock.
func BenchmarkCall(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	for b.Loop() {
		d.Start().Done(true)
	}
}

func BenchmarkCallParallel(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Start().Done(true)
		}
	})
}
