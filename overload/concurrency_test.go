package overload

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentMixed hammers Admit, Begin, Allow, Observe and Sample from
// many goroutines while a sampler moves the phase; every attempt must be
// counted exactly once and inflight must return to zero.
func TestConcurrentMixed(t *testing.T) {
	var changes atomic.Int64
	d := mustNew(t, WithWorkers(8), WithEnterSamples(2), WithExitSamples(2),
		WithOnPhaseChange(func(from, to Phase, s State) { changes.Add(1) }))
	const goroutines, attempts = 32, 3000
	var admitted, refused, allowed atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%3 == 0 {
				d.Observe(i%11, 10)
			} else {
				d.Sample()
			}
			_ = d.State()
			runtime.Gosched()
		}
	})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range attempts {
				switch r.IntN(3) {
				case 0:
					tok, err := d.Admit()
					if err != nil {
						refused.Add(1)
						continue
					}
					admitted.Add(1)
					runtime.Gosched()
					tok.Done()
				case 1:
					if d.Allow() != nil {
						refused.Add(1)
						continue
					}
					allowed.Add(1)
					tok := d.Begin()
					runtime.Gosched()
					tok.Done()
				case 2:
					tok := d.Begin() // unconditional
					admitted.Add(1)
					tok.Done()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()

	s := d.State()
	if got, want := admitted.Load()+allowed.Load()+refused.Load(), uint64(goroutines*attempts); got != want {
		t.Fatalf("outcomes %d, want %d", got, want)
	}
	if s.Rejected != refused.Load() {
		t.Fatalf("Rejected %d, callers saw %d refusals", s.Rejected, refused.Load())
	}
	if s.Inflight != 0 {
		t.Fatalf("inflight %d after every token is done", s.Inflight)
	}
	t.Logf("admitted %d, allowed %d, refused %d, phase changes %d", admitted.Load(), allowed.Load(), refused.Load(), changes.Load())
}

// TestConcurrentAdmitNeverPassesLimit: while Overloaded, concurrent Admits
// never hold more than ⌊target × workers⌋ tokens at once.
func TestConcurrentAdmitNeverPassesLimit(t *testing.T) {
	const workers = 16
	d := mustNew(t, WithWorkers(workers), WithEnterSamples(1))
	var toks []Token
	for range workers {
		toks = append(toks, d.Begin())
	}
	if s := d.Sample(); s.Phase != Overloaded {
		t.Fatalf("phase %v", s.Phase)
	}
	for _, tk := range toks {
		tk.Done()
	}
	limit, _ := d.Capacity() // ⌊0.9 × 16⌋ = 14
	if limit != 14 {
		t.Fatalf("limit %d, want 14", limit)
	}
	const goroutines, attempts = 32, 3000
	var cur, peak atomic.Int64
	var ok, refused atomic.Uint64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range attempts {
				tok, err := d.Admit()
				if err != nil {
					refused.Add(1)
					continue
				}
				ok.Add(1)
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				cur.Add(-1)
				tok.Done()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("peak %d tokens, limit %d", p, limit)
	}
	if ok.Load()+refused.Load() != goroutines*attempts || d.State().Rejected != refused.Load() || d.Inflight() != 0 {
		t.Fatalf("ok %d refused %d state %+v", ok.Load(), refused.Load(), d.State())
	}
	t.Logf("peak %d of %d; ok %d, refused %d", peak.Load(), limit, ok.Load(), refused.Load())
}
