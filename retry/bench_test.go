package retry

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// benchWindow returns a window on the real clock with a budget big enough
// that Allow admits on every call of a benchmark.
func benchWindow(b *testing.B) *Window {
	w, err := New(WithPeriod(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	w.window = 1 << 62
	return w
}

func BenchmarkAllow(b *testing.B) {
	w := benchWindow(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Allow()
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	w := benchWindow(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = w.Allow()
		}
	})
}

// BenchmarkAllowRejected is the path taken when the window is spent.
func BenchmarkAllowRejected(b *testing.B) {
	w, err := New(WithPeriod(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	_ = w.Allow()
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Allow()
	}
}

func BenchmarkObserveLocal(b *testing.B) {
	w := benchWindow(b)
	b.ReportAllocs()
	for b.Loop() {
		w.ObserveLocal()
	}
}

func BenchmarkObserveLocalParallel(b *testing.B) {
	w := benchWindow(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.ObserveLocal()
		}
	})
}

// BenchmarkAllowFakeClock isolates the window's own cost from time.Now.
func BenchmarkAllowFakeClock(b *testing.B) {
	w, err := New(WithClock(clock.NewFake(time.Time{})))
	if err != nil {
		b.Fatal(err)
	}
	w.window = 1 << 62
	b.ReportAllocs()
	for b.Loop() {
		_ = w.Allow()
	}
}

func benchSwitches() (*Switches, []string) {
	var s Switches
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("service-%02d", i)
		s.Set(names[i], i%4 != 0)
	}
	return &s, names
}

func BenchmarkEnabled(b *testing.B) {
	s, names := benchSwitches()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = s.Enabled(names[i&63])
		i++
	}
}

func BenchmarkEnabledParallel(b *testing.B) {
	s, names := benchSwitches()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = s.Enabled(names[i&63])
			i++
		}
	})
}
