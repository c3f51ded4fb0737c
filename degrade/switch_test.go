package degrade

import (
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// seq returns a rand source that yields vals in turn and counts its calls.
func seq(vals ...float64) (func() float64, *int) {
	calls := 0
	return func() float64 {
		v := vals[calls%len(vals)]
		calls++
		return v
	}, &calls
}

func mustNew(t testing.TB, opts ...Option) *Switch {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestAllow(t *testing.T) {
	tests := []struct {
		name      string
		pass      float64
		rand      []float64
		want      []bool // pass?
		randCalls int
	}{
		{"pass 1 never consults rand", 1, []float64{0.999}, []bool{true, true, true}, 0},
		{"pass 0 never consults rand", 0, []float64{0}, []bool{false, false, false}, 0},
		{"half", 0.5, []float64{0, 0.49, 0.5, 0.51, 0.999}, []bool{true, true, false, false, false}, 5},
		{"rand below p passes", 0.3, []float64{0.299999}, []bool{true}, 1},
		{"rand equal to p degrades", 0.3, []float64{0.3}, []bool{false}, 1},
		{"tiny pass", 1e-9, []float64{0, 1e-10, 1e-9}, []bool{true, true, false}, 3},
		{"nearly all pass", 0.999, []float64{0.5, 0.9989, 0.999}, []bool{true, true, false}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, calls := seq(tt.rand...)
			s := mustNew(t, WithPass(tt.pass), WithRand(r))
			for i, want := range tt.want {
				err := s.Allow()
				if got := err == nil; got != want {
					t.Fatalf("call %d: Allow = %v, want pass=%v", i, err, want)
				}
				if err != nil && !errors.Is(err, ErrDegraded) {
					t.Fatalf("call %d: error %v is not ErrDegraded", i, err)
				}
			}
			if *calls != tt.randCalls {
				t.Fatalf("rand called %d times, want %d", *calls, tt.randCalls)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := mustNew(t)
	if s.Pass() != 1 {
		t.Fatalf("default pass = %v, want 1", s.Pass())
	}
	// The default source is math/rand/v2: with pass 0.5, both outcomes
	// appear in 1000 calls (failing by chance has probability 2^-999).
	if err := s.SetPass(0.5); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for range 1000 {
		if s.Allow() == nil {
			passed++
		}
	}
	if passed == 0 || passed == 1000 {
		t.Fatalf("default rand: %d of 1000 passed at 0.5", passed)
	}
}

func TestValidation(t *testing.T) {
	bad := []float64{math.NaN(), -0.01, 1.01, math.Inf(1), math.Inf(-1)}
	for _, p := range bad {
		if _, err := New(WithPass(p)); err == nil || !strings.Contains(err.Error(), "WithPass") {
			t.Errorf("New(WithPass(%v)) error = %v, want one naming WithPass", p, err)
		}
		s := mustNew(t, WithPass(0.25))
		if err := s.SetPass(p); err == nil || !strings.Contains(err.Error(), "SetPass") {
			t.Errorf("SetPass(%v) error = %v, want one naming SetPass", p, err)
		}
		if s.Pass() != 0.25 {
			t.Errorf("SetPass(%v) changed the pass to %v", p, s.Pass())
		}
	}
	for _, p := range []float64{0, 1, 0.5, math.Copysign(0, -1)} {
		s := mustNew(t)
		if err := s.SetPass(p); err != nil || s.Pass() != p {
			t.Errorf("SetPass(%v) = %v, Pass %v", p, err, s.Pass())
		}
	}
	if _, err := New(WithRand(nil)); err == nil || !strings.Contains(err.Error(), "WithRand") {
		t.Errorf("New(WithRand(nil)) error = %v", err)
	}
}

func TestSetPassTakesEffect(t *testing.T) {
	r, calls := seq(0.5)
	s := mustNew(t, WithRand(r))
	steps := []struct {
		pass float64
		want bool
	}{{1, true}, {0, false}, {0.6, true}, {0.4, false}, {1, true}}
	for _, st := range steps {
		if err := s.SetPass(st.pass); err != nil {
			t.Fatal(err)
		}
		if got := s.Allow() == nil; got != st.want {
			t.Fatalf("pass %v: passed = %v, want %v", st.pass, got, st.want)
		}
	}
	if *calls != 2 {
		t.Fatalf("rand called %d times, want 2 (only for 0.6 and 0.4)", *calls)
	}
}

func TestDo(t *testing.T) {
	errBoom := errors.New("boom")
	ok := func() (string, error) { return "fresh", nil }
	fails := func() (string, error) { return "partial", errBoom }
	cached := func(err error) (string, error) {
		if errors.Is(err, ErrDegraded) {
			return "cached", nil
		}
		return "stale", nil
	}
	tryLater := func(err error) (string, error) { return "", errors.New("try again later") }
	tests := []struct {
		name     string
		pass     float64
		fn       func() (string, error)
		fallback func(error) (string, error)
		want     string
		wantErr  string
		fnRuns   bool
	}{
		{"passes and succeeds", 1, ok, cached, "fresh", "", true},
		{"degraded uses fallback", 0, ok, cached, "cached", "", false},
		{"fn error uses fallback", 1, fails, cached, "stale", "", true},
		{"fallback may return its own error", 0, ok, tryLater, "", "try again later", false},
		{"nil fallback when degraded", 0, ok, nil, "", ErrDegraded.Error(), false},
		{"nil fallback when fn fails", 1, fails, nil, "", "boom", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, WithPass(tt.pass))
			ran := false
			got, err := Do(s, func() (string, error) { ran = true; return tt.fn() }, tt.fallback)
			if got != tt.want || ran != tt.fnRuns {
				t.Fatalf("Do = %q (fn ran %v), want %q (fn ran %v)", got, ran, tt.want, tt.fnRuns)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("Do error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestConcurrentAllow hammers one switch at pass 0.5 with a deterministic
// rand that alternates below and above 0.5: every call is counted exactly
// once, and exactly half pass.
func TestConcurrentAllow(t *testing.T) {
	const goroutines, perG = 8, 5000
	var n atomic.Uint64
	s := mustNew(t, WithPass(0.5), WithRand(func() float64 {
		if n.Add(1)%2 == 0 {
			return 0.25
		}
		return 0.75
	}))
	var passed, degraded atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if s.Allow() == nil {
					passed.Add(1)
				} else {
					degraded.Add(1)
				}
				if g == 0 && i%100 == 0 {
					_ = s.SetPass(0.5) // writes race with reads, harmlessly
				}
			}
		})
	}
	wg.Wait()
	const calls = goroutines * perG
	if passed.Load()+degraded.Load() != calls || n.Load() != calls {
		t.Fatalf("passed %d + degraded %d, rand calls %d; want %d", passed.Load(), degraded.Load(), n.Load(), calls)
	}
	if passed.Load() != calls/2 {
		t.Fatalf("passed %d, want exactly %d", passed.Load(), calls/2)
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	for _, p := range []float64{0, 0.5, 1} {
		s := mustNew(t, WithPass(p))
		if n := testing.AllocsPerRun(1000, func() { _ = s.Allow() }); n != 0 {
			t.Errorf("pass %v: Allow %v allocs per run, want 0", p, n)
		}
	}
}
