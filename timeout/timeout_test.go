package timeout

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

const ms = time.Millisecond

func mustNew(t testing.TB, opts ...Option) *Dynamic {
	t.Helper()
	d, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string // "" means success
	}{
		{"defaults", nil, ""},
		{"Thwm equal to Tmax", []Option{WithThwm(500 * ms)}, ""},
		{"N of one", []Option{WithN(1)}, ""},
		{"zero Tavg", []Option{WithTavg(0)}, "WithTavg"},
		{"negative Tavg", []Option{WithTavg(-ms)}, "WithTavg"},
		{"zero Thwm", []Option{WithThwm(0)}, "WithThwm"},
		{"zero Tmax", []Option{WithTmax(0)}, "WithTmax"},
		{"zero N", []Option{WithN(0)}, "WithN"},
		{"negative initial EMA", []Option{WithInitialEMA(-1)}, "WithInitialEMA"},
		{"Tavg equal to Thwm", []Option{WithTavg(250 * ms)}, "WithThwm: must be > Tavg"},
		{"Tavg above Thwm", []Option{WithTavg(300 * ms)}, "WithThwm: must be > Tavg"},
		{"Thwm above Tmax", []Option{WithThwm(600 * ms)}, "WithTmax: must be ≥ Thwm"},
		{"Tmax below Thwm", []Option{WithTmax(200 * ms)}, "WithTmax: must be ≥ Thwm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.opts...)
			if tt.wantErr == "" {
				if err != nil || d == nil {
					t.Fatalf("New = %v, %v; want success", d, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded; want an error naming %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "timeout: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not name %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := mustNew(t)
	if d.tavg != float64(60*ms) || d.thwm != float64(250*ms) || d.tmax != float64(500*ms) {
		t.Fatalf("defaults = %v/%v/%v", d.tavg, d.thwm, d.tmax)
	}
	if d.r != 2.0/81 {
		t.Fatalf("r = %v, want 2/81", d.r)
	}
	if d.EMA() != 0 || d.Timeout() != 500*ms {
		t.Fatalf("fresh Dynamic: EMA %v, Timeout %v; want 0 and Tmax", d.EMA(), d.Timeout())
	}
}

// TestTimeoutFormula places the EMA exactly at, around and between the
// boundaries and checks the timeout against SEEDS.md B6 by hand.
func TestTimeoutFormula(t *testing.T) {
	tests := []struct {
		name string
		ema  time.Duration
		want time.Duration
	}{
		{"zero", 0, 500 * ms},
		{"below Tavg", 30 * ms, 500 * ms},
		{"at Tavg", 60 * ms, 500 * ms},
		// 250 + 189.999999/190·250 ms, truncated to the nanosecond.
		{"just above Tavg", 60*ms + 1, 499999998},
		{"a quarter of the way", 107500 * time.Microsecond, 437500 * time.Microsecond},
		{"midway", 155 * ms, 375 * ms},
		{"three quarters", 202500 * time.Microsecond, 312500 * time.Microsecond},
		{"just below Thwm", 250*ms - 1, 250*ms + 1},
		{"at Thwm", 250 * ms, 250 * ms},
		{"above Thwm", 400 * ms, 250 * ms},
		{"far above Tmax", time.Hour, 250 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustNew(t, WithInitialEMA(tt.ema))
			if got := d.EMA(); got != tt.ema {
				t.Fatalf("EMA = %v, want %v", got, tt.ema)
			}
			if got := d.Timeout(); got != tt.want {
				t.Fatalf("Timeout at ema %v = %v (%d ns), want %v", tt.ema, got, got, tt.want)
			}
		})
	}
}

// TestTimeoutContinuousAndMonotone sweeps the EMA in 1 µs steps: the timeout
// never rises as the EMA rises and always stays in [Thwm, Tmax].
func TestTimeoutContinuousAndMonotone(t *testing.T) {
	d := mustNew(t, WithTavg(10*ms), WithThwm(100*ms), WithTmax(300*ms))
	prev := d.timeoutFor(0)
	for ema := time.Duration(0); ema <= 200*ms; ema += time.Microsecond {
		got := d.timeoutFor(float64(ema))
		if got > prev {
			t.Fatalf("timeout rose from %v to %v at ema %v", prev, got, ema)
		}
		if prev-got > float64(3*time.Microsecond) {
			t.Fatalf("timeout jumped by %v ns at ema %v", prev-got, ema)
		}
		if got < d.thwm || got > d.tmax {
			t.Fatalf("timeout %v outside [Thwm, Tmax] at ema %v", got, ema)
		}
		prev = got
	}
}

func TestThwmEqualsTmaxIsConstant(t *testing.T) {
	for _, ema := range []time.Duration{0, 60 * ms, 100 * ms, 300 * ms, time.Second} {
		d := mustNew(t, WithThwm(300*ms), WithTmax(300*ms), WithInitialEMA(ema))
		if got := d.Timeout(); got != 300*ms {
			t.Fatalf("ema %v: Timeout = %v, want 300ms", ema, got)
		}
	}
}

// TestEMASequence checks the update ema = x·r + ema·(1−r) step by step, with
// values chosen to be exact in binary floating point.
func TestEMASequence(t *testing.T) {
	type step struct {
		fail bool
		x    time.Duration
		ema  time.Duration // expected EMA after the step
	}
	tests := []struct {
		name    string
		n       int
		initial time.Duration
		steps   []step
	}{
		{"N=1 follows the last value", 1, 0, []step{
			{false, 100 * ms, 100 * ms},
			{false, 7 * ms, 7 * ms},
			{false, 0, 0},
		}},
		{"N=3 halves the distance", 3, 0, []step{ // r = 1/2
			{false, 100 * ms, 50 * ms},
			{false, 100 * ms, 75 * ms},
			{false, 0, 37500 * time.Microsecond},
			{false, 200 * ms, 118750 * time.Microsecond},
		}},
		{"N=7 moves a quarter", 7, 80 * ms, []step{ // r = 1/4
			{false, 0, 60 * ms},
			{false, 140 * ms, 80 * ms},
			{false, 80 * ms, 80 * ms},
		}},
		{"negative counts as zero", 3, 100 * ms, []step{
			{false, -time.Second, 50 * ms},
		}},
		{"fail feeds Tmax when faster", 3, 0, []step{
			{true, 10 * ms, 250 * ms},
			{true, 0, 375 * ms},
		}},
		{"fail feeds elapsed when slower", 3, 0, []step{
			{true, 2 * time.Second, time.Second},
		}},
		{"fail with a negative elapsed feeds Tmax", 1, 0, []step{
			{true, -time.Second, 500 * ms},
		}},
		{"the largest duration saturates", 1, 0, []step{
			{false, math.MaxInt64, math.MaxInt64},
			{true, math.MaxInt64, math.MaxInt64},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustNew(t, WithN(tt.n), WithInitialEMA(tt.initial))
			for i, s := range tt.steps {
				if s.fail {
					d.Fail(s.x)
				} else {
					d.Observe(s.x)
				}
				if got := d.EMA(); got != s.ema {
					t.Fatalf("step %d (fail=%v, x=%v): EMA = %v, want %v", i, s.fail, s.x, got, s.ema)
				}
			}
		})
	}
}

// TestEMAConvergesWithDefaults replays a long sequence against the formula
// written out in the test, and checks the timeout follows a slow-down.
func TestEMAConvergesWithDefaults(t *testing.T) {
	d := mustNew(t)
	r := 2.0 / 81
	want := 0.0
	for i := range 400 {
		x := time.Duration(40+i%30) * ms
		if i >= 200 {
			x = 300 * ms // the dependency slows down
		}
		d.Observe(x)
		want = float64(x)*r + want*(1-r)
		if got := math.Float64frombits(d.ema.Load()); got != want {
			t.Fatalf("after %d observations ema = %v, want %v", i+1, got, want)
		}
		if i == 199 && d.Timeout() != 500*ms {
			t.Fatalf("healthy phase: Timeout = %v, want Tmax", d.Timeout())
		}
	}
	if got := d.Timeout(); got != 250*ms {
		t.Fatalf("after the slow-down: EMA %v, Timeout %v; want Thwm", d.EMA(), got)
	}
}

func TestCallUsesClock(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	d := mustNew(t, WithN(1), WithClock(fake))

	c := d.Start()
	if c.Timeout() != 500*ms {
		t.Fatalf("Call.Timeout = %v, want 500ms", c.Timeout())
	}
	fake.Advance(120 * ms)
	c.Done(true)
	if d.EMA() != 120*ms {
		t.Fatalf("after a 120ms success EMA = %v", d.EMA())
	}

	c = d.Start()
	if want := d.Timeout(); c.Timeout() != want {
		t.Fatalf("Call.Timeout = %v, want the current %v", c.Timeout(), want)
	}
	fake.Advance(30 * ms)
	c.Done(false)
	if d.EMA() != 500*ms {
		t.Fatalf("after a 30ms failure EMA = %v, want Tmax", d.EMA())
	}
}

// TestConcurrentUpdatesAreNotLost has every goroutine feed the same value
// x = Tmax (Observe(Tmax), and Fail with a shorter elapsed, which feeds
// Tmax too). Then every interleaving applies the same function n times, and
// the final EMA must equal a serial replay bit for bit. N is large, so each
// step moves the EMA by a visible amount: a single lost update would leave
// it at the (n−1)th replay value, which the test checks is different.
func TestConcurrentUpdatesAreNotLost(t *testing.T) {
	const goroutines, perG = 8, 4000
	d := mustNew(t, WithN(1_000_000))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				switch (g + i) % 3 {
				case 0:
					d.Observe(500 * ms)
				case 1:
					d.Fail(0)
				default:
					d.Fail(499 * ms)
				}
				_ = d.Timeout()
			}
		})
	}
	wg.Wait()

	x, r := float64(500*ms), 2/(1_000_000.0+1)
	replay := 0.0
	var prev float64
	for range goroutines * perG {
		prev = replay
		replay = x*r + replay*(1-r)
	}
	if prev == replay {
		t.Fatal("test is blind: the last update did not change the EMA")
	}
	if got := math.Float64frombits(d.ema.Load()); got != replay {
		t.Fatalf("final ema = %v, want %v after %d updates (one fewer gives %v)",
			got, replay, goroutines*perG, prev)
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	d := mustNew(t, WithClock(clock.NewFake(time.Time{})))
	for name, f := range map[string]func(){
		"Observe": func() { d.Observe(70 * ms) },
		"Fail":    func() { d.Fail(70 * ms) },
		"Timeout": func() { _ = d.Timeout() },
		"EMA":     func() { _ = d.EMA() },
		"Call":    func() { d.Start().Done(true) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
