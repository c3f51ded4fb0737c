package breaker

import (
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// The hot paths: Allow+Done on either kind (admitted and rejected), and
// Group.Get of an existing key. All must stay at 0 allocations.

func TestZeroAllocs(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	step := func() { clk.Advance(time.Millisecond) }

	sreClosed, _ := NewSRE(WithClock(clk), WithRand(never))
	sreDropping, _ := NewSRE(WithClock(clk), WithMinRequests(0), WithRand(func() float64 { return 0 }))
	p, _ := sreDropping.Allow()
	p.Failure() // p = 1/2 and rising: every Allow drops

	classicClosed, _ := NewClassic(WithClock(clk))
	classicOpen, _ := NewClassic(WithClock(clk), WithFailureCount(1), WithOpenTimeout(time.Hour))
	p, _ = classicOpen.Allow()
	p.Failure()

	// A breaker that cycles through every state, with a callback.
	var calls int
	cycling, _ := NewClassic(WithClock(clk), WithFailureCount(1), WithOpenTimeout(time.Millisecond),
		WithOnStateChange(func(_, _ State) { calls++ }))

	group, _ := NewGroup(KindSRE, WithClock(clk))
	keys := []string{"alpha.example:443", "beta.example:443"}
	for _, k := range keys {
		group.Get(k)
	}
	key := string(append([]byte(nil), keys[1]...)) // not a constant, as in a real lookup

	tests := []struct {
		name string
		f    func()
	}{
		{"SRE Allow+Done", func() { step(); p, _ := sreClosed.Allow(); p.Success() }},
		{"SRE drop", func() { step(); sreDropping.Allow() }},
		{"SRE State", func() { step(); sreClosed.State(); sreClosed.DropProbability() }},
		{"Classic Allow+Done", func() { step(); p, _ := classicClosed.Allow(); p.Success() }},
		{"Classic open rejection", func() { classicOpen.Allow() }},
		{"Classic full cycle with callback", func() {
			p, _ := cycling.Allow() // closed, or half-open trial
			p.Failure()             // → open
			step()                  // past the timeout
			p, _ = cycling.Allow()  // → half-open
			p.Success()             // → closed
		}},
		{"Group.Get existing key", func() { group.Get(key) }},
		{"Group.Get+Allow+Done", func() { p, _ := group.Get(key).Allow(); p.Success() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // warm up: grow any queue to its working size
			if allocs := testing.AllocsPerRun(1000, tt.f); allocs != 0 {
				t.Fatalf("%v allocs per run, want 0", allocs)
			}
		})
	}
	if calls == 0 {
		t.Fatal("the cycling breaker never called back")
	}
}

func BenchmarkSREAllowDone(b *testing.B) {
	br, _ := NewSRE()
	b.ReportAllocs()
	for b.Loop() {
		p, _ := br.Allow()
		p.Success()
	}
}

func BenchmarkSREAllowDoneParallel(b *testing.B) {
	br, _ := NewSRE()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, _ := br.Allow()
			p.Success()
		}
	})
}

// BenchmarkSREDrop measures the rejection path of a dropping SRE breaker.
func BenchmarkSREDrop(b *testing.B) {
	br, _ := NewSRE(WithMinRequests(0), WithRand(func() float64 { return 0 }))
	p, _ := br.Allow()
	p.Failure()
	b.ReportAllocs()
	for b.Loop() {
		br.Allow()
	}
}

func BenchmarkClassicAllowDone(b *testing.B) {
	br, _ := NewClassic()
	b.ReportAllocs()
	for b.Loop() {
		p, _ := br.Allow()
		p.Success()
	}
}

func BenchmarkClassicAllowDoneParallel(b *testing.B) {
	br, _ := NewClassic()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, _ := br.Allow()
			p.Success()
		}
	})
}

// BenchmarkClassicOpen measures the fail-fast path of an open breaker.
func BenchmarkClassicOpen(b *testing.B) {
	br, _ := NewClassic(WithFailureCount(1), WithOpenTimeout(time.Hour))
	p, _ := br.Allow()
	p.Failure()
	b.ReportAllocs()
	for b.Loop() {
		br.Allow()
	}
}

func BenchmarkClassicOpenParallel(b *testing.B) {
	br, _ := NewClassic(WithFailureCount(1), WithOpenTimeout(time.Hour))
	p, _ := br.Allow()
	p.Failure()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Allow()
		}
	})
}

// BenchmarkSREDropParallel measures the rejection path of a dropping SRE
// breaker under parallel load.
func BenchmarkSREDropParallel(b *testing.B) {
	br, _ := NewSRE(WithMinRequests(0), WithRand(func() float64 { return 0 }))
	p, _ := br.Allow()
	p.Failure()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Allow()
		}
	})
}

func benchGroup(b *testing.B) (*Group, []string) {
	g, _ := NewGroup(KindSRE)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "host-" + strconv.Itoa(i) + ".example:8080"
		g.Get(keys[i])
	}
	return g, keys
}

func BenchmarkGroupGet(b *testing.B) {
	g, keys := benchGroup(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Get(keys[i%len(keys)])
		i++
	}
}

func BenchmarkGroupGetParallel(b *testing.B) {
	g, keys := benchGroup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			g.Get(keys[i%len(keys)])
			i++
		}
	})
}

// countingClock counts clock readings.
type countingClock struct {
	*clock.Fake
	reads int
}

func (c *countingClock) Now() time.Time { c.reads++; return c.Fake.Now() }

func (c *countingClock) Since(t time.Time) time.Duration { c.reads++; return c.Fake.Since(t) }

// TestClockReads pins how often the hot paths read the clock, their largest
// cost: reading it is ~50 ns on some machines.
func TestClockReads(t *testing.T) {
	clk := &countingClock{Fake: clock.NewFake(time.Time{})}
	sreB, _ := NewSRE(WithClock(clk), WithRand(never))
	countOnly, _ := NewClassic(WithClock(clk))
	withRatio, _ := NewClassic(WithClock(clk), WithFailureRatio(0.5))
	open, _ := NewClassic(WithClock(clk), WithFailureCount(1))
	p, _ := open.Allow()
	p.Failure()
	tests := []struct {
		name  string
		f     func()
		reads int
	}{
		{"SRE Allow+Done", func() { p, _ := sreB.Allow(); p.Success() }, 1},
		{"classic closed, count rule, Allow+Done", func() { p, _ := countOnly.Allow(); p.Failure(); p, _ = countOnly.Allow(); p.Success() }, 0},
		{"classic closed State", func() { countOnly.State() }, 0},
		{"classic closed, ratio rule, Allow+Done", func() { p, _ := withRatio.Allow(); p.Success() }, 1},
		{"classic open Allow", func() { open.Allow() }, 1},
		{"classic open State", func() { open.State() }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clk.reads
			tt.f()
			if got := clk.reads - before; got != tt.reads {
				t.Fatalf("%d clock reads, want %d", got, tt.reads)
			}
		})
	}
}
