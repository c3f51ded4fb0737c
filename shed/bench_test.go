package shed

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func TestHotPathsDoNotAllocate(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	bg := context.Background()
	var withDeadline context.Context = deadlineCtx{bg, fake.Now().Add(time.Hour)}
	var expired context.Context = deadlineCtx{bg, fake.Now()}
	unlimited := newSettable(0)
	unlimited.limited.Store(false)
	full := mustNew(t, Fixed(1), WithClock(fake), WithQueue(0))
	fill(t, full, 1)
	tests := []struct {
		name string
		run  func(a *Admitter)
		a    *Admitter
	}{
		{"admit and done", func(a *Admitter) {
			tk, err := a.Admit(bg, 2)
			if err != nil {
				panic(err)
			}
			tk.Done()
		}, mustNew(t, Fixed(100), WithClock(fake))},
		{"admit with a deadline", func(a *Admitter) {
			tk, err := a.Admit(withDeadline, 4)
			if err != nil {
				panic(err)
			}
			tk.Done()
		}, mustNew(t, Fixed(100), WithClock(fake))},
		{"unlimited", func(a *Admitter) {
			tk, _ := a.Admit(bg, 3)
			tk.Done()
		}, mustNew(t, unlimited, WithClock(fake))},
		{"shed", func(a *Admitter) {
			if _, err := a.Admit(bg, 1); err != ErrShed {
				panic(err)
			}
		}, full},
		{"deadline passed", func(a *Admitter) {
			if _, err := a.Admit(expired, 1); err == nil {
				panic("admitted")
			}
		}, full},
		{"recheck", func(a *Admitter) { a.Recheck() }, full},
		{"stats", func(a *Admitter) { _ = a.Stats() }, full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { tt.run(tt.a) }); n != 0 {
				t.Fatalf("%v allocs per run, want 0", n)
			}
		})
	}
}

func BenchmarkAdmitDone(b *testing.B) {
	a := mustNew(b, Fixed(1<<40))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tk, _ := a.Admit(ctx, 2)
		tk.Done()
	}
}

func BenchmarkAdmitDoneParallel(b *testing.B) {
	a := mustNew(b, Fixed(1<<40))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, _ := a.Admit(ctx, 2)
			tk.Done()
		}
	})
}

// BenchmarkAdmitDoneDeadline pays for reading the clock to judge the
// context's deadline.
func BenchmarkAdmitDoneDeadline(b *testing.B) {
	a := mustNew(b, Fixed(1<<40))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		tk, _ := a.Admit(ctx, 2)
		tk.Done()
	}
}

func BenchmarkAdmitShed(b *testing.B) {
	a := mustNew(b, Fixed(0), WithQueue(0))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = a.Admit(ctx, 4)
	}
}

func BenchmarkAdmitShedParallel(b *testing.B) {
	a := mustNew(b, Fixed(0), WithQueue(0))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = a.Admit(ctx, 4)
		}
	})
}

// BenchmarkAdmitWait measures one waited admission per op: a partner
// goroutine queues behind the slot the benchmark holds and is handed it by
// Done. The op also includes two channel handoffs and polling Stats until
// the partner is queued, so ns/op is an upper bound for the waiting path;
// allocs/op is exactly the waiting path's (channel operations do not
// allocate).
func BenchmarkAdmitWait(b *testing.B) {
	a := mustNew(b, Fixed(1), WithMaxWait(time.Minute))
	ctx := context.Background()
	next, released := make(chan bool), make(chan struct{})
	go func() {
		for <-next {
			tk, err := a.Admit(ctx, 1) // waits: the benchmark holds the slot
			if err != nil {
				panic(err)
			}
			tk.Done()
			released <- struct{}{}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		tk, err := a.Admit(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		next <- true
		for a.Stats().Queued == 0 {
			runtime.Gosched()
		}
		tk.Done()
		<-released
	}
	next <- false
}
