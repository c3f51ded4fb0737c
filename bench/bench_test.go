package bench

import (
	"sync"
	"sync/atomic"
	"testing"

	zload "github.com/zeromicro/go-zero/core/load"
	zlogx "github.com/zeromicro/go-zero/core/logx"
	zstat "github.com/zeromicro/go-zero/core/stat"
)

// ours is the sub-benchmark name of Bulwark's implementation in every family.
const ours = "bulwark"

// An impl is one implementation of a family.
type impl struct {
	name string
	// setup builds a fresh instance, configured so that it admits every
	// call, and returns its pass path.
	setup func(tb testing.TB) instance
}

// An instance is one configured limiter or breaker.
type instance struct {
	// op makes one decision and reports its outcome (a success, or the end
	// of the request). It returns false if the decision was a rejection,
	// which a fair run never sees.
	op func() bool
	// waits counts the admissions that were told to wait for their slot
	// (leaky buckets only; nil elsewhere). The wait itself is not taken.
	waits *atomic.Int64
}

// TestMain silences the peers that log: go-zero prints CPU and shedding
// statistics from goroutines its init functions start. aegis starts a
// CPU-sampling goroutine too, but prints nothing.
func TestMain(m *testing.M) {
	zlogx.Disable()
	zlogx.DisableStat()
	zstat.DisableLog()
	zload.DisableLog()
	m.Run()
}

// runFamily runs a serial and a parallel variant of every implementation,
// each on a fresh instance.
func runFamily(b *testing.B, impls []impl) {
	for _, im := range impls {
		b.Run(im.name+"/serial", func(b *testing.B) { serial(b, im.setup(b)) })
		b.Run(im.name+"/parallel", func(b *testing.B) { parallel(b, im.setup(b)) })
	}
}

func serial(b *testing.B, in instance) {
	op := in.op
	var rejected int64
	b.ReportAllocs()
	for b.Loop() {
		if !op() {
			rejected++
		}
	}
	report(b, rejected, in.waits)
}

func parallel(b *testing.B, in instance) {
	op := in.op
	var rejected atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var n int64
		for pb.Next() {
			if !op() {
				n++
			}
		}
		rejected.Add(n)
	})
	report(b, rejected.Load(), in.waits)
}

// report adds the rejected and waiting shares as metrics, but only when they
// are not zero, so that a fair run's output has the usual columns only.
func report(b *testing.B, rejected int64, waits *atomic.Int64) {
	if rejected > 0 {
		b.ReportMetric(float64(rejected)/float64(b.N), "rejected/op")
	}
	if waits != nil {
		if w := waits.Load(); w > 0 {
			b.ReportMetric(float64(w)/float64(b.N), "waits/op")
		}
	}
}

// families lists every family with its implementations, ours first.
func families() []struct {
	name  string
	impls []impl
} {
	return []struct {
		name  string
		impls []impl
	}{
		{"TokenBucket", tokenBucket},
		{"LeakyBucket", leakyBucket},
		{"SlidingWindow", slidingWindow},
		{"ClassicBreaker", classicBreaker},
		{"SREBreaker", sreBreaker},
		{"Adaptive", adaptiveLimiter},
	}
}

// TestNothingRejected checks the premise of every benchmark: on the
// configured instance, the pass path admits every call, from one goroutine
// and from several at once.
func TestNothingRejected(t *testing.T) {
	const calls, goroutines = 20000, 4
	for _, f := range families() {
		if len(f.impls) < 2 || f.impls[0].name != ours {
			t.Errorf("%s: want %q first and at least one peer", f.name, ours)
		}
		for _, im := range f.impls {
			t.Run(f.name+"/"+im.name, func(t *testing.T) {
				in := im.setup(t)
				var rejected atomic.Int64
				var wg sync.WaitGroup
				for range goroutines {
					wg.Go(func() {
						for range calls {
							if !in.op() {
								rejected.Add(1)
							}
						}
					})
				}
				wg.Wait()
				if n := rejected.Load(); n != 0 {
					t.Errorf("rejected %d of %d calls", n, calls*goroutines)
				}
			})
		}
	}
}

// must fails tb if err is not nil.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
