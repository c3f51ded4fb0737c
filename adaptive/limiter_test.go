package adaptive

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/cpu"
)

const ms = time.Millisecond

// The CPU sources of internal/cpu fit WithCPU, and the Limiter fits the shed
// package's capacity interface (declared here: shed is on the same floor).
var (
	_ CPU = (*cpu.Sampler)(nil)
	_ CPU = cpu.Static(0)
	_ CPU = (*cpu.Manual)(nil)

	_ interface {
		Capacity() (limit int64, limited bool)
	} = (*Limiter)(nil)
)

func newLimiter(t testing.TB, opts ...Option) (*Limiter, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	l, err := New(append([]Option{WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

// burst is n requests that start together, run rt, then finish together;
// the clock then moves on by gap.
type burst struct {
	n       int
	rt, gap time.Duration
}

func feed(l *Limiter, clk *clock.Fake, bursts ...burst) {
	for _, b := range bursts {
		toks := make([]Token, b.n)
		for i := range toks {
			toks[i] = l.Start()
		}
		clk.Advance(b.rt)
		for _, tok := range toks {
			tok.Done()
		}
		clk.Advance(b.gap)
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string // "" for no error
	}{
		{"defaults", nil, ""},
		{"threshold 1", []Option{WithCPUThreshold(1)}, ""},
		{"threshold 1000", []Option{WithCPUThreshold(1000)}, ""},
		{"threshold 0", []Option{WithCPUThreshold(0)}, "WithCPUThreshold"},
		{"threshold 1001", []Option{WithCPUThreshold(1001)}, "WithCPUThreshold"},
		{"zero window", []Option{WithWindow(0)}, "WithWindow"},
		{"negative window", []Option{WithWindow(-time.Second)}, "WithWindow"},
		{"zero buckets", []Option{WithBuckets(0)}, "WithBuckets"},
		{"one bucket", []Option{WithBuckets(1)}, ""},
		{"1ms buckets", []Option{WithWindow(time.Second), WithBuckets(1000)}, ""},
		{"buckets under 1ms", []Option{WithWindow(time.Second), WithBuckets(1001)}, "WithBuckets: window 1s / 1001 buckets"},
		{"window under 1ms", []Option{WithWindow(time.Microsecond), WithBuckets(1)}, "must be ≥ 1ms"},
		{"cool-down off", []Option{WithCoolDown(0)}, ""},
		{"negative cool-down", []Option{WithCoolDown(-1)}, "WithCoolDown"},
		{"nil CPU and clock", []Option{WithCPU(nil), WithClock(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.opts...)
			if tt.want == "" {
				if err != nil || l == nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "adaptive: ") {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestCapacityAndStats feeds completions in known buckets (100 ms each) and
// checks the estimate: maxInflight = ⌈maxPass × minRt / 100 ms⌉, ≥ 1.
func TestCapacityAndStats(t *testing.T) {
	tests := []struct {
		name        string
		cpu         CPU
		bursts      []burst
		then        time.Duration // clock move after the bursts
		limit       int64
		limited     bool
		maxPass     int64
		minRt       time.Duration
		coolingDown bool
	}{
		{name: "cold start", cpu: cpu.Static(900), limit: Unlimited, limited: true},
		{name: "cold start, CPU low", cpu: cpu.Static(300), limit: Unlimited},
		{name: "no CPU source counts as overloaded", cpu: nil, limit: Unlimited, limited: true},
		{
			name: "bucket in progress is not used", cpu: cpu.Static(900),
			bursts: []burst{{20, 50 * ms, 0}}, limit: Unlimited, limited: true,
		},
		{
			name: "one completed bucket: 20 × 50ms / 100ms = 10", cpu: cpu.Static(900),
			bursts: []burst{{20, 50 * ms, 50 * ms}}, limit: 10, limited: true, maxPass: 20, minRt: 50 * ms,
		},
		{
			name: "CPU at the threshold is limited", cpu: cpu.Static(DefaultThreshold),
			bursts: []burst{{20, 50 * ms, 50 * ms}}, limit: 10, limited: true, maxPass: 20, minRt: 50 * ms,
		},
		{
			name: "CPU below the threshold: limit known, not applied", cpu: cpu.Static(DefaultThreshold - 1),
			bursts: []burst{{20, 50 * ms, 50 * ms}}, limit: 10, maxPass: 20, minRt: 50 * ms,
		},
		{
			name: "max pass and min RT from different buckets: 30 × 20ms / 100ms = 6", cpu: cpu.Static(900),
			bursts: []burst{{10, 20 * ms, 80 * ms}, {30, 80 * ms, 20 * ms}},
			limit:  6, limited: true, maxPass: 30, minRt: 20 * ms,
		},
		{
			name: "bucket average, not the fastest request", cpu: cpu.Static(900),
			// One bucket: 10 at 10ms then 10 at 30ms → average 20ms; 20 × 20 / 100 = 4.
			bursts: []burst{{10, 10 * ms, 0}, {10, 30 * ms, 60 * ms}},
			limit:  4, limited: true, maxPass: 20, minRt: 20 * ms,
		},
		{
			name: "rounds up: 3 × 50ms / 100ms = 1.5 → 2", cpu: cpu.Static(900),
			bursts: []burst{{3, 50 * ms, 50 * ms}}, limit: 2, limited: true, maxPass: 3, minRt: 50 * ms,
		},
		{
			name: "never below 1: 1 × 1ms / 100ms", cpu: cpu.Static(900),
			bursts: []burst{{1, ms, 99 * ms}}, limit: 1, limited: true, maxPass: 1, minRt: ms,
		},
		{
			name: "zero round trips still give 1", cpu: cpu.Static(900),
			bursts: []burst{{5, 0, 100 * ms}}, limit: 1, limited: true, maxPass: 5, minRt: 0,
		},
		{
			name: "the window remembers 100 completed buckets", cpu: cpu.Static(900),
			bursts: []burst{{20, 50 * ms, 50 * ms}}, then: DefaultWindow - 100*ms,
			limit: 10, limited: true, maxPass: 20, minRt: 50 * ms,
		},
		{
			name: "after a quiet window the estimate is gone", cpu: cpu.Static(900),
			bursts: []burst{{20, 50 * ms, 50 * ms}}, then: DefaultWindow,
			limit: Unlimited, limited: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newLimiter(t, WithCPU(tt.cpu))
			feed(l, clk, tt.bursts...)
			clk.Advance(tt.then)
			limit, limited := l.Capacity()
			if limit != tt.limit || limited != tt.limited {
				t.Fatalf("Capacity = (%d, %v), want (%d, %v)", limit, limited, tt.limit, tt.limited)
			}
			wantCPU := int64(1000)
			if tt.cpu != nil {
				wantCPU = tt.cpu.Usage()
			}
			want := Stats{
				CPU: wantCPU, MaxInflight: tt.limit, MinRt: tt.minRt, MaxPass: tt.maxPass,
				MaxPassPerSecond: float64(tt.maxPass) * 10, CoolingDown: tt.coolingDown, Limited: tt.limited,
			}
			if got := l.Stats(); got != want {
				t.Fatalf("Stats = %+v\nwant    %+v", got, want)
			}
		})
	}
}

func TestEstimateCachedWithinBucket(t *testing.T) {
	l, clk := newLimiter(t, WithCPU(cpu.Static(900)))
	feed(l, clk, burst{20, 50 * ms, 50 * ms}) // now at 100ms, in bucket 1
	if limit, _ := l.Capacity(); limit != 10 {
		t.Fatalf("limit = %d, want 10", limit)
	}
	// These completions land in bucket 1, which is in progress: the
	// estimate must not move until bucket 2 begins, and then it must.
	feed(l, clk, burst{60, 50 * ms, 0})
	if limit, _ := l.Capacity(); limit != 10 {
		t.Fatalf("limit moved within a bucket to %d", limit)
	}
	clk.Advance(50 * ms)
	if limit, _ := l.Capacity(); limit != 30 { // 60 × 50 / 100
		t.Fatalf("limit in the next bucket = %d, want 30", limit)
	}
}

func TestColdStartAdmits(t *testing.T) {
	l, _ := newLimiter(t, WithCPU(cpu.Static(1000)))
	for i := range 1000 {
		if _, err := l.Allow(); err != nil {
			t.Fatalf("request %d shed on a cold start: %v", i, err)
		}
	}
	if got := l.Stats().InFlight; got != 1000 {
		t.Fatalf("InFlight = %d, want 1000", got)
	}
}

func TestAllowShedsAtTheLimit(t *testing.T) {
	l, clk := newLimiter(t, WithCPU(cpu.Static(900)))
	feed(l, clk, burst{3, 50 * ms, 50 * ms}) // limit 2
	a, errA := l.Allow()
	b, errB := l.Allow()
	_, errC := l.Allow()
	if errA != nil || errB != nil {
		t.Fatalf("first two shed: %v, %v", errA, errB)
	}
	if !errors.Is(errC, ErrOverload) {
		t.Fatalf("third = %v, want ErrOverload", errC)
	}
	a.Done()
	if _, err := l.Allow(); err != nil {
		t.Fatalf("after a Done the slot should be free: %v", err)
	}
	b.Done()
	// Start bypasses the check.
	l.Start()
	l.Start()
	if got := l.Stats().InFlight; got != 3 {
		t.Fatalf("InFlight = %d, want 3 (1 allowed + 2 started)", got)
	}
}

// TestCoolDown: after a drop with the CPU high, the CPU falls; for 1 s the
// inflight check still sheds, drops made then do not extend it, and after
// 1 s shedding stops.
func TestCoolDown(t *testing.T) {
	var c cpu.Manual
	c.Set(900)
	l, clk := newLimiter(t, WithCPU(&c))
	feed(l, clk, burst{3, 50 * ms, 50 * ms}) // limit 2
	l.Start()
	l.Start() // two held: inflight = limit
	if _, err := l.Allow(); !errors.Is(err, ErrOverload) {
		t.Fatalf("CPU high at the limit: err = %v", err)
	}
	c.Set(300)
	steps := []struct {
		name    string
		advance time.Duration
		shed    bool
		cooling bool
	}{
		{"at once", 0, true, true},
		{"half a second later", 500 * ms, true, true},
		{"just before 1s", 499 * ms, true, true},
		{"at 1s the cool-down is over", ms, false, false},
		{"and stays over", time.Second, false, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Advance(st.advance)
			if got := l.Stats().CoolingDown; got != st.cooling {
				t.Fatalf("CoolingDown = %v, want %v", got, st.cooling)
			}
			if _, limited := l.Capacity(); limited != st.cooling {
				t.Fatalf("Capacity limited = %v, want %v", limited, st.cooling)
			}
			tok, err := l.Allow()
			if shed := errors.Is(err, ErrOverload); shed != st.shed {
				t.Fatalf("shed = %v (err %v), want %v", shed, err, st.shed)
			}
			tok.Done() // the zero Token's Done does nothing
		})
	}
}

func TestCoolDownAdmitsBelowLimit(t *testing.T) {
	var c cpu.Manual
	c.Set(900)
	l, clk := newLimiter(t, WithCPU(&c))
	feed(l, clk, burst{3, 50 * ms, 50 * ms}) // limit 2
	held := []Token{l.Start(), l.Start()}
	if _, err := l.Allow(); err == nil {
		t.Fatal("not shed at the limit")
	}
	c.Set(100)
	held[0].Done()
	if _, err := l.Allow(); err != nil {
		t.Fatalf("in cool-down below the limit: %v", err)
	}
}

func TestCoolDownOff(t *testing.T) {
	var c cpu.Manual
	c.Set(900)
	l, clk := newLimiter(t, WithCPU(&c), WithCoolDown(0))
	feed(l, clk, burst{3, 50 * ms, 50 * ms})
	l.Start()
	l.Start()
	if _, err := l.Allow(); err == nil {
		t.Fatal("not shed at the limit")
	}
	c.Set(799)
	if _, err := l.Allow(); err != nil {
		t.Fatalf("with no cool-down a low CPU admits at once: %v", err)
	}
}

func TestTokenEdgeCases(t *testing.T) {
	l, clk := newLimiter(t, WithCPU(cpu.Static(900)))
	Token{}.Done()
	tok := l.Start()
	clk.Set(clk.Now().Add(-time.Hour)) // the clock steps back: RT counts as 0
	tok.Done()
	clk.Set(clk.Now().Add(time.Hour + 100*ms))
	st := l.Stats()
	if st.InFlight != 0 || st.MaxPass != 1 || st.MinRt != 0 {
		t.Fatalf("Stats = %+v, want one completion with RT 0", st)
	}
}

func TestMaxInflightArithmetic(t *testing.T) {
	tests := []struct {
		name                string
		maxPass, sum, count int64
		width               time.Duration
		want                int64
	}{
		{"exact", 100, 10 * 10_000_000, 10, 100 * ms, 10},
		{"rounds up", 100, 1001 * 10_000_000, 1000, 100 * ms, 11},
		{"at least 1", 1, 1, 1, 100 * ms, 1},
		{"zero RT", 10, 0, 10, 100 * ms, 1},
		{"product beyond 64 bits", math.MaxInt64, math.MaxInt64, 1, ms, Unlimited},
		{"huge but fits", 1 << 40, 1 << 40, 1, 1 << 20, 1 << 60},
		{"denominator beyond 64 bits", 1 << 40, 3 << 60, 1 << 40, time.Duration(1) << 40, 3 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxInflight(tt.maxPass, tt.sum, tt.count, tt.width); got != tt.want {
				t.Fatalf("= %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLessRatio(t *testing.T) {
	tests := []struct {
		a, b, c, d int64
		want       bool
	}{
		{1, 2, 2, 3, true},
		{2, 3, 1, 2, false},
		{2, 4, 1, 2, false}, // equal
		{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 1, math.MaxInt64 - 2, true},
		{0, 5, 0, 1, false},
	}
	for _, tt := range tests {
		if got := lessRatio(tt.a, tt.b, tt.c, tt.d); got != tt.want {
			t.Errorf("lessRatio(%d/%d < %d/%d) = %v", tt.a, tt.b, tt.c, tt.d, got)
		}
	}
}

// TestConcurrentHammer runs Allow/Start/Done, Capacity and Stats from many
// goroutines while the clock moves and the CPU flips across the threshold.
// Every attempt must be either admitted or shed, every admitted request must
// be recorded exactly once, and inflight must return to exactly 0.
func TestConcurrentHammer(t *testing.T) {
	var c cpu.Manual
	l, clk := newLimiter(t, WithCPU(&c))
	const goroutines, perG = 16, 3000
	var admitted, shed, started atomic.Int64
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // moves the clock 1ms at a time, well inside one window
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i < 5000 {
				clk.Advance(ms)
			}
			c.Set(int64(i%3) * 450) // 0, 450, 900
			l.Capacity()
			l.Stats()
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var held []Token
			for i := range perG {
				if i%10 == g%10 {
					held = append(held, l.Start())
					started.Add(1)
				} else if tok, err := l.Allow(); err == nil {
					admitted.Add(1)
					held = append(held, tok)
				} else if errors.Is(err, ErrOverload) {
					shed.Add(1)
				} else {
					t.Errorf("unexpected error %v", err)
				}
				if len(held) > g%4 { // each goroutine holds up to g%4 at once
					held[0].Done()
					held = held[1:]
				}
			}
			for _, tok := range held {
				tok.Done()
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	attempts := int64(goroutines*perG) - started.Load()
	if got := admitted.Load() + shed.Load(); got != attempts {
		t.Fatalf("admitted %d + shed %d = %d, want %d attempts", admitted.Load(), shed.Load(), got, attempts)
	}
	if got := l.Stats().InFlight; got != 0 {
		t.Fatalf("InFlight = %d after every Done, want 0", got)
	}
	l.mu.Lock()
	recorded, _ := l.rt.Total(clk.Since(l.start))
	l.mu.Unlock()
	if want := admitted.Load() + started.Load(); recorded != want {
		t.Fatalf("window recorded %d completions, want %d", recorded, want)
	}
	t.Logf("admitted %d, shed %d, started %d", admitted.Load(), shed.Load(), started.Load())
}

func TestZeroAllocs(t *testing.T) {
	tests := []struct {
		name string
		cpu  int64
		fn   func(l *Limiter)
	}{
		{"Allow+Done, CPU low", 300, func(l *Limiter) { tok, _ := l.Allow(); tok.Done() }},
		{"Allow+Done, CPU high", 900, func(l *Limiter) { tok, _ := l.Allow(); tok.Done() }},
		{"Allow shed", 900, func(l *Limiter) {
			a, _ := l.Allow()
			b, _ := l.Allow()
			_, err := l.Allow()
			if err == nil {
				panic("not shed")
			}
			a.Done()
			b.Done()
		}},
		{"Start+Done", 900, func(l *Limiter) { l.Start().Done() }},
		{"Capacity", 900, func(l *Limiter) { l.Capacity() }},
		{"Stats", 900, func(l *Limiter) { l.Stats() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clk := newLimiter(t, WithCPU(cpu.Static(tt.cpu)))
			feed(l, clk, burst{3, 50 * ms, 50 * ms}) // limit 2
			allocs := testing.AllocsPerRun(1000, func() {
				tt.fn(l)
				// Move to a new bucket now and then so that the estimate
				// is recomputed inside the measured calls, too.
				clk.Advance(ms)
			})
			if allocs != 0 {
				t.Fatalf("%v allocs per call, want 0", allocs)
			}
		})
	}
}

// TestStartAtDoneAt: the caller-supplied readings give the same round trips and inflight
// counts as Start and Done.
func TestStartAtDoneAt(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l, err := New(WithClock(clk), WithWindow(time.Second), WithBuckets(10))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		now := l.Now()
		tok := l.StartAt(now)
		if l.Inflight() != 1 {
			t.Fatalf("inflight %d after StartAt, want 1", l.Inflight())
		}
		tok.DoneAt(now + 20*time.Millisecond)
		if l.Inflight() != 0 {
			t.Fatalf("inflight %d after DoneAt, want 0", l.Inflight())
		}
	}
	clk.Advance(100 * time.Millisecond) // close the bucket
	if st := l.Stats(); st.MinRt != 20*time.Millisecond || st.MaxPass != 5 {
		t.Fatalf("stats %+v, want minRt 20ms and maxPass 5", st)
	}
	Token{}.DoneAt(time.Second) // the zero Token does nothing
}

// TestCancelRecordsNothing: a cancelled token leaves the in-flight count and the round trips
// as if it had never started.
func TestCancelRecordsNothing(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l, err := New(WithClock(clk), WithWindow(time.Second), WithBuckets(10))
	if err != nil {
		t.Fatal(err)
	}
	l.Start().Cancel()
	tok := l.Start()
	clk.Advance(30 * time.Millisecond)
	tok.Done()
	clk.Advance(100 * time.Millisecond)
	if st := l.Stats(); st.InFlight != 0 || st.MaxPass != 1 || st.MinRt != 30*time.Millisecond {
		t.Fatalf("stats %+v, want inflight 0, one pass of 30ms", st)
	}
	Token{}.Cancel()
}
