package clock

import (
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeAdvanceAndSince(t *testing.T) {
	f := NewFake(epoch)
	start := f.Now()
	f.Advance(1500 * time.Millisecond)
	if got := f.Since(start); got != 1500*time.Millisecond {
		t.Fatalf("Since = %v, want 1.5s", got)
	}
	if !f.Now().Equal(epoch.Add(1500 * time.Millisecond)) {
		t.Fatalf("Now = %v", f.Now())
	}
}

func TestNewFakeZeroStartIsFixed(t *testing.T) {
	a, b := NewFake(time.Time{}), NewFake(time.Time{})
	if !a.Now().Equal(b.Now()) || a.Now().IsZero() {
		t.Fatalf("zero start should map to one fixed instant, got %v and %v", a.Now(), b.Now())
	}
}

func TestFakeAdvanceNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Advance(-1) did not panic")
		}
	}()
	NewFake(epoch).Advance(-1)
}

func TestFakeSetBackwardsFiresNothing(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Set(epoch.Add(-time.Hour))
	if !f.Now().Equal(epoch.Add(-time.Hour)) {
		t.Fatalf("Now = %v", f.Now())
	}
	select {
	case <-tm.C():
		t.Fatal("timer fired on a backwards step")
	default:
	}
	f.Set(epoch.Add(time.Second))
	select {
	case got := <-tm.C():
		if !got.Equal(epoch.Add(time.Second)) {
			t.Fatalf("fired at %v", got)
		}
	default:
		t.Fatal("timer did not fire after Set past its deadline")
	}
}

func TestFakeTimer(t *testing.T) {
	tests := []struct {
		name    string
		after   time.Duration
		advance time.Duration
		fires   bool
	}{
		{"before deadline", time.Second, 999 * time.Millisecond, false},
		{"at deadline", time.Second, time.Second, true},
		{"past deadline", time.Second, time.Hour, true},
		{"zero fires at once", 0, 0, true},
		{"negative fires at once", -time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake(epoch)
			tm := f.NewTimer(tt.after)
			f.Advance(tt.advance)
			select {
			case got := <-tm.C():
				if !tt.fires {
					t.Fatal("fired early")
				}
				want := epoch.Add(max(tt.after, 0))
				if !got.Equal(want) {
					t.Fatalf("fired with %v, want the deadline %v", got, want)
				}
			default:
				if tt.fires {
					t.Fatal("did not fire")
				}
			}
		})
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	f := NewFake(epoch)
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an active timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it active")
	}
	if f.Waiters() != 1 {
		t.Fatalf("Waiters = %d after Reset, want 1", f.Waiters())
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
	if f.Waiters() != 0 {
		t.Fatalf("Waiters = %d after firing, want 0", f.Waiters())
	}
}

func TestFakeTickerFiresInOrderAndDropsWhenFull(t *testing.T) {
	f := NewFake(epoch)
	tk := f.NewTicker(100 * time.Millisecond)
	tm := f.NewTimer(250 * time.Millisecond)
	var seen []time.Time
	for range 3 {
		f.Advance(100 * time.Millisecond)
		seen = append(seen, <-tk.C())
	}
	for i, got := range seen {
		if want := epoch.Add(time.Duration(i+1) * 100 * time.Millisecond); !got.Equal(want) {
			t.Fatalf("tick %d at %v, want %v", i, got, want)
		}
	}
	if got := <-tm.C(); !got.Equal(epoch.Add(250 * time.Millisecond)) {
		t.Fatalf("timer between ticks fired at %v", got)
	}
	// A jump over many periods delivers one pending tick, not a backlog.
	f.Advance(time.Second)
	<-tk.C()
	select {
	case <-tk.C():
		t.Fatal("ticker queued more than one tick")
	default:
	}
	tk.Stop()
	f.Advance(time.Second)
	select {
	case <-tk.C():
		t.Fatal("stopped ticker ticked")
	default:
	}
}

func TestFakeNewTickerPanicsOnNonPositive(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewTicker(0) did not panic")
		}
	}()
	NewFake(epoch).NewTicker(0)
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(epoch)
	done := make(chan time.Time)
	go func() {
		tm := f.NewTimer(time.Minute)
		done <- <-tm.C()
	}()
	f.BlockUntil(1)
	f.Advance(time.Minute)
	if got := <-done; !got.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("goroutine woke at %v", got)
	}
}

// TestFakeConcurrent hammers one Fake from many goroutines; the total time
// advanced must add up exactly and every timer must fire exactly once.
func TestFakeConcurrent(t *testing.T) {
	f := NewFake(epoch)
	const goroutines, steps = 16, 500
	var wg sync.WaitGroup
	fired := make(chan struct{}, goroutines*steps)
	for range goroutines {
		wg.Go(func() {
			for range steps {
				tm := f.NewTimer(time.Millisecond)
				f.Advance(time.Millisecond)
				<-tm.C()
				fired <- struct{}{}
				_ = f.Now()
				_ = f.Waiters()
			}
		})
	}
	wg.Wait()
	if got, want := f.Since(epoch), goroutines*steps*time.Millisecond; got != want {
		t.Fatalf("advanced %v in total, want %v", got, want)
	}
	if len(fired) != goroutines*steps {
		t.Fatalf("%d timers fired, want %d", len(fired), goroutines*steps)
	}
}

func TestReal(t *testing.T) {
	var c Clock = OrReal(nil)
	if _, ok := c.(Real); !ok {
		t.Fatalf("OrReal(nil) = %T, want Real", c)
	}
	f := NewFake(epoch)
	if OrReal(f) != Clock(f) {
		t.Fatal("OrReal replaced a non-nil clock")
	}
	start := c.Now()
	if c.Since(start) < 0 {
		t.Fatal("real Since went negative")
	}
	tm := c.NewTimer(0)
	<-tm.C()
	if tm.Stop() {
		t.Fatal("Stop of a fired real timer returned true")
	}
	tm.Reset(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a reset real timer returned false")
	}
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
}
