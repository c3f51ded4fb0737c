package shed

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// tally is what the hammering goroutines saw, per level.
type tally [Levels]struct{ admitted, shed, timedOut, canceled uint64 }

func (t *tally) add(o *tally) {
	for i := range t {
		t[i].admitted += o[i].admitted
		t[i].shed += o[i].shed
		t[i].timedOut += o[i].timedOut
		t[i].canceled += o[i].canceled
	}
}

// hammer runs goroutines×attempts Admit calls with random levels and
// contexts from ctxFor, holding each admitted slot briefly, and checks that
// the Admitter's counts match exactly what the callers saw, that nothing is
// left in flight or queued, and that inflight never exceeded limit.
func hammer(t *testing.T, a *Admitter, limit int64, goroutines, attempts int,
	ctxFor func(r *rand.Rand) (context.Context, context.CancelFunc)) {
	t.Helper()
	var cur, peak atomic.Int64
	var mu sync.Mutex
	var seen tally
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			var mine tally
			for range attempts {
				level := r.IntN(Levels) + 1
				ctx, cancel := ctxFor(r)
				tk, err := a.Admit(ctx, level)
				cancel()
				l := &mine[level-1]
				switch {
				case err == nil:
					l.admitted++
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					if r.IntN(4) == 0 {
						runtime.Gosched()
					}
					cur.Add(-1)
					tk.Done()
				case errors.Is(err, ErrShed):
					l.shed++
				case errors.Is(err, context.Canceled):
					l.canceled++
				case errors.Is(err, ErrQueueTimeout):
					l.timedOut++
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
			mu.Lock()
			seen.add(&mine)
			mu.Unlock()
		})
	}
	wg.Wait()

	s := a.Stats()
	var total uint64
	for i, l := range s.Levels {
		w := seen[i]
		if l.Admitted != w.admitted || l.Shed != w.shed || l.TimedOut != w.timedOut || l.Canceled != w.canceled {
			t.Errorf("level %d: stats %+v, callers saw %+v", i+1, l, w)
		}
		if l.Inflight != 0 || l.Queued != 0 {
			t.Errorf("level %d left inflight %d, queued %d", i+1, l.Inflight, l.Queued)
		}
		total += l.Admitted + l.Shed + l.TimedOut + l.Canceled
	}
	if want := uint64(goroutines * attempts); total != want {
		t.Errorf("outcomes add up to %d, want %d attempts", total, want)
	}
	if s.Inflight != 0 || s.Queued != 0 {
		t.Errorf("left inflight %d, queued %d", s.Inflight, s.Queued)
	}
	if p := peak.Load(); p > limit {
		t.Errorf("peak inflight %d exceeds the limit %d", p, limit)
	}
	t.Logf("peak inflight %d of %d; levels %+v", peak.Load(), limit, s.Levels)
}

func noCancel(*rand.Rand) (context.Context, context.CancelFunc) {
	return context.Background(), func() {}
}

// TestConcurrentFakeClock: timers never fire, so every request is admitted,
// shed by a full queue, or pushed out of it.
func TestConcurrentFakeClock(t *testing.T) {
	const limit = 8
	a := mustNew(t, Fixed(limit), WithClock(clock.NewFake(time.Time{})), WithQueue(16))
	hammer(t, a, limit, 32, 2000, noCancel)
}

// TestConcurrentNoQueue: admission or ErrShed, nothing else.
func TestConcurrentNoQueue(t *testing.T) {
	const limit = 5
	a := mustNew(t, Fixed(limit), WithQueue(0))
	hammer(t, a, limit, 32, 2000, noCancel)
}

// TestConcurrentRealClock races grants against timers and cancellations on
// the real clock. The outcome mix depends on the machine's speed; the totals
// must add up regardless.
func TestConcurrentRealClock(t *testing.T) {
	const limit = 6
	a := mustNew(t, Fixed(limit), WithQueue(8), WithMaxWait(200*time.Microsecond))
	hammer(t, a, limit, 32, 1000, func(r *rand.Rand) (context.Context, context.CancelFunc) {
		switch r.IntN(3) {
		case 0:
			return context.WithTimeout(context.Background(), time.Duration(r.IntN(300))*time.Microsecond)
		case 1:
			ctx, cancel := context.WithCancel(context.Background())
			stop := time.AfterFunc(time.Duration(r.IntN(300))*time.Microsecond, cancel)
			return ctx, func() { stop.Stop(); cancel() }
		}
		return context.Background(), func() {}
	})
}

// TestConcurrentMovingCapacity changes the limit and calls Recheck while
// requests run; inflight must still return to zero with exact totals.
func TestConcurrentMovingCapacity(t *testing.T) {
	c := newSettable(4)
	a := mustNew(t, c, WithQueue(32), WithMaxWait(time.Millisecond))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.limit.Store(int64(i % 9))
			c.limited.Store(i%7 != 0)
			a.Recheck()
			_ = a.Stats()
			runtime.Gosched()
		}
	})
	// The limit moves, so the peak check is against the largest limit only
	// when limited; unlimited phases admit anything, so skip it (MaxInt64).
	hammer(t, a, 1<<62, 16, 1000, noCancel)
	close(stop)
	wg.Wait()
}
