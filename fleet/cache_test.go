package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/redistest"
)

// cacheTLoader returns a load function that counts its calls and returns val for ttl.
func cacheTLoader(calls *atomic.Int64, val string, ttl time.Duration) func(context.Context) ([]byte, time.Duration, error) {
	return func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte(val), ttl, nil
	}
}

func TestCacheOptionsValidation(t *testing.T) {
	f := cacheTFleet(t, cacheTDownAddr, "a", nil)
	tests := []struct {
		name  string
		opts  []CacheOption
		cname string
		want  string // "" means no error
	}{
		{"defaults", nil, "songs", ""},
		{"all set", []CacheOption{WithCacheL1Bytes(1 << 20), WithCacheMaxValue(1000), WithCacheJitter(0), WithCacheWriteQueue(1)}, "songs", ""},
		{"empty name", nil, "", "name"},
		{"name with colon", nil, "a:b", "name"},
		{"name with brace", nil, "a{b}", "name"},
		{"zero L1", []CacheOption{WithCacheL1Bytes(0)}, "x", "WithCacheL1Bytes"},
		{"zero max value", []CacheOption{WithCacheMaxValue(0)}, "x", "WithCacheMaxValue"},
		{"huge max value", []CacheOption{WithCacheMaxValue(1 << 30)}, "x", "WithCacheMaxValue"},
		{"negative jitter", []CacheOption{WithCacheJitter(-0.1)}, "x", "WithCacheJitter"},
		{"jitter 1", []CacheOption{WithCacheJitter(1)}, "x", "WithCacheJitter"},
		{"zero queue", []CacheOption{WithCacheWriteQueue(0)}, "x", "WithCacheWriteQueue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCache(f, tt.cname, tt.opts...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "fleet: ")):
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
	if _, err := NewCache(nil, "x"); err == nil {
		t.Fatal("NewCache(nil) succeeded")
	}
}

func TestCacheJitterRange(t *testing.T) {
	f := cacheTFleet(t, cacheTDownAddr, "a", nil)
	tests := []struct {
		name     string
		jitter   float64
		ttl      time.Duration
		lo, hi   time.Duration
		mustVary bool
	}{
		{"default ±10%", DefaultCacheJitter, 10 * time.Second, 9 * time.Second, 11 * time.Second, true},
		{"off", 0, 10 * time.Second, 10 * time.Second, 10 * time.Second, false},
		{"half", 0.5, time.Minute, 30 * time.Second, 90 * time.Second, true},
		{"floor 1ms", 0, time.Microsecond, time.Millisecond, time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheTNew(t, f, "jitter", WithCacheJitter(tt.jitter))
			seen := map[time.Duration]bool{}
			for range 1000 {
				d := c.jittered(tt.ttl)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("jittered(%v) = %v, want in [%v, %v]", tt.ttl, d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if tt.mustVary && len(seen) < 100 {
				t.Fatalf("only %d distinct TTLs in 1000", len(seen))
			}
		})
	}
}

// TestCacheL1ExpiryFakeClock: L1 entries expire after their TTL on the Fleet's clock.
func TestCacheL1ExpiryFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	c := cacheTNew(t, cacheTFleet(t, cacheTDownAddr, "a", clk), "expiry", WithCacheJitter(0))
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), 10*time.Second); !errors.Is(err, ErrCacheLocalOnly) {
		t.Fatalf("Set with Redis down = %v, want ErrCacheLocalOnly", err)
	}
	clk.Advance(9 * time.Second)
	if v, ok := c.Peek(ctx, "k"); !ok || string(v) != "v" {
		t.Fatalf("Peek at 9s = %q, %v; want the value", v, ok)
	}
	clk.Advance(2 * time.Second)
	if v, ok := c.Peek(ctx, "k"); ok {
		t.Fatalf("Peek at 11s = %q, want a miss", v)
	}
}

func TestCacheSetRejects(t *testing.T) {
	c := cacheTNew(t, cacheTFleet(t, cacheTDownAddr, "a", nil), "rejects", WithCacheMaxValue(4))
	ctx := context.Background()
	_ = c.Set(ctx, "k", []byte("old"), time.Minute)
	tests := []struct {
		name string
		val  string
		ttl  time.Duration
		want error
	}{
		{"zero ttl", "v", 0, ErrCacheTTL},
		{"negative ttl", "v", -time.Second, ErrCacheTTL},
		{"too large", "12345", time.Minute, ErrCacheTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Set(ctx, "k", []byte(tt.val), tt.ttl); !errors.Is(err, tt.want) {
				t.Fatalf("Set = %v, want %v", err, tt.want)
			}
		})
	}
	if _, ok := c.Peek(ctx, "k"); ok {
		t.Fatal("a too-large Set left the old value in L1")
	}
	if s := c.Stats(); s.SkippedTooLarge != 1 || s.Sets != 1 {
		t.Fatalf("stats %+v, want 1 too large and 1 set", s)
	}
}

// TestCacheFillRace: a value read before an invalidation of its stripe never lands in L1.
func TestCacheFillRace(t *testing.T) {
	c := cacheTNew(t, cacheTFleet(t, cacheTDownAddr, "a", nil), "race")
	tests := []struct {
		name       string
		invalidate func()
		wantInL1   bool
	}{
		{"no invalidation", func() {}, true},
		{"key invalidated", func() { c.drop("k") }, false},
		{"everything dropped", func() { c.dropAll() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.l1.InvalidateAll()
			gen := c.gen("k")
			tt.invalidate()
			c.fillL1("k", []byte("v"), time.Minute, gen)
			if _, ok := c.l1.GetIfPresent("k"); ok != tt.wantInL1 {
				t.Fatalf("in L1 = %v, want %v", ok, tt.wantInL1)
			}
		})
	}
}

func TestCacheGetLevels(t *testing.T) {
	s := redistest.Start(t)
	a := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "levels")
	b := cacheTNew(t, cacheTFleet(t, s.Addr, "b", nil), "levels")
	cacheTSubscribed(t, a, b)
	ctx := context.Background()
	var calls atomic.Int64

	v, err := a.Get(ctx, "song:1", cacheTLoader(&calls, "one", time.Minute))
	if err != nil || string(v) != "one" || calls.Load() != 1 {
		t.Fatalf("first Get = %q, %v after %d loads", v, err, calls.Load())
	}
	v, err = a.Get(ctx, "song:1", cacheTLoader(&calls, "other", time.Minute))
	if err != nil || string(v) != "one" || calls.Load() != 1 {
		t.Fatalf("second Get = %q, %v after %d loads; want an L1 hit", v, err, calls.Load())
	}
	// The L2 write is asynchronous: wait until b can Peek the value.
	cacheTWait(t, "the loaded value in L2", func() bool { v, ok := b.Peek(ctx, "song:1"); return ok && string(v) == "one" })
	v, err = b.Get(ctx, "song:1", cacheTLoader(&calls, "other", time.Minute))
	if err != nil || string(v) != "one" || calls.Load() != 1 {
		t.Fatalf("b's Get = %q, %v after %d loads; want the shared value", v, err, calls.Load())
	}
	if st := a.Stats(); st.HitsL1 != 1 || st.Misses != 1 || st.Loads != 1 || st.SharedLoads != 0 {
		t.Fatalf("a's stats %+v", st)
	}
	if st := b.Stats(); st.HitsL2 != 1 || st.Loads != 0 || st.HitsL1 < 1 {
		t.Fatalf("b's stats %+v", st)
	}

	// A long key is hashed in Redis and works the same.
	long := strings.Repeat("x", 1000)
	if v, err := a.Get(ctx, long, cacheTLoader(&calls, "long", time.Minute)); err != nil || string(v) != "long" {
		t.Fatalf("long key Get = %q, %v", v, err)
	}
	cacheTWait(t, "the long key in L2", func() bool { v, ok := b.Peek(ctx, long); return ok && string(v) == "long" })

	// A load error is returned and not cached; a TTL ≤ 0 is not cached.
	boom := errors.New("boom")
	if _, err := a.Get(ctx, "bad", func(context.Context) ([]byte, time.Duration, error) { return nil, 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("Get with a failing load = %v", err)
	}
	if v, err := a.Get(ctx, "bad", cacheTLoader(&calls, "good", 0)); err != nil || string(v) != "good" {
		t.Fatalf("Get after a failed load = %q, %v", v, err)
	}
	if _, ok := a.Peek(ctx, "bad"); ok {
		t.Fatal("a value loaded with TTL 0 was cached")
	}
	if st := a.Stats(); st.LoadErrors != 1 {
		t.Fatalf("LoadErrors = %d, want 1", st.LoadErrors)
	}
}

// TestCacheSingleflight: 100 concurrent misses of one key make ONE load.
func TestCacheSingleflight(t *testing.T) {
	s := redistest.Start(t)
	c := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "stampede")
	cacheTSubscribed(t, c)
	const n = 100
	var calls atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) ([]byte, time.Duration, error) {
		calls.Add(1)
		<-release
		return []byte("v"), time.Minute, nil
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range n {
		wg.Go(func() {
			v, err := c.Get(context.Background(), "hot", load)
			if err != nil || string(v) != "v" {
				bad.Add(1)
			}
		})
	}
	cacheTWait(t, "100 callers waiting on the load", func() bool { return c.waiting.Load() == n })
	close(release)
	wg.Wait()
	st := c.Stats()
	if calls.Load() != 1 || bad.Load() != 0 || st.Loads != 1 || st.SharedLoads != n-1 || st.Misses != n {
		t.Fatalf("%d loads, %d bad results, stats %+v; want 1 load shared by %d", calls.Load(), bad.Load(), st, n)
	}
}

// TestCacheCorruptL2: garbage written into the Redis key is skipped, counted, never served,
// and replaced by the next load.
func TestCacheCorruptL2(t *testing.T) {
	s := redistest.Start(t)
	fa := cacheTFleet(t, s.Addr, "a", nil)
	a := cacheTNew(t, fa, "corrupt")
	b := cacheTNew(t, cacheTFleet(t, s.Addr, "b", nil), "corrupt")
	cacheTSubscribed(t, a, b)
	ctx := context.Background()
	good := encodeCacheValue([]byte("payload"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		raw  []byte
	}{
		{"garbage", []byte("not a cache value at all")},
		{"empty", nil},
		{"bad checksum", flipped},
		{"truncated", good[:len(good)-2]},
		{"wrong version", append([]byte{cacheMagic, 9}, good[2:]...)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("k%d", i)
			if err := fa.Client().Set(ctx, a.l2Key(key), tt.raw, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			if v, ok := b.Peek(ctx, key); ok {
				t.Fatalf("Peek served %q from a corrupt L2 value", v)
			}
			before := a.Stats().SkippedCorrupt
			var calls atomic.Int64
			v, err := a.Get(ctx, key, cacheTLoader(&calls, "fresh", time.Minute))
			if err != nil || string(v) != "fresh" || calls.Load() != 1 {
				t.Fatalf("Get = %q, %v after %d loads", v, err, calls.Load())
			}
			if got := a.Stats().SkippedCorrupt; got != before+1 {
				t.Fatalf("SkippedCorrupt %d → %d, want +1", before, got)
			}
			cacheTWait(t, "the load to replace the corrupt value", func() bool { v, ok := b.Peek(ctx, key); return ok && string(v) == "fresh" })
		})
	}
}

// TestCacheTooLargeL2: a value over the reader's maximum is skipped and counted; a loaded
// one is returned and not stored.
func TestCacheTooLargeL2(t *testing.T) {
	s := redistest.Start(t)
	big := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "size", WithCacheMaxValue(100))
	small := cacheTNew(t, cacheTFleet(t, s.Addr, "b", nil), "size", WithCacheMaxValue(10))
	cacheTSubscribed(t, big, small)
	ctx := context.Background()
	if err := big.Set(ctx, "k", bytes.Repeat([]byte("x"), 50), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok := small.Peek(ctx, "k"); ok {
		t.Fatalf("a reader with max 10 served %d bytes", len(v))
	}
	var calls atomic.Int64
	v, err := small.Get(ctx, "loaded", cacheTLoader(&calls, strings.Repeat("y", 20), time.Minute))
	if err != nil || len(v) != 20 {
		t.Fatalf("Get of a large loaded value = %d bytes, %v", len(v), err)
	}
	if _, ok := small.Peek(ctx, "loaded"); ok {
		t.Fatal("a too-large loaded value was cached")
	}
	if st := small.Stats(); st.SkippedTooLarge != 2 {
		t.Fatalf("SkippedTooLarge = %d, want 2", st.SkippedTooLarge)
	}
}

func TestCacheSetInvalidatePropagate(t *testing.T) {
	s := redistest.Start(t)
	a := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "prop")
	b := cacheTNew(t, cacheTFleet(t, s.Addr, "b", nil), "prop")
	cacheTSubscribed(t, a, b)
	ctx := context.Background()
	if err := a.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	cacheTWait(t, "b to see v1", func() bool { v, ok := b.Peek(ctx, "k"); return ok && string(v) == "v1" })
	if err := a.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	cacheTWait(t, "b to see v2", func() bool { v, ok := b.Peek(ctx, "k"); return ok && string(v) == "v2" })
	cacheTWait(t, "a to hold v2 in L1", func() bool { _, ok := a.Peek(ctx, "k"); return ok && a.l1HasValue("k", "v2") })
	if err := b.Invalidate(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	cacheTWait(t, "a to drop k", func() bool { _, ok := a.Peek(ctx, "k"); return !ok })
	// Each instance receives all three invalidations, its own included.
	cacheTWait(t, "3 invalidations received by each", func() bool {
		return a.Stats().InvalidationsReceived == 3 && b.Stats().InvalidationsReceived == 3
	})
	if sa, sb := a.Stats(), b.Stats(); sa.InvalidationsSent != 2 || sb.InvalidationsSent != 1 {
		t.Fatalf("a %+v\nb %+v", sa, sb)
	}
}

// TestCacheRedisDown: with Redis killed no read fails, Set and Invalidate work on L1 and
// say so, and after a restart the subscriber resubscribes and drops L1.
func TestCacheRedisDown(t *testing.T) {
	s := redistest.Start(t)
	c := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "down")
	cacheTSubscribed(t, c)
	ctx := context.Background()
	var calls atomic.Int64
	if _, err := c.Get(ctx, "k1", cacheTLoader(&calls, "v1", time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	cacheTWait(t, "the subscriber to notice", func() bool { return !c.Stats().Subscribed })
	if v, err := c.Get(ctx, "k1", cacheTLoader(&calls, "x", time.Minute)); err != nil || string(v) != "v1" {
		t.Fatalf("L1 hit with Redis down = %q, %v", v, err)
	}
	if v, err := c.Get(ctx, "k2", cacheTLoader(&calls, "v2", time.Minute)); err != nil || string(v) != "v2" {
		t.Fatalf("load with Redis down = %q, %v", v, err)
	}
	if v, ok := c.Peek(ctx, "k2"); !ok || string(v) != "v2" {
		t.Fatalf("loaded value not in L1 with Redis down: %q, %v", v, ok)
	}
	if err := c.Set(ctx, "k3", []byte("v3"), time.Minute); !errors.Is(err, ErrCacheLocalOnly) {
		t.Fatalf("Set with Redis down = %v", err)
	}
	if v, ok := c.Peek(ctx, "k3"); !ok || string(v) != "v3" {
		t.Fatalf("Set with Redis down did not update L1: %q, %v", v, ok)
	}
	if err := c.Invalidate(ctx, "k1"); !errors.Is(err, ErrCacheLocalOnly) {
		t.Fatalf("Invalidate with Redis down = %v", err)
	}
	if _, ok := c.Peek(ctx, "k1"); ok {
		t.Fatal("Invalidate with Redis down left k1 in L1")
	}
	s.Restart(t)
	cacheTWait(t, "the resubscription", func() bool { st := c.Stats(); return st.Subscribed && st.Resubscriptions == 2 })
	if _, ok := c.Peek(ctx, "k3"); ok {
		t.Fatal("L1 was not dropped on resubscription")
	}
	if err := c.Set(ctx, "k3", []byte("v3"), time.Minute); err != nil {
		t.Fatalf("Set after the restart = %v", err)
	}
}

// TestCacheHammer: many goroutines Get, Set and Invalidate a few keys; every call is counted
// exactly once and every value served is one that was written for its key.
func TestCacheHammer(t *testing.T) {
	s := redistest.Start(t)
	a := cacheTNew(t, cacheTFleet(t, s.Addr, "a", nil), "hammer")
	b := cacheTNew(t, cacheTFleet(t, s.Addr, "b", nil), "hammer")
	cacheTSubscribed(t, a, b)
	const workers, perWorker, keys = 16, 200, 4
	var gets, sets atomic.Uint64
	var wrong atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for w := range workers {
		c := a
		if w%2 == 1 {
			c = b
		}
		wg.Go(func() {
			ctx := context.Background()
			for i := range perWorker {
				if time.Now().After(deadline) {
					return
				}
				key := fmt.Sprintf("k%d", (w+i)%keys)
				switch i % 10 {
				case 0:
					if c.Set(ctx, key, fmt.Appendf(nil, "%s:set%d", key, w), time.Minute) == nil {
						sets.Add(1)
					}
				case 1:
					_ = c.Invalidate(ctx, key)
				default:
					gets.Add(1)
					v, err := c.Get(ctx, key, func(context.Context) ([]byte, time.Duration, error) {
						return []byte(key + ":loaded"), time.Minute, nil
					})
					if err != nil || !strings.HasPrefix(string(v), key+":") {
						wrong.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	sa, sb := a.Stats(), b.Stats()
	served := sa.HitsL1 + sa.HitsL2 + sa.Misses + sb.HitsL1 + sb.HitsL2 + sb.Misses
	shared := sa.Loads + sa.SharedLoads + sb.Loads + sb.SharedLoads
	if wrong.Load() != 0 || served != gets.Load() || shared != sa.Misses+sb.Misses || sa.Sets+sb.Sets != sets.Load() {
		t.Fatalf("%d wrong values; %d gets counted as %d; loads+shared %d vs misses %d; sets %d vs %d\na %+v\nb %+v",
			wrong.Load(), gets.Load(), served, shared, sa.Misses+sb.Misses, sa.Sets+sb.Sets, sets.Load(), sa, sb)
	}
}
