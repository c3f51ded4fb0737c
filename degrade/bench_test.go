package degrade

import "testing"

func benchAllow(b *testing.B, pass float64) {
	s := mustNew(b, WithPass(pass))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Allow()
	}
}

func benchAllowParallel(b *testing.B, pass float64) {
	s := mustNew(b, WithPass(pass))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = s.Allow()
		}
	})
}

func BenchmarkAllowPassAll(b *testing.B)          { benchAllow(b, 1) }
func BenchmarkAllowPassAllParallel(b *testing.B)  { benchAllowParallel(b, 1) }
func BenchmarkAllowFraction(b *testing.B)         { benchAllow(b, 0.5) }
func BenchmarkAllowFractionParallel(b *testing.B) { benchAllowParallel(b, 0.5) }
func BenchmarkAllowOff(b *testing.B)              { benchAllow(b, 0) }
func BenchmarkAllowOffParallel(b *testing.B)      { benchAllowParallel(b, 0) }

func BenchmarkDo(b *testing.B) {
	s := mustNew(b, WithPass(0.5))
	fn := func() (int, error) { return 1, nil }
	fallback := func(error) (int, error) { return 0, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Do(s, fn, fallback)
	}
}
