package breaker

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// never is a random source that never drops: p < 1 always.
func never() float64 { return 1 }

// sreFixture is an SRE on a fake clock with a settable random value.
type sreFixture struct {
	clk   *clock.Fake
	b     *SRE
	r     float64 // what the random source returns next
	draws int
	rec   *transitions
}

func newSREFixture(t *testing.T, opts ...Option) *sreFixture {
	t.Helper()
	f := &sreFixture{clk: clock.NewFake(time.Time{}), r: 1, rec: &transitions{}}
	opts = append([]Option{
		WithClock(f.clk),
		WithRand(func() float64 { f.draws++; return f.r }),
		WithOnStateChange(f.rec.record),
	}, opts...)
	b, err := NewSRE(opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	return f
}

// feed makes accepts successful and requests−accepts failed calls, none of
// them dropped.
func (f *sreFixture) feed(t *testing.T, requests, accepts int) {
	t.Helper()
	saved := f.r
	f.r = 1
	defer func() { f.r = saved }()
	for i := range requests {
		p, err := f.b.Allow()
		if err != nil {
			t.Fatalf("Allow %d: %v", i, err)
		}
		p.Done(i < accepts)
	}
}

func formula(k float64, requests, accepts int) float64 {
	return max(0, (float64(requests)-k*float64(accepts))/float64(requests+1))
}

func TestSREDropProbability(t *testing.T) {
	tests := []struct {
		name              string
		k                 float64
		min               int
		requests, accepts int
		want              float64
	}{
		{"empty", 1.5, 0, 0, 0, 0},
		{"all succeed", 1.5, 20, 100, 100, 0},
		{"all succeed K=1", 1, 0, 7, 7, 0},
		{"below min requests, all failing", 1.5, 20, 19, 0, 0},
		{"at min requests, all failing", 1.5, 20, 20, 0, 20.0 / 21},
		{"half succeed K=1.5", 1.5, 20, 100, 50, 25.0 / 101},
		{"half succeed K=2 is not enough to drop", 2, 20, 100, 50, 0},
		{"40% succeed K=2", 2, 20, 100, 40, 20.0 / 101},
		{"one failure K=1", 1, 0, 10, 9, 1.0 / 11},
		{"one failing request, min 0", 1.5, 0, 1, 0, 1.0 / 2},
		{"min 1 counts like 0", 1.5, 1, 1, 0, 1.0 / 2},
		{"large window", 1.5, 20, 10000, 1, (10000 - 1.5) / 10001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSREFixture(t, WithK(tt.k), WithMinRequests(tt.min))
			f.feed(t, tt.requests, tt.accepts)
			got := f.b.DropProbability()
			if math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("p = %v, want %v", got, tt.want)
			}
			if want := formula(tt.k, tt.requests, tt.accepts); tt.requests >= tt.min && math.Abs(got-want) > 1e-15 {
				t.Fatalf("p = %v, formula says %v", got, want)
			}
			wantState := StateClosed
			if tt.want > 0 {
				wantState = StateHalfOpen
			}
			if s := f.b.State(); s != wantState {
				t.Fatalf("State = %v, want %v", s, wantState)
			}
		})
	}
}

func TestSREDecisionBoundary(t *testing.T) {
	const want = 25.0 / 101 // 100 requests, 50 accepts, K 1.5
	tests := []struct {
		name string
		r    float64
		drop bool
	}{
		{"zero drops", 0, true},
		{"just below p drops", math.Nextafter(want, 0), true},
		{"exactly p passes", want, false},
		{"just above p passes", math.Nextafter(want, 1), false},
		{"one passes", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSREFixture(t, WithK(1.5))
			f.feed(t, 100, 50)
			if p := f.b.DropProbability(); p != want {
				t.Fatalf("p = %v, want %v", p, want)
			}
			f.r = tt.r
			draws := f.draws
			permit, err := f.b.Allow()
			if f.draws != draws+1 {
				t.Fatalf("Allow drew %d random numbers, want 1", f.draws-draws)
			}
			if dropped := err != nil; dropped != tt.drop {
				t.Fatalf("dropped = %v (err %v), want %v", dropped, err, tt.drop)
			}
			if tt.drop {
				if !errors.Is(err, ErrOpen) || permit != (Permit{}) {
					t.Fatalf("rejection returned %+v, %v", permit, err)
				}
				// The rejection counts as a request that was not accepted.
				if p := f.b.DropProbability(); p != formula(1.5, 101, 50) {
					t.Fatalf("after a drop p = %v, want %v", p, formula(1.5, 101, 50))
				}
			} else {
				permit.Success()
				if p := f.b.DropProbability(); p != formula(1.5, 101, 51) {
					t.Fatalf("after a success p = %v, want %v", p, formula(1.5, 101, 51))
				}
			}
		})
	}
}

func TestSREDrawsOnlyWhileDropping(t *testing.T) {
	f := newSREFixture(t, WithMinRequests(0))
	f.feed(t, 10, 10)
	if f.draws != 0 {
		t.Fatalf("%d random draws while p = 0, want 0", f.draws)
	}
	f.feed(t, 1, 0) // p = (11 − 15)/12 < 0: still 0
	f.b.Allow()
	if f.draws != 0 {
		t.Fatalf("%d random draws while p = 0, want 0", f.draws)
	}
}

func TestSRELocalRejectionsRaiseRequests(t *testing.T) {
	f := newSREFixture(t, WithK(2), WithMinRequests(0))
	f.feed(t, 10, 0)
	f.r = 0 // drop whenever p > 0
	for n := range 50 {
		if got, want := f.b.DropProbability(), formula(2, 10+n, 0); got != want {
			t.Fatalf("after %d drops p = %v, want %v", n, got, want)
		}
		if _, err := f.b.Allow(); !errors.Is(err, ErrOpen) {
			t.Fatalf("drop %d: err = %v", n, err)
		}
	}
	requests, accepts := f.b.counts.Total(f.clk.Since(f.b.clock.base))
	if requests != 60 || accepts != 0 {
		t.Fatalf("window holds %d requests, %d accepts; want 60, 0", requests, accepts)
	}
}

func TestSRERejectionsReachMinRequests(t *testing.T) {
	// Below the minimum, nothing is dropped, so the rejections that could
	// lift requests over it never happen: a trickle of failures stays closed.
	f := newSREFixture(t, WithMinRequests(20))
	f.r = 0
	f.feed(t, 19, 0)
	if _, err := f.b.Allow(); err != nil {
		t.Fatalf("19 requests < min 20, yet Allow failed: %v", err)
	}
	f.rec.expect(t)
}

func TestSREWindowExpiryRestoresZero(t *testing.T) {
	f := newSREFixture(t, WithWindow(10*time.Second), WithBuckets(10), WithMinRequests(5))
	f.feed(t, 10, 0)
	if p := f.b.DropProbability(); p != 10.0/11 {
		t.Fatalf("p = %v, want 10/11", p)
	}
	f.rec.expect(t, transition{StateClosed, StateHalfOpen})

	f.clk.Advance(9 * time.Second) // the failures' bucket is still inside
	if p := f.b.DropProbability(); p != 10.0/11 {
		t.Fatalf("9s later p = %v, want 10/11", p)
	}
	f.clk.Advance(time.Second) // now it falls out
	f.rec.expect(t, transition{StateClosed, StateHalfOpen})
	if p := f.b.DropProbability(); p != 0 {
		t.Fatalf("after the window p = %v, want 0", p)
	}
	if s := f.b.State(); s != StateClosed {
		t.Fatalf("State = %v, want closed", s)
	}
	f.rec.expect(t, transition{StateClosed, StateHalfOpen}, transition{StateHalfOpen, StateClosed})
}

func TestSRERecoversAsSuccessesArrive(t *testing.T) {
	f := newSREFixture(t, WithK(2), WithMinRequests(0))
	f.feed(t, 4, 0)
	f.rec.expect(t, transition{StateClosed, StateHalfOpen})
	// 4 requests, 0 accepts; each success adds 1 request and 1 accept:
	// requests − 2·accepts reaches 0 after 4 more.
	f.feed(t, 3, 3)
	if p := f.b.DropProbability(); p != formula(2, 7, 3) || p <= 0 {
		t.Fatalf("p = %v, want %v", p, formula(2, 7, 3))
	}
	f.feed(t, 1, 1)
	if p := f.b.DropProbability(); p != 0 {
		t.Fatalf("p = %v, want 0", p)
	}
	f.rec.expect(t, transition{StateClosed, StateHalfOpen}, transition{StateHalfOpen, StateClosed})
}

func TestSRENeverOpens(t *testing.T) {
	f := newSREFixture(t, WithK(1), WithMinRequests(0))
	f.r = 0
	f.feed(t, 1000, 0)
	for range 1000 {
		f.b.Allow()
		if s := f.b.State(); s == StateOpen {
			t.Fatal("SRE reported open")
		}
	}
	if p := f.b.DropProbability(); p >= 1 {
		t.Fatalf("p = %v, must stay below 1", p)
	}
}

func TestSREPermitIgnoresGeneration(t *testing.T) {
	f := newSREFixture(t, WithMinRequests(0))
	p, err := f.b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	if p.Generation() != 0 {
		t.Fatalf("Generation() = %d, want 0", p.Generation())
	}
	NewPermit(p.r, 99).Failure() // any generation counts
	if requests, _ := f.b.counts.Total(f.clk.Since(f.b.clock.base)); requests != 1 {
		t.Fatalf("requests = %d, want 1", requests)
	}
}

func TestSREUnreportedPermitIsNotCounted(t *testing.T) {
	f := newSREFixture(t)
	for range 5 {
		if _, err := f.b.Allow(); err != nil {
			t.Fatal(err)
		}
	}
	if requests, _ := f.b.counts.Total(f.clk.Since(f.b.clock.base)); requests != 0 {
		t.Fatalf("requests = %d; in-flight calls are counted when they report", requests)
	}
}

func TestSRERealClockAndRand(t *testing.T) {
	b, err := NewSRE(WithMinRequests(0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	p.Success()
	if b.DropProbability() != 0 || b.State() != StateClosed {
		t.Fatal("one success should leave the breaker closed")
	}
}

func TestSREOutcomeIsDatedByTheLatestReading(t *testing.T) {
	f := newSREFixture(t, WithWindow(10*time.Second), WithBuckets(10), WithMinRequests(0))
	p, err := f.b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(10 * time.Second)
	p.Failure() // Done does not read the clock: dated at the Allow, t = 0
	if requests, _ := f.b.counts.Total(f.b.last); requests != 1 {
		t.Fatalf("requests = %d before the next reading, want 1", requests)
	}
	if got := f.b.DropProbability(); got != 0 {
		t.Fatalf("p = %v; the failure is a window old and should be forgotten", got)
	}

	// A later reading by anyone moves the date of later outcomes.
	q, _ := f.b.Allow()
	f.clk.Advance(5 * time.Second)
	if s := f.b.State(); s != StateClosed {
		t.Fatalf("State = %v", s)
	}
	q.Failure() // dated at t = 15 s, the State call
	f.clk.Advance(9 * time.Second)
	if got := f.b.DropProbability(); got != 0.5 {
		t.Fatalf("p = %v at t = 24 s, want 1/2 from the failure dated 15 s", got)
	}
}
