package shed

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

type result struct {
	tk  Ticket
	err error
}

// admitAsync starts Admit in a goroutine and returns where its result goes.
func admitAsync(ctx context.Context, a *Admitter, level int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		tk, err := a.Admit(ctx, level)
		ch <- result{tk, err}
	}()
	return ch
}

// pending fails the test if ch already holds a result. Nothing wakes a
// queued waiter but a slot, its timer or its context, so "no result yet" is
// deterministic once the waiter's timer is armed.
func pending(t *testing.T, what string, ch <-chan result) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s finished early: %+v", what, r)
	default:
	}
}

// fill admits n level-1 requests and returns their tickets.
func fill(t *testing.T, a *Admitter, n int) []Ticket {
	t.Helper()
	var ts []Ticket
	for range n {
		tk, err := a.Admit(context.Background(), 1)
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
		ts = append(ts, tk)
	}
	return ts
}

func TestQueueAdmitsWhenSlotFrees(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake))
	held := fill(t, a, 1)
	ch := admitAsync(context.Background(), a, 1)
	fake.BlockUntil(1)
	fake.Advance(499 * time.Millisecond)
	pending(t, "waiter", ch)
	if s := a.Stats(); s.Queued != 1 || s.Levels[0].Queued != 1 {
		t.Fatalf("stats while waiting: %+v", s)
	}
	held[0].Done()
	r := <-ch
	if r.err != nil || r.tk.Level() != 1 {
		t.Fatalf("waiter got %+v, want admitted at level 1", r)
	}
	if s := a.Stats(); s.Inflight != 1 || s.Queued != 0 || s.Levels[0].Admitted != 2 {
		t.Fatalf("stats after handover: %+v", s)
	}
	r.tk.Done()
	if fake.Waiters() != 0 {
		t.Fatalf("%d timers left armed", fake.Waiters())
	}
}

func TestQueueTimeoutAfterMaxWait(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithMaxWait(300*time.Millisecond))
	fill(t, a, 1)
	ch := admitAsync(context.Background(), a, 1)
	fake.BlockUntil(1)
	fake.Advance(299 * time.Millisecond)
	pending(t, "waiter", ch)
	fake.Advance(time.Millisecond)
	r := <-ch
	if !errors.Is(r.err, ErrQueueTimeout) || errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrQueueTimeout without DeadlineExceeded", r.err)
	}
	if r.err != ErrQueueTimeout {
		t.Fatalf("err = %v, want ErrQueueTimeout itself", r.err)
	}
	if s := a.Stats(); s.Queued != 0 || s.Levels[0].TimedOut != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueContextDeadlineComesFirst(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake))
	fill(t, a, 1)
	ctx := deadlineCtx{context.Background(), fake.Now().Add(200 * time.Millisecond)}
	ch := admitAsync(ctx, a, 2)
	fake.BlockUntil(1)
	fake.Advance(199 * time.Millisecond)
	pending(t, "waiter", ch)
	fake.Advance(time.Millisecond)
	r := <-ch
	if !errors.Is(r.err, ErrQueueTimeout) || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrQueueTimeout and DeadlineExceeded", r.err)
	}
	if s := a.Stats(); s.Levels[1].TimedOut != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueFullSheds(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithQueue(2), WithShares([4]float64{1, 1, 1, 1}))
	fill(t, a, 1)
	w1 := admitAsync(context.Background(), a, 2)
	fake.BlockUntil(1)
	w2 := admitAsync(context.Background(), a, 2)
	fake.BlockUntil(2)
	for _, level := range []int{2, 3, 4} {
		if _, err := a.Admit(context.Background(), level); err != ErrShed {
			t.Fatalf("level %d on a full queue of level-2 waiters: err = %v, want ErrShed", level, err)
		}
	}
	pending(t, "waiter 1", w1)
	pending(t, "waiter 2", w2)
	if s := a.Stats(); s.Queued != 2 || s.Levels[1].Shed != 1 || s.Levels[2].Shed != 1 || s.Levels[3].Shed != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueOffShedsAtOnce(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithQueue(0))
	fill(t, a, 1)
	if _, err := a.Admit(context.Background(), 1); err != ErrShed {
		t.Fatalf("err = %v, want ErrShed", err)
	}
	if fake.Waiters() != 0 {
		t.Fatal("a timer was armed with the queue off")
	}
}

// TestQueueFullEvictsLessImportant: a level-1 arrival on a full queue takes
// the place of the newest least-important waiter.
func TestQueueFullEvictsLessImportant(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithQueue(3), WithShares([4]float64{1, 1, 1, 1}))
	held := fill(t, a, 1)
	older4 := admitAsync(context.Background(), a, 4)
	fake.BlockUntil(1)
	newer4 := admitAsync(context.Background(), a, 4)
	fake.BlockUntil(2)
	w3 := admitAsync(context.Background(), a, 3)
	fake.BlockUntil(3)

	w1 := admitAsync(context.Background(), a, 1)
	if r := <-newer4; r.err != ErrShed {
		t.Fatalf("newest level-4 waiter got %+v, want ErrShed", r)
	}
	fake.BlockUntil(3) // w1's timer armed (newer4's was stopped)
	pending(t, "older level-4 waiter", older4)
	pending(t, "level-3 waiter", w3)
	pending(t, "level-1 waiter", w1)

	// Slots now go to level 1, then 3, then the remaining level 4.
	held[0].Done()
	r := <-w1
	if r.err != nil {
		t.Fatalf("level-1 waiter: %v", r.err)
	}
	pending(t, "level-3 waiter", w3)
	r.tk.Done()
	r = <-w3
	if r.err != nil {
		t.Fatalf("level-3 waiter: %v", r.err)
	}
	r.tk.Done()
	if r = <-older4; r.err != nil {
		t.Fatalf("older level-4 waiter: %v", r.err)
	}
	r.tk.Done()
	if s := a.Stats(); s.Inflight != 0 || s.Queued != 0 || s.Levels[3].Shed != 1 || s.Levels[3].Admitted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueCancelWhileWaiting(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake))
	held := fill(t, a, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ch := admitAsync(ctx, a, 3)
	fake.BlockUntil(1)
	cancel()
	r := <-ch
	if !errors.Is(r.err, ErrQueueTimeout) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want ErrQueueTimeout and context.Canceled", r.err)
	}
	if s := a.Stats(); s.Queued != 0 || s.Levels[2].Canceled != 1 || s.Levels[2].TimedOut != 0 {
		t.Fatalf("stats %+v", s)
	}
	// The canceled waiter must not be handed the next slot.
	held[0].Done()
	if s := a.Stats(); s.Inflight != 0 {
		t.Fatalf("inflight %d after the only ticket was done", s.Inflight)
	}
}

func TestAlreadyExpiredRejectedAtOnce(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		cause error
	}{
		{"deadline now", deadlineCtx{context.Background(), fake.Now()}, context.DeadlineExceeded},
		{"deadline passed", deadlineCtx{context.Background(), fake.Now().Add(-time.Second)}, context.DeadlineExceeded},
		{"canceled", canceled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, Fixed(10), WithClock(fake)) // slots are free
			_, err := a.Admit(tt.ctx, 1)
			if !errors.Is(err, ErrQueueTimeout) || !errors.Is(err, tt.cause) {
				t.Fatalf("err = %v, want ErrQueueTimeout and %v", err, tt.cause)
			}
			if s := a.Stats(); s.Inflight != 0 || fake.Waiters() != 0 {
				t.Fatalf("admitted or queued: %+v", s)
			}
		})
	}
	t.Run("deadline ahead is admitted", func(t *testing.T) {
		a := mustNew(t, Fixed(10), WithClock(fake))
		tk, err := a.Admit(deadlineCtx{context.Background(), fake.Now().Add(time.Nanosecond)}, 1)
		if err != nil {
			t.Fatal(err)
		}
		tk.Done()
	})
}

// TestPriorityWakeOrder: a level-1 waiter that arrived after a level-3 waiter
// gets the first free slot.
func TestPriorityWakeOrder(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithShares([4]float64{1, 1, 1, 1}))
	held := fill(t, a, 1)
	w3 := admitAsync(context.Background(), a, 3)
	fake.BlockUntil(1)
	w1 := admitAsync(context.Background(), a, 1)
	fake.BlockUntil(2)

	held[0].Done()
	r1 := <-w1
	if r1.err != nil || r1.tk.Level() != 1 {
		t.Fatalf("level-1 waiter got %+v", r1)
	}
	pending(t, "earlier level-3 waiter", w3)
	r1.tk.Done()
	r3 := <-w3
	if r3.err != nil || r3.tk.Level() != 3 {
		t.Fatalf("level-3 waiter got %+v", r3)
	}
	r3.tk.Done()
}

// TestFIFOWithinLevel: waiters of one level are admitted in arrival order.
func TestFIFOWithinLevel(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithShares([4]float64{1, 1, 1, 1}))
	held := fill(t, a, 1)
	var ws []<-chan result
	for i := range 5 {
		ws = append(ws, admitAsync(context.Background(), a, 2))
		fake.BlockUntil(i + 1)
	}
	tk := held[0]
	for i := range ws {
		tk.Done()
		r := <-ws[i]
		if r.err != nil {
			t.Fatalf("waiter %d: %v", i, r.err)
		}
		for j := i + 1; j < len(ws); j++ {
			pending(t, "later waiter", ws[j])
		}
		tk = r.tk
	}
	tk.Done()
}

// TestWaiterRecheckedAgainstOwnShare: a freed slot goes to the waiter whose
// own share allows it, not just to the first in line.
func TestWaiterRecheckedAgainstOwnShare(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	// Limit 4: level 1 may use 4 slots, level 3 only ⌊0.75×4⌋ = 3.
	a := mustNew(t, Fixed(4), WithClock(fake))
	held := fill(t, a, 4)
	w3 := admitAsync(context.Background(), a, 3)
	fake.BlockUntil(1)

	held[0].Done() // inflight 3: level 3 still does not fit
	pending(t, "level-3 waiter at inflight 3", w3)
	if s := a.Stats(); s.Inflight != 3 || s.Levels[2].Queued != 1 {
		t.Fatalf("stats %+v", s)
	}
	held[1].Done() // inflight 2: now it fits
	r := <-w3
	if r.err != nil {
		t.Fatal(r.err)
	}
	if s := a.Stats(); s.Inflight != 3 {
		t.Fatalf("inflight %d, want 3", s.Inflight)
	}
}

// TestRecheckAfterCapacityRises: waiters are admitted by Recheck when the
// limit rises with no slot freed.
func TestRecheckAfterCapacityRises(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	c := newSettable(1)
	a := mustNew(t, c, WithClock(fake))
	fill(t, a, 1)
	ch := admitAsync(context.Background(), a, 1)
	fake.BlockUntil(1)
	c.limit.Store(2)
	pending(t, "waiter before Recheck", ch)
	a.Recheck()
	if r := <-ch; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestNewcomerDoesNotOvertakeWaiter: a request arriving when the limit has
// risen (without a Recheck) lets the earlier waiter of its level in first.
func TestNewcomerDoesNotOvertakeWaiter(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	c := newSettable(1)
	a := mustNew(t, c, WithClock(fake))
	fill(t, a, 1)
	early := admitAsync(context.Background(), a, 1)
	fake.BlockUntil(1)
	c.limit.Store(2)
	late := admitAsync(context.Background(), a, 1)
	if r := <-early; r.err != nil {
		t.Fatalf("earlier waiter: %v", r.err)
	}
	fake.BlockUntil(1) // the newcomer queued behind it
	pending(t, "newcomer", late)
	if s := a.Stats(); s.Inflight != 2 || s.Queued != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestWaiterReuse runs many waits on one Admitter with every way out of the
// queue, so pooled waiters and their timers are reused after each; a stale
// tick or signal would end a later wait early or wrongly.
func TestWaiterReuse(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithClock(fake), WithMaxWait(100*time.Millisecond))
	held := fill(t, a, 1)[0]
	for i := range 60 {
		ctx, cancel := context.WithCancel(context.Background())
		ch := admitAsync(ctx, a, 1)
		fake.BlockUntil(1)
		fake.Advance(99 * time.Millisecond)
		pending(t, "waiter", ch)
		switch i % 3 {
		case 0: // timer
			fake.Advance(time.Millisecond)
			if r := <-ch; r.err != ErrQueueTimeout {
				t.Fatalf("round %d: %+v, want ErrQueueTimeout", i, r)
			}
		case 1: // context
			cancel()
			if r := <-ch; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("round %d: %+v, want canceled", i, r)
			}
		case 2: // slot
			held.Done()
			r := <-ch
			if r.err != nil {
				t.Fatalf("round %d: %v", i, r.err)
			}
			held = r.tk
		}
		cancel()
		if n := fake.Waiters(); n != 0 {
			t.Fatalf("round %d: %d timers still armed", i, n)
		}
	}
	s := a.Stats().Levels[0]
	if s.TimedOut != 20 || s.Canceled != 20 || s.Admitted != 21 || s.Inflight != 1 {
		t.Fatalf("stats %+v", s)
	}
}
