package retry

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func newWindow(t testing.TB, opts ...Option) (*Window, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(time.Time{})
	w, err := New(append([]Option{WithClock(fake)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w, fake
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opt     Option
		wantErr string
	}{
		{"zero period", WithPeriod(0), "WithPeriod"},
		{"negative period", WithPeriod(-time.Second), "WithPeriod"},
		{"zero healthy rate", WithHealthyRate(0), "WithHealthyRate"},
		{"healthy rate above one", WithHealthyRate(1.01), "WithHealthyRate"},
		{"NaN healthy rate", WithHealthyRate(nanRate()), "WithHealthyRate"},
		{"zero credit cap", WithCreditCap(0), "WithCreditCap"},
		{"healthy rate of one", WithHealthyRate(1), ""},
		{"credit off", WithRemoteCredit(false), ""},
		{"reset to one", WithResetToOne(), ""},
		{"nil clock", WithClock(nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.opt)
			if tt.wantErr == "" {
				if err != nil || w == nil {
					t.Fatalf("New = %v, %v", w, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "retry: "+tt.wantErr+": ") {
				t.Fatalf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func nanRate() float64 {
	zero := 0.0
	return zero / zero
}

// period is one period of traffic in a replay.
type period struct {
	local    int     // ObserveLocal calls (t)
	attempts int     // Allow calls; min(attempts, f) are admitted (g)
	succ     int     // Record(true) calls
	fail     int     // Record(false) calls
	grants   []int64 // Grant calls, in order
	idle     int     // idle periods skipped after this one
	want     int64   // the window f in the period after
}

func replay(t *testing.T, opts []Option, periods []period) {
	t.Helper()
	w, fake := newWindow(t, opts...)
	for i, p := range periods {
		f := w.Stats().Window
		for range p.local {
			w.ObserveLocal()
		}
		admitted := int64(0)
		for range p.attempts {
			if err := w.Allow(); err == nil {
				admitted++
			} else if !errors.Is(err, ErrNoBudget) {
				t.Fatalf("period %d: Allow = %v", i, err)
			}
		}
		if want := min(int64(p.attempts), f); admitted != want {
			t.Fatalf("period %d: admitted %d of %d with f=%d, want %d", i, admitted, p.attempts, f, want)
		}
		for range p.succ {
			w.Record(true)
		}
		for range p.fail {
			w.Record(false)
		}
		for _, n := range p.grants {
			w.Grant(n)
		}
		s := w.Stats()
		if s.Window != f || s.Sent != admitted || s.Local != int64(p.local) ||
			s.Successes != int64(p.succ) || s.Failures != int64(p.fail) {
			t.Fatalf("period %d: Stats = %+v", i, s)
		}
		fake.Advance(time.Duration(1+p.idle) * time.Second)
		if got := w.Stats().Window; got != p.want {
			t.Fatalf("period %d (f=%d, t=%d, g=%d, %d ok/%d failed, grants %v): next f = %d, want %d",
				i, f, p.local, admitted, p.succ, p.fail, p.grants, got, p.want)
		}
	}
}

// TestWindowFormula replays periods against values computed by hand from
// SEEDS.md A2, without remote credit.
func TestWindowFormula(t *testing.T) {
	noCredit := []Option{WithRemoteCredit(false)}
	tests := []struct {
		name    string
		opts    []Option
		periods []period
	}{
		{"starts at one and keeps it unused", noCredit, []period{
			{want: 1},
			{local: 500, want: 1},
		}},
		{"t below 100 grows by one", noCredit, []period{
			{local: 50, attempts: 5, succ: 1, want: 2},
			{local: 99, attempts: 5, succ: 2, want: 3},
			{local: 0, attempts: 3, succ: 3, want: 4},
			{local: 50, attempts: 3, succ: 3, want: 4}, // g=3 < f=4: keep
		}},
		{"f small, t large doubles", noCredit, []period{
			{local: 10000, attempts: 1000, want: 2},
			{local: 10000, attempts: 1000, want: 4},
			{local: 10000, attempts: 1000, want: 8},
			{local: 10000, attempts: 1000, want: 16},
			{local: 10000, attempts: 1000, want: 32},
			{local: 10000, attempts: 1000, want: 64},
			{local: 10000, attempts: 1000, want: 128},
			// now f > 1%·t = 100: grow by 100
			{local: 10000, attempts: 1000, want: 228},
			{local: 10000, attempts: 1000, want: 328},
		}},
		{"1% of t is floored", noCredit, []period{
			{local: 1000, attempts: 1, want: 2},
			{local: 1000, attempts: 2, want: 4},
			{local: 1000, attempts: 4, want: 8},
			{local: 1000, attempts: 8, want: 16},
			{local: 1099, attempts: 16, want: 26}, // ⌊1099/100⌋ = 10
			{local: 199, attempts: 26, want: 27},  // ⌊199/100⌋ = 1
		}},
		{"unused window is kept while healthy", noCredit, []period{
			{local: 10000, attempts: 1, succ: 1, want: 2},
			{local: 10000, attempts: 2, succ: 2, want: 4},
			{local: 10000, attempts: 3, succ: 3, want: 4},
			{local: 10000, attempts: 0, want: 4},
		}},
		{"halves to one and stays there", noCredit, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, want: 4},
			{local: 10000, attempts: 4, want: 8},
			{local: 10000, attempts: 8, fail: 1, want: 4},
			{local: 10000, attempts: 4, fail: 4, want: 2},
			{local: 10000, attempts: 2, fail: 2, want: 1},
			{local: 10000, attempts: 1, fail: 1, want: 1},
		}},
		{"odd window halves down", noCredit, []period{
			{local: 300, attempts: 1, want: 2},
			{local: 300, attempts: 2, want: 4},
			{local: 300, attempts: 4, want: 7},
			{local: 300, attempts: 7, fail: 7, want: 3},
		}},
		{"98% exactly is healthy", noCredit, []period{
			{local: 10000, attempts: 1, succ: 49, fail: 1, want: 2},
		}},
		{"just under 98% backs off", noCredit, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, succ: 48, fail: 1, want: 1},
		}},
		{"failures without use still back off", noCredit, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, want: 4},
			{attempts: 0, fail: 1, want: 2},
		}},
		{"custom healthy rate", append([]Option{WithHealthyRate(0.5)}, noCredit...), []period{
			{local: 10000, attempts: 1, succ: 1, fail: 1, want: 2},
			{local: 10000, attempts: 2, succ: 1, fail: 2, want: 1},
		}},
		{"reset to one", append([]Option{WithResetToOne()}, noCredit...), []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, want: 4},
			{local: 10000, attempts: 4, want: 8},
			{local: 10000, attempts: 8, fail: 1, want: 1},
			{local: 10000, attempts: 1, want: 2},
		}},
		{"idle periods keep f after growing once", noCredit, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, idle: 10, want: 4},
			{idle: 100, want: 4},
		}},
		{"idle periods after a failure halve once", noCredit, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, want: 4},
			{local: 10000, attempts: 4, fail: 4, idle: 50, want: 2},
		}},
		{"grants are ignored when credit is off", noCredit, []period{
			{attempts: 1, grants: []int64{500}, want: 2},
			{grants: []int64{500}, want: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { replay(t, tt.opts, tt.periods) })
	}
}

// TestWindowCredit replays periods with remote credit on:
// f(i+1) = max(formula, min(grant, cap)) when healthy, the formula otherwise.
func TestWindowCredit(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		periods []period
	}{
		{"no grant is the source's formula", nil, []period{
			{local: 10000, attempts: 1, want: 2},
			{local: 10000, attempts: 2, want: 4},
			{local: 10000, attempts: 3, want: 4},
			{local: 10000, attempts: 4, fail: 1, want: 2},
		}},
		{"grant raises an unused window", nil, []period{
			{grants: []int64{50}, want: 50},
		}},
		{"grant is consumed at the roll", nil, []period{
			{grants: []int64{50}, want: 50},
			{attempts: 10, want: 50},           // kept by the formula, not by the grant
			{attempts: 50, local: 0, want: 51}, // used up, t < 100: +1
		}},
		{"grant below the formula changes nothing", nil, []period{
			{grants: []int64{50}, want: 50},
			{local: 1000, attempts: 50, grants: []int64{55}, want: 60}, // formula 50+10
			{local: 1000, attempts: 60, grants: []int64{100}, want: 100},
		}},
		{"latest grant wins", nil, []period{
			{grants: []int64{50, 20}, want: 20},
			{grants: []int64{80, 0}, want: 20}, // withdrawn
			{grants: []int64{-5}, want: 20},
		}},
		{"grant is capped", []Option{WithCreditCap(100)}, []period{
			{grants: []int64{5000}, want: 100},
		}},
		{"default cap is 1000", nil, []period{
			{grants: []int64{1 << 40}, want: 1000},
		}},
		{"unhealthy remote withdraws the credit at once", nil, []period{
			{grants: []int64{64}, want: 64},
			// The formula alone was still at 1: the credit is withdrawn, not halved.
			{attempts: 64, succ: 10, fail: 10, grants: []int64{500}, want: 1},
			{attempts: 1, fail: 1, grants: []int64{500}, want: 1},
			{succ: 1, grants: []int64{500}, want: 500},
		}},
		{"withdrawn credit falls back to the formula's own window, halved", nil, []period{
			{attempts: 1, succ: 1, want: 2},
			{attempts: 2, succ: 2, want: 3},
			{attempts: 3, succ: 3, want: 4},
			{attempts: 4, succ: 4, grants: []int64{500}, want: 500}, // the formula alone: 5
			{attempts: 500, succ: 10, fail: 10, want: 2},            // the formula's own 5, halved
		}},
		{"unhealthy remote with reset to one ignores the grant", []Option{WithResetToOne()}, []period{
			{grants: []int64{64}, want: 64},
			{fail: 1, grants: []int64{500}, want: 1},
		}},
		{"grant then idle periods", nil, []period{
			{grants: []int64{30}, idle: 20, want: 30},
			{idle: 20, want: 30},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { replay(t, tt.opts, tt.periods) })
	}
}

func TestWindowPeriodBoundaries(t *testing.T) {
	w, fake := newWindow(t, WithPeriod(100*time.Millisecond))
	start := fake.Now()
	if err := w.Allow(); err != nil {
		t.Fatalf("first Allow = %v", err)
	}
	if err := w.Allow(); !errors.Is(err, ErrNoBudget) {
		t.Fatalf("second Allow = %v, want ErrNoBudget", err)
	}
	fake.Advance(99 * time.Millisecond)
	if err := w.Allow(); !errors.Is(err, ErrNoBudget) {
		t.Fatalf("Allow 1ns before the boundary = %v, want ErrNoBudget", err)
	}
	fake.Advance(time.Millisecond) // exactly on the boundary: a new period
	s := w.Stats()
	if s.Window != 2 || s.Sent != 0 || !s.PeriodStart.Equal(start.Add(100*time.Millisecond)) {
		t.Fatalf("at the boundary Stats = %+v", s)
	}
	// Periods stay aligned to the start after a jump of 3.5 periods.
	fake.Advance(350 * time.Millisecond)
	if s := w.Stats(); !s.PeriodStart.Equal(start.Add(400 * time.Millisecond)) {
		t.Fatalf("after a jump PeriodStart = %v, want start+400ms", s.PeriodStart.Sub(start))
	}
	// A clock stepped backwards does not reopen or roll a period.
	w.ObserveLocal()
	fake.Set(start)
	w.ObserveLocal()
	if s := w.Stats(); s.Local != 2 || !s.PeriodStart.Equal(start.Add(400*time.Millisecond)) {
		t.Fatalf("after a backwards step Stats = %+v", s)
	}
}

func TestRecordLateCountsInCurrentPeriod(t *testing.T) {
	w, fake := newWindow(t)
	if err := w.Allow(); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Second)
	w.Record(false) // the retry from the previous period failed late
	if s := w.Stats(); s.Failures != 1 || s.Window != 2 {
		t.Fatalf("Stats = %+v, want the failure in the new period and f = 2", s)
	}
	fake.Advance(time.Second)
	if got := w.Stats().Window; got != 1 {
		t.Fatalf("f after the late failure = %d, want 1", got)
	}
}

// TestWindowConcurrent races many goroutines for each period's window: exactly
// f retries are admitted per period, and every count adds up.
func TestWindowConcurrent(t *testing.T) {
	const goroutines, locals, attempts = 8, 500, 200 // t = 4000, 1% = 40
	w, fake := newWindow(t)
	wantF := []int64{1, 2, 4, 8, 16, 32, 64, 104, 144, 184, 224}
	for i, f := range wantF {
		var admitted, rejected atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for j := range max(locals, attempts) {
					if j < locals {
						w.ObserveLocal()
					}
					if j < attempts {
						switch err := w.Allow(); {
						case err == nil:
							admitted.Add(1)
							w.Record(true)
						case errors.Is(err, ErrNoBudget):
							rejected.Add(1)
						default:
							t.Errorf("Allow = %v", err)
						}
					}
					if j%50 == 0 {
						_ = w.Stats()
					}
				}
			})
		}
		wg.Wait()
		s := w.Stats()
		if admitted.Load() != f || s.Window != f || s.Sent != f {
			t.Fatalf("period %d: admitted %d, Stats %+v; want f = %d", i, admitted.Load(), s, f)
		}
		if admitted.Load()+rejected.Load() != goroutines*attempts {
			t.Fatalf("period %d: %d admitted + %d rejected != %d", i, admitted.Load(), rejected.Load(), goroutines*attempts)
		}
		if s.Local != goroutines*locals || s.Successes != f || s.Failures != 0 {
			t.Fatalf("period %d: Stats %+v; want Local %d and %d successes", i, s, goroutines*locals, f)
		}
		fake.Advance(time.Second)
	}
}

func TestWindowDoesNotAllocate(t *testing.T) {
	w, _ := newWindow(t)
	for name, f := range map[string]func(){
		"Allow":        func() { _ = w.Allow() },
		"Record":       func() { w.Record(true) },
		"ObserveLocal": func() { w.ObserveLocal() },
		"Grant":        func() { w.Grant(10) },
		"Stats":        func() { _ = w.Stats() },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
