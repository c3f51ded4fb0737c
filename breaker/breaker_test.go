package breaker

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// transitions records state-change callbacks in the order they arrive.
type transitions struct {
	mu  sync.Mutex
	got []transition
}

func (r *transitions) record(from, to State) {
	r.mu.Lock()
	r.got = append(r.got, transition{from, to})
	r.mu.Unlock()
}

func (r *transitions) list() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.got...)
}

// expect fails unless exactly want has been recorded.
func (r *transitions) expect(t *testing.T, want ...transition) {
	t.Helper()
	got := r.list()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func (t transition) String() string { return t.from.String() + "→" + t.to.String() }

// validSequence fails unless seq is a chain of allowed transitions from
// closed: each one starts where the previous one ended.
func validSequence(t *testing.T, seq []transition, allowed map[transition]bool) {
	t.Helper()
	at := StateClosed
	for i, tr := range seq {
		if tr.from != at || !allowed[tr] {
			t.Fatalf("transition %d is %v while in %v; sequence %v", i, tr, at, seq)
		}
		at = tr.to
	}
}

var (
	sreMoves = map[transition]bool{
		{StateClosed, StateHalfOpen}: true,
		{StateHalfOpen, StateClosed}: true,
	}
	classicMoves = map[transition]bool{
		{StateClosed, StateOpen}:     true,
		{StateOpen, StateHalfOpen}:   true,
		{StateHalfOpen, StateClosed}: true,
		{StateHalfOpen, StateOpen}:   true,
	}
)

// waitOrFail runs f on another goroutine and fails the test if it has not
// returned within the test's deadline (or a generous guard without one):
// the guard against a deadlock, not a way to let time pass.
func waitOrFail(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	guard := 30 * time.Second
	if d, ok := t.Deadline(); ok {
		guard = time.Until(d) / 2
	}
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatalf("%s did not return within %v: deadlock", what, guard)
	}
}

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want string
	}{
		{StateClosed, "closed"},
		{StateHalfOpen, "half-open"},
		{StateOpen, "open"},
		{State(7), "State(7)"},
		{State(-1), "State(-1)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
	if StateClosed != State(0) {
		t.Fatal("the zero State must be closed")
	}
}

// countingRecorder is a Recorder as another package would write one.
type countingRecorder struct {
	gens      []uint64
	successes int
	failures  int
}

func (c *countingRecorder) Record(gen uint64, success bool) {
	c.gens = append(c.gens, gen)
	if success {
		c.successes++
	} else {
		c.failures++
	}
}

func TestPermit(t *testing.T) {
	t.Run("zero permit is a no-op", func(t *testing.T) {
		var p Permit
		p.Done(true)
		p.Success()
		p.Failure()
		if p.Generation() != 0 {
			t.Fatalf("Generation() = %d", p.Generation())
		}
		NewPermit(nil, 3).Done(false)
	})
	t.Run("NewPermit reports to its recorder", func(t *testing.T) {
		r := &countingRecorder{}
		p := NewPermit(r, 42)
		p.Success()
		p.Failure()
		p.Done(true)
		if r.successes != 2 || r.failures != 1 || fmt.Sprint(r.gens) != "[42 42 42]" {
			t.Fatalf("recorder saw %+v", r)
		}
		if p.Generation() != 42 {
			t.Fatalf("Generation() = %d, want 42", p.Generation())
		}
	})
	t.Run("NewPermit does not allocate", func(t *testing.T) {
		r := &countingRecorder{gens: make([]uint64, 0, 1024)}
		allocs := testing.AllocsPerRun(100, func() { NewPermit(r, 1).Success() })
		if allocs != 0 {
			t.Fatalf("%v allocs, want 0", allocs)
		}
	})
}

func TestRejectionsAreErrOpen(t *testing.T) {
	for _, err := range []error{ErrOpen, errDropped, errTrialsBusy} {
		if !errors.Is(err, ErrOpen) {
			t.Fatalf("%v is not ErrOpen", err)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		make func() error
		want string // a substring of the error; "" for success
	}{
		{"sre defaults", sre(), ""},
		{"classic defaults", classic(), ""},
		{"sre all options", sre(WithK(2), WithRand(func() float64 { return 0.5 }), WithWindow(time.Second),
			WithBuckets(10), WithMinRequests(0), WithClock(clock.NewFake(time.Time{})),
			WithOnStateChange(func(_, _ State) {})), ""},
		{"classic all options", classic(WithFailureCount(0), WithFailureRatio(1), WithMinRequests(5),
			WithWindow(time.Minute), WithBuckets(60), WithOpenTimeout(time.Second), WithHalfOpenRequests(3),
			WithSuccessThreshold(2), WithOnStateChange(nil), WithClock(nil)), ""},
		{"nil option is skipped", sre(nil), ""},
		{"nil rand is the default", sre(WithRand(nil)), ""},
		{"K below 1", sre(WithK(0.9)), "WithK: must be finite and ≥ 1, got 0.9"},
		{"K zero", sre(WithK(0)), "WithK:"},
		{"K NaN", sre(WithK(math.NaN())), "WithK:"},
		{"K infinite", sre(WithK(math.Inf(1))), "WithK:"},
		{"window zero", sre(WithWindow(0)), "WithWindow: must be > 0, got 0s"},
		{"window shorter than buckets", classic(WithWindow(10), WithBuckets(40)), "WithWindow: 10ns is too short for 40 buckets"},
		{"buckets zero", sre(WithBuckets(0)), "WithBuckets: must be ≥ 1, got 0"},
		{"min requests negative", classic(WithMinRequests(-1)), "WithMinRequests: must be ≥ 0, got -1"},
		{"failure count negative", classic(WithFailureCount(-2)), "WithFailureCount: must be ≥ 0, got -2"},
		{"no trip rule", classic(WithFailureCount(0)), "WithFailureCount: 0 turns the count rule off"},
		{"failure ratio zero", classic(WithFailureRatio(0)), "WithFailureRatio: must be in (0, 1], got 0"},
		{"failure ratio above 1", classic(WithFailureRatio(1.5)), "WithFailureRatio:"},
		{"failure ratio NaN", classic(WithFailureRatio(math.NaN())), "WithFailureRatio:"},
		{"open timeout zero", classic(WithOpenTimeout(0)), "WithOpenTimeout: must be > 0, got 0s"},
		{"half-open requests zero", classic(WithHalfOpenRequests(0)), "WithHalfOpenRequests: must be ≥ 1, got 0"},
		{"success threshold zero", classic(WithSuccessThreshold(0)), "WithSuccessThreshold: must be ≥ 1, got 0"},
		{"success threshold above quota", classic(WithSuccessThreshold(2)), "WithSuccessThreshold: must be ≤ the half-open quota 1, got 2"},
		{"first error wins", sre(WithBuckets(0), WithK(0)), "WithBuckets:"},
		{"classic option on sre", sre(WithOpenTimeout(time.Second)), "WithOpenTimeout: does not apply to the SRE breaker"},
		{"sre option on classic", classic(WithK(2)), "WithK: does not apply to the classic breaker"},
		{"group option on sre", sre(WithGroupOnStateChange(nil)), "WithGroupOnStateChange: does not apply to the SRE breaker"},
		{"group option on classic", classic(WithGroupOnStateChange(nil)), "WithGroupOnStateChange: does not apply"},
		{"group sre", group(KindSRE, WithK(2), WithGroupOnStateChange(func(string, State, State) {})), ""},
		{"group classic", group(KindClassic, WithHalfOpenRequests(2)), ""},
		{"group single callback", group(KindSRE, WithOnStateChange(nil)), "WithOnStateChange: does not apply to a group of SRE breakers"},
		{"group foreign option", group(KindClassic, WithRand(nil)), "WithRand: does not apply to a group of classic breakers"},
		{"group classic rules", group(KindClassic, WithSuccessThreshold(3)), "WithSuccessThreshold: must be ≤"},
		{"group bad value", group(KindSRE, WithBuckets(-1)), "WithBuckets:"},
		{"group unknown kind", group(Kind(9)), "NewGroup: unknown kind Kind(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.make()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			case err != nil && !strings.HasPrefix(err.Error(), "breaker: "):
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func sre(opts ...Option) func() error {
	return func() error {
		b, err := NewSRE(opts...)
		if (b == nil) == (err == nil) {
			return fmt.Errorf("NewSRE returned %v and %v", b, err)
		}
		return err
	}
}

func classic(opts ...Option) func() error {
	return func() error {
		b, err := NewClassic(opts...)
		if (b == nil) == (err == nil) {
			return fmt.Errorf("NewClassic returned %v and %v", b, err)
		}
		return err
	}
}

func group(kind Kind, opts ...Option) func() error {
	return func() error {
		g, err := NewGroup(kind, opts...)
		if (g == nil) == (err == nil) {
			return fmt.Errorf("NewGroup returned %v and %v", g, err)
		}
		return err
	}
}

func TestDefaultSuccessThresholdIsTheQuota(t *testing.T) {
	b, err := NewClassic(WithHalfOpenRequests(3))
	if err != nil {
		t.Fatal(err)
	}
	if b.successThreshold != 3 {
		t.Fatalf("success threshold = %d, want the quota 3", b.successThreshold)
	}
}
