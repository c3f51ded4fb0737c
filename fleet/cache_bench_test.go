package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/redistest"
)

// cacheTHot returns a cache, subscribed to a real Redis, holding one hot key in L1.
func cacheTHot(tb testing.TB) (*Cache, func(context.Context) ([]byte, time.Duration, error)) {
	tb.Helper()
	s := redistest.Start(tb)
	c := cacheTNew(tb, cacheTFleet(tb, s.Addr, "bench", nil), "bench")
	cacheTSubscribed(tb, c) // the subscription drops L1: warm it after
	load := func(context.Context) ([]byte, time.Duration, error) { return []byte("value"), time.Hour, nil }
	if _, err := c.Get(context.Background(), "hot", load); err != nil {
		tb.Fatal(err)
	}
	if _, ok := c.l1.GetIfPresent("hot"); !ok {
		tb.Fatal("the hot key is not in L1")
	}
	return c, load
}

// TestCacheL1HitAlloc pins the L1 hit paths of Get and Peek at 0 allocations.
func TestCacheL1HitAlloc(t *testing.T) {
	if cacheRaceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	c, load := cacheTHot(t)
	ctx := context.Background()
	tests := []struct {
		name string
		fn   func()
	}{
		{"Get", func() { _, _ = c.Get(ctx, "hot", load) }},
		{"Peek", func() { _, _ = c.Peek(ctx, "hot") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
				t.Fatalf("%s on an L1 hit allocates %v times", tt.name, n)
			}
		})
	}
}

func BenchmarkCacheGetL1Hit(b *testing.B) {
	c, load := cacheTHot(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Get(ctx, "hot", load)
	}
}

func BenchmarkCachePeekL1Hit(b *testing.B) {
	c, _ := cacheTHot(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Peek(ctx, "hot")
	}
}

func BenchmarkCacheGetL1HitParallel(b *testing.B) {
	c, load := cacheTHot(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = c.Get(ctx, "hot", load)
		}
	})
}
