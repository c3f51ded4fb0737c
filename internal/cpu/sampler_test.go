package cpu

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// fakeUsage is a hand-driven cumulative CPU time for WithUsageReader.
type fakeUsage struct {
	mu   sync.Mutex
	used time.Duration
	err  error
}

func (f *fakeUsage) read() (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	return f.used, nil
}

func (f *fakeUsage) add(d time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used += d
	f.err = err
}

// newTestSampler returns a Sampler on a fake clock and fake usage, with a
// channel that receives once per processed tick.
func newTestSampler(t *testing.T, opts ...Option) (*Sampler, *clock.Fake, *fakeUsage, chan struct{}) {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	u := &fakeUsage{}
	s, err := NewSampler(append([]Option{WithClock(clk), WithUsageReader(u.read), WithQuota(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan struct{}, 1)
	s.sampled = func() { ticks <- struct{}{} }
	return s, clk, u, ticks
}

// TestSamplerEMA drives the sampler tick by tick and checks the moving
// average exactly: 2 CPUs, 250 ms ticks, so 500 ms of CPU time per tick is
// 1000 ‰.
func TestSamplerEMA(t *testing.T) {
	s, clk, u, ticks := newTestSampler(t)
	s.Start()
	defer s.Stop()
	steps := []struct {
		name string
		used time.Duration // CPU time spent during the tick
		err  error         // read error at the tick
		want int64
	}{
		{"first sample seeds: 250ms/(250ms×2) = 500", 250 * time.Millisecond, nil, 500},
		{"0.95·500 + 0.05·1000 = 525", 500 * time.Millisecond, nil, 525},
		{"0.95·525 + 0.05·0 = 498.75", 0, nil, 499},
		{"instant above 1000 is clamped: 0.95·498.75 + 50 = 523.8125", time.Second, nil, 524},
		{"failed read keeps the value", 100 * time.Millisecond, errors.New("gone"), 524},
		{"next read spans both ticks: 350ms/(500ms×2) = 350 → 515.121875", 250 * time.Millisecond, nil, 515},
		{"0.95·515.121875 + 0.05·250 = 501.86578125", 125 * time.Millisecond, nil, 502},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			u.add(st.used, st.err)
			clk.Advance(DefaultInterval)
			<-ticks
			if got := s.Usage(); got != st.want {
				t.Fatalf("Usage = %d, want %d", got, st.want)
			}
		})
	}
}

func TestSamplerCounterReset(t *testing.T) {
	s, clk, u, ticks := newTestSampler(t, WithDecay(0))
	s.Start()
	defer s.Stop()
	u.add(250*time.Millisecond, nil)
	clk.Advance(DefaultInterval)
	<-ticks
	if got := s.Usage(); got != 500 {
		t.Fatalf("Usage = %d, want 500", got)
	}
	u.add(-time.Second, nil) // the counter went backwards: skipped, new baseline
	clk.Advance(DefaultInterval)
	<-ticks
	if got := s.Usage(); got != 500 {
		t.Fatalf("after a reset Usage = %d, want 500 kept", got)
	}
	u.add(50*time.Millisecond, nil) // measured from the new baseline; β = 0: no smoothing
	clk.Advance(DefaultInterval)
	<-ticks
	if got := s.Usage(); got != 100 {
		t.Fatalf("Usage = %d, want 100", got)
	}
}

func TestSamplerStopStartCarriesAverage(t *testing.T) {
	s, clk, u, ticks := newTestSampler(t, WithInterval(time.Second), WithDecay(0.5))
	s.Start()
	s.Start() // no second goroutine or ticker
	if n := clk.Waiters(); n != 1 {
		t.Fatalf("%d tickers after two Starts, want 1", n)
	}
	u.add(2*time.Second, nil)
	clk.Advance(time.Second)
	<-ticks
	s.Stop()
	s.Stop()
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("%d tickers after Stop, want 0", n)
	}
	if got := s.Usage(); got != 1000 {
		t.Fatalf("Usage = %d, want 1000", got)
	}
	// CPU used while stopped is not counted: Start takes a new baseline.
	u.add(time.Hour, nil)
	clk.Advance(time.Hour)
	s.Start()
	defer s.Stop()
	clk.Advance(time.Second)
	<-ticks
	if got := s.Usage(); got != 500 { // 0.5·1000 + 0.5·0
		t.Fatalf("Usage after restart = %d, want 500", got)
	}
}

func TestSamplerStartStopConcurrent(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	u := &fakeUsage{}
	s, err := NewSampler(WithClock(clk), WithUsageReader(u.read), WithQuota(1))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				if (g+i)%2 == 0 {
					s.Start()
				} else {
					s.Stop()
				}
				_ = s.Usage()
			}
		})
	}
	wg.Wait()
	s.Stop()
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("%d tickers left after the final Stop, want 0", n)
	}
}

// TestSamplerReal samples this process for real while it burns some CPU.
// It asserts no timing, only that the reading is in range and Stop returns.
func TestSamplerReal(t *testing.T) {
	s, err := NewSampler(WithInterval(5 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	x := 1.0
	for i := range 20_000_000 {
		x = math.Sqrt(x + float64(i))
	}
	s.Stop()
	if got := s.Usage(); got < 0 || got > 1000 {
		t.Fatalf("Usage = %d (x=%v)", got, x)
	}
}

func TestNewSamplerOptions(t *testing.T) {
	failing := func() (time.Duration, error) { return 0, errors.New("no cgroup") }
	tests := []struct {
		name string
		opt  Option
		want string // "" for no error
	}{
		{"quota fraction", WithQuota(0.25), ""},
		{"zero quota", WithQuota(0), "WithQuota"},
		{"negative quota", WithQuota(-1), "WithQuota"},
		{"NaN quota", WithQuota(math.NaN()), "WithQuota"},
		{"infinite quota", WithQuota(math.Inf(1)), "WithQuota"},
		{"zero interval", WithInterval(0), "WithInterval"},
		{"decay 0", WithDecay(0), ""},
		{"decay 1", WithDecay(1), "WithDecay"},
		{"negative decay", WithDecay(-0.1), "WithDecay"},
		{"NaN decay", WithDecay(math.NaN()), "WithDecay"},
		{"empty root", WithCgroupRoot(""), "WithCgroupRoot"},
		{"empty proc", WithProcCgroup(""), "WithProcCgroup"},
		{"missing proc file means host", WithProcCgroup("/nonexistent/cgroup"), ""},
		{"unreadable usage", WithUsageReader(failing), "no cgroup"},
		{"nil usage reader keeps the default", WithUsageReader(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSampler(tt.opt)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestOverrideLimit(t *testing.T) {
	s, err := NewSampler(WithQuota(1.5))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Limit(); got != (Limit{CPUs: 1.5, Source: "override", Usage: "process"}) {
		t.Fatalf("Limit = %+v", got)
	}
}

func TestStaticAndManual(t *testing.T) {
	if got := Static(900).Usage(); got != 900 {
		t.Fatalf("Static(900).Usage() = %d", got)
	}
	var m Manual
	if got := m.Usage(); got != 0 {
		t.Fatalf("zero Manual reads %d", got)
	}
	m.Set(750)
	if got := m.Usage(); got != 750 {
		t.Fatalf("Manual after Set(750) reads %d", got)
	}
}

func TestUsageAllocs(t *testing.T) {
	s, _, _, _ := newTestSampler(t)
	if n := testing.AllocsPerRun(1000, func() { _ = s.Usage() }); n != 0 {
		t.Fatalf("Usage: %v allocs, want 0", n)
	}
}

func BenchmarkUsage(b *testing.B) {
	s, err := NewSampler(WithQuota(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Usage()
	}
}

func BenchmarkUsageParallel(b *testing.B) {
	s, err := NewSampler(WithQuota(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = s.Usage()
		}
	})
}

// BenchmarkSample is one tick's work with the detected source (file reads or
// getrusage); it is off the hot path but shows the cost of sampling.
func BenchmarkSample(b *testing.B) {
	s, err := NewSampler()
	if err != nil {
		b.Fatal(err)
	}
	s.baseline()
	b.ReportAllocs()
	for b.Loop() {
		s.sample()
	}
}
