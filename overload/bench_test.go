package overload

import "testing"

func TestHotPathsDoNotAllocate(t *testing.T) {
	normal := mustNew(t, WithWorkers(100))
	over := mustNew(t, WithWorkers(100), WithEnterSamples(1))
	for range 100 {
		over.Begin()
	}
	over.Sample() // Overloaded, 100 in flight: everything refused
	calls := 0
	cb := mustNew(t, WithEnterSamples(1), WithExitSamples(1),
		WithOnPhaseChange(func(from, to Phase, s State) { calls++ }))
	tests := []struct {
		name string
		run  func()
	}{
		{"allow normal", func() { _ = normal.Allow() }},
		{"allow refused", func() { _ = over.Allow() }},
		{"begin and done", func() { normal.Begin().Done() }},
		{"admit and done", func() {
			tok, _ := normal.Admit()
			tok.Done()
		}},
		{"admit refused", func() { _, _ = over.Admit() }},
		{"capacity", func() { _, _ = over.Capacity() }},
		{"overloaded", func() { _ = over.Overloaded() }},
		{"state", func() { _ = over.State() }},
		{"sample", func() { _ = over.Sample() }},
		{"observe with callback", func() {
			cb.Observe(10, 10)
			cb.Observe(0, 10)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.run); n != 0 {
				t.Fatalf("%v allocs per run, want 0", n)
			}
		})
	}
	if calls == 0 {
		t.Fatal("callback never ran")
	}
}

func overloaded(b *testing.B) *Detector {
	d := mustNew(b, WithWorkers(1000), WithEnterSamples(1))
	for range 1000 {
		d.Begin()
	}
	d.Sample()
	return d
}

func BenchmarkAllowNormal(b *testing.B) {
	d := mustNew(b, WithWorkers(100))
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Allow()
	}
}

func BenchmarkAllowNormalParallel(b *testing.B) {
	d := mustNew(b, WithWorkers(100))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = d.Allow()
		}
	})
}

func BenchmarkAllowOverloaded(b *testing.B) {
	d := overloaded(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Allow()
	}
}

func BenchmarkAllowOverloadedParallel(b *testing.B) {
	d := overloaded(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = d.Allow()
		}
	})
}

func BenchmarkBeginDone(b *testing.B) {
	d := mustNew(b, WithWorkers(100))
	b.ReportAllocs()
	for b.Loop() {
		d.Begin().Done()
	}
}

func BenchmarkBeginDoneParallel(b *testing.B) {
	d := mustNew(b, WithWorkers(100))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Begin().Done()
		}
	})
}

// BenchmarkAdmitDoneOverloaded takes the CAS path: overloaded with room.
func BenchmarkAdmitDoneOverloaded(b *testing.B) {
	d := mustNew(b, WithWorkers(1000), WithEnterSamples(1))
	d.Observe(1000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		tok, _ := d.Admit()
		tok.Done()
	}
}

func BenchmarkAdmitDoneOverloadedParallel(b *testing.B) {
	d := mustNew(b, WithWorkers(1000), WithEnterSamples(1))
	d.Observe(1000, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, _ := d.Admit()
			tok.Done()
		}
	})
}

func BenchmarkObserve(b *testing.B) {
	d := mustNew(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		d.Observe(i%100, 100)
	}
}
