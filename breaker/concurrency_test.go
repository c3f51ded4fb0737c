package breaker

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

const (
	hammerGoroutines = 16
	hammerCalls      = 2000
)

// hammerResult is what many goroutines saw from one breaker.
type hammerResult struct {
	admitted, rejected, successes atomic.Int64
}

// hammer runs Allow (and Done on admission) from many goroutines. Goroutine
// 0 also moves the fake clock by tick every call, if tick > 0. success
// decides each outcome from the goroutine and call number.
func hammer(t *testing.T, b Breaker, clk *clock.Fake, tick time.Duration, success func(g, i int) bool) *hammerResult {
	t.Helper()
	res := &hammerResult{}
	var wg sync.WaitGroup
	for g := range hammerGoroutines {
		wg.Go(func() {
			for i := range hammerCalls {
				if g == 0 && tick > 0 {
					clk.Advance(tick)
				}
				p, err := b.Allow()
				if err != nil {
					if !errors.Is(err, ErrOpen) {
						t.Errorf("Allow: %v is not ErrOpen", err)
					}
					res.rejected.Add(1)
					continue
				}
				res.admitted.Add(1)
				ok := success(g, i)
				if ok {
					res.successes.Add(1)
				}
				p.Done(ok)
				if i%64 == 0 {
					_ = b.State()
				}
			}
		})
	}
	wg.Wait()
	if total := res.admitted.Load() + res.rejected.Load(); total != hammerGoroutines*hammerCalls {
		t.Fatalf("admitted %d + rejected %d = %d, want %d", res.admitted.Load(), res.rejected.Load(), total, hammerGoroutines*hammerCalls)
	}
	return res
}

// flapping succeeds and fails in phases that differ between goroutines.
func flapping(g, i int) bool { return (i/40+g/4)%2 == 0 }

// checkTransitions checks the delivered sequence: valid, complete (every
// call has returned, so every transition has been delivered), and ending in
// the breaker's state.
func checkTransitions(t *testing.T, b Breaker, rec *transitions, allowed map[transition]bool) []transition {
	t.Helper()
	seq := rec.list()
	validSequence(t, seq, allowed)
	want := StateClosed
	if len(seq) > 0 {
		want = seq[len(seq)-1].to
	}
	// State may itself make a due transition; compare with the state before.
	if got := b.State(); got != want && len(rec.list()) == len(seq) {
		t.Fatalf("state is %v but the last transition delivered went to %v", got, want)
	}
	return seq
}

func TestSREConcurrentTotals(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	// A window far longer than the test, so nothing ages out and the
	// window's totals must match what the goroutines did, exactly.
	b, err := NewSRE(WithClock(clk), WithWindow(time.Hour), WithMinRequests(10), WithOnStateChange(rec.record))
	if err != nil {
		t.Fatal(err)
	}
	res := hammer(t, b, clk, time.Millisecond, flapping)
	requests, accepts := b.counts.Total(clk.Since(b.clock.base))
	if requests != hammerGoroutines*hammerCalls || accepts != res.successes.Load() {
		t.Fatalf("window has %d requests, %d accepts; want %d, %d", requests, accepts, hammerGoroutines*hammerCalls, res.successes.Load())
	}
	if res.rejected.Load() == 0 {
		t.Fatal("half the calls failed, yet nothing was dropped")
	}
	seq := checkTransitions(t, b, rec, sreMoves)
	if len(seq) == 0 {
		t.Fatal("no transitions")
	}
}

func TestSREConcurrentTransitions(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	// A short window that the clock keeps moving through, so the breaker
	// flaps between closed and half-open many times.
	b, err := NewSRE(WithClock(clk), WithWindow(20*time.Millisecond), WithBuckets(4), WithMinRequests(5),
		WithK(2), WithOnStateChange(rec.record))
	if err != nil {
		t.Fatal(err)
	}
	// Calls succeed for 200 ms of fake time, then fail for 200 ms, and so on:
	// long enough for the drop probability to decay to 0 in a good phase.
	start := clk.Now()
	byTime := func(int, int) bool { return clk.Since(start)/(200*time.Millisecond)%2 == 0 }
	hammer(t, b, clk, time.Millisecond, byTime)
	seq := checkTransitions(t, b, rec, sreMoves)
	t.Logf("%d transitions", len(seq))
	if len(seq) < 4 {
		t.Fatalf("only %d transitions; the test does not exercise flapping", len(seq))
	}
}

func TestClassicConcurrent(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	rec := &transitions{}
	b, err := NewClassic(WithClock(clk), WithFailureCount(3), WithOpenTimeout(time.Millisecond),
		WithHalfOpenRequests(2), WithOnStateChange(rec.record))
	if err != nil {
		t.Fatal(err)
	}
	res := hammer(t, b, clk, 50*time.Microsecond, flapping)
	seq := checkTransitions(t, b, rec, classicMoves)
	t.Logf("%d admitted, %d rejected, %d transitions", res.admitted.Load(), res.rejected.Load(), len(seq))
	var opened, closed int
	for _, tr := range seq {
		switch tr.to {
		case StateOpen:
			opened++
		case StateClosed:
			closed++
		}
	}
	if opened == 0 || closed == 0 {
		t.Fatalf("opened %d times, closed %d times; the test does not exercise the cycle", opened, closed)
	}
	// Every transition started a generation (a lost round would add more).
	b.mu.Lock()
	gen := b.generation
	b.mu.Unlock()
	if gen < uint64(len(seq)) {
		t.Fatalf("generation %d < %d transitions", gen, len(seq))
	}
}

// TestClassicConcurrentTrialQuota checks, with many goroutines racing for
// trials, that a half-open round never admits more than its quota.
func TestClassicConcurrentTrialQuota(t *testing.T) {
	const quota = 3
	for round := range 50 {
		clk := clock.NewFake(time.Time{})
		b, err := NewClassic(WithClock(clk), WithFailureCount(1), WithHalfOpenRequests(quota))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := b.Allow()
		p.Failure()
		clk.Advance(DefaultOpenTimeout)
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range hammerGoroutines {
			wg.Go(func() {
				<-start
				if _, err := b.Allow(); err == nil {
					admitted.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if admitted.Load() != quota {
			t.Fatalf("round %d: %d trials admitted, want exactly %d", round, admitted.Load(), quota)
		}
	}
}

func TestGroupConcurrent(t *testing.T) {
	const keys = 64
	names := make([]string, keys)
	for i := range names {
		names[i] = "host-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	clk := clock.NewFake(time.Time{})
	var made atomic.Int64
	g, err := NewGroupFunc(func(string) Breaker {
		made.Add(1)
		b, err := NewSRE(WithClock(clk), WithWindow(time.Hour), WithRand(never))
		if err != nil {
			panic(err)
		}
		return b
	})
	if err != nil {
		t.Fatal(err)
	}
	var first sync.Map // key → the first breaker seen for it
	var wg sync.WaitGroup
	for w := range hammerGoroutines {
		wg.Go(func() {
			for i := range hammerCalls {
				key := names[(i*7+w)%keys]
				b := g.Get(key)
				if prev, loaded := first.LoadOrStore(key, b); loaded && prev != b {
					t.Errorf("Get(%q) returned two different breakers", key)
				}
				p, err := b.Allow()
				if err != nil {
					t.Errorf("Allow: %v", err)
					continue
				}
				p.Success()
			}
		})
	}
	wg.Wait()
	if g.Len() != keys {
		t.Fatalf("Len = %d, want %d", g.Len(), keys)
	}
	if made.Load() < keys {
		t.Fatalf("factory ran %d times for %d keys", made.Load(), keys)
	}
	var total int64
	seen := map[string]bool{}
	g.Each(func(key string, b Breaker) {
		if seen[key] {
			t.Fatalf("Each visited %q twice", key)
		}
		seen[key] = true
		requests, _ := b.(*SRE).counts.Total(clk.Since(b.(*SRE).clock.base))
		total += requests
	})
	if len(seen) != keys || total != hammerGoroutines*hammerCalls {
		t.Fatalf("Each saw %d keys and %d requests, want %d and %d", len(seen), total, keys, hammerGoroutines*hammerCalls)
	}
}
