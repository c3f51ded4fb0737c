package ratelimit

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// newKeyedFixed returns a Keyed of fixed windows, limit per hour per key,
// counting the limiters it makes.
func newKeyedFixed(t *testing.T, c clock.Clock, limit int, opts ...Option) (*Keyed, *atomic.Int64) {
	t.Helper()
	var made atomic.Int64
	k, err := NewKeyed(func() (*FixedWindow, error) {
		made.Add(1)
		return NewFixedWindow(limit, time.Hour, WithClock(c))
	}, append(opts, WithClock(c))...)
	mustNoErr(t, err)
	made.Store(0) // forget the probe NewKeyed makes
	return k, &made
}

func expectAllow(t *testing.T, k *Keyed, key string, want bool) {
	t.Helper()
	err := k.Allow(key)
	if err != nil && !errors.Is(err, ErrLimited) {
		t.Fatalf("Allow(%q) = %v", key, err)
	}
	if got := err == nil; got != want {
		t.Fatalf("Allow(%q) admitted = %v, want %v", key, got, want)
	}
}

func TestKeyedPerKeyIndependence(t *testing.T) {
	c := clock.NewFake(time.Time{})
	k, made := newKeyedFixed(t, c, 2)
	for _, key := range []string{"alice", "bob", ""} {
		expectAllow(t, k, key, true)
		expectAllow(t, k, key, true)
		expectAllow(t, k, key, false)
	}
	if k.Len() != 3 || made.Load() != 3 {
		t.Fatalf("Len = %d, made %d limiters; want 3 and 3", k.Len(), made.Load())
	}
	if err := k.AllowN("carol", 3); !errors.Is(err, ErrLimited) {
		t.Fatalf("AllowN over the limit = %v, want ErrLimited", err)
	}
	if err := k.AllowN("dave", 0); err != nil || k.Len() != 4 {
		t.Fatalf("AllowN(dave, 0) = %v with Len %d: n ≤ 0 must pass without touching a key", err, k.Len())
	}
}

func TestKeyedLRUEviction(t *testing.T) {
	c := clock.NewFake(time.Time{})
	k, made := newKeyedFixed(t, c, 1, WithMaxKeys(3))
	for _, key := range []string{"a", "b", "c"} {
		expectAllow(t, k, key, true)
	}
	expectAllow(t, k, "a", false) // a is now the most recently used; b the least
	expectAllow(t, k, "d", true)  // full: b goes
	if k.Len() != 3 {
		t.Fatalf("Len = %d, want 3", k.Len())
	}
	expectAllow(t, k, "a", false) // kept: still limited
	expectAllow(t, k, "c", false) // kept; now the order is d, a, c → c most recent
	expectAllow(t, k, "b", true)  // evicted, so it starts afresh (and evicts d)
	expectAllow(t, k, "d", true)  // evicted by b, starts afresh (and evicts a)
	expectAllow(t, k, "c", false)
	if got := made.Load(); got != 6 {
		t.Fatalf("made %d limiters, want 6 (a b c d, then b and d again)", got)
	}
	if k.Len() != 3 {
		t.Fatalf("Len = %d, want 3", k.Len())
	}
}

func TestKeyedTTL(t *testing.T) {
	c := clock.NewFake(time.Time{})
	start := c.Now()
	k, made := newKeyedFixed(t, c, 1, WithTTL(time.Minute))
	expectAllow(t, k, "a", true)
	c.Advance(30 * time.Second)
	expectAllow(t, k, "b", true)
	c.Advance(29 * time.Second)
	expectAllow(t, k, "a", false) // used at 59 s: its TTL starts again
	for _, tt := range []struct {
		to   time.Duration // since the start
		want int
	}{
		{90*time.Second - time.Nanosecond, 2},
		{90 * time.Second, 1},                  // b, last used at 30 s, has expired
		{119*time.Second - time.Nanosecond, 1}, // a, last used at 59 s, has not
		{119 * time.Second, 0},
	} {
		c.Advance(tt.to - c.Since(start))
		if got := k.Len(); got != tt.want {
			t.Fatalf("at %v: Len = %d, want %d", tt.to, got, tt.want)
		}
	}
	expectAllow(t, k, "a", true) // a fresh limiter
	if made.Load() != 3 {
		t.Fatalf("made %d limiters, want 3", made.Load())
	}
}

// TestKeyedTTLExpiresOldestFirst: expiry walks from the least recently used
// key and stops at the first live one.
func TestKeyedTTLExpiresOldestFirst(t *testing.T) {
	c := clock.NewFake(time.Time{})
	k, _ := newKeyedFixed(t, c, 5, WithTTL(10*time.Second))
	for i := range 10 {
		expectAllow(t, k, fmt.Sprint(i), true)
		c.Advance(time.Second)
	}
	// At 10 s, key 0 (used at 0 s) has expired; keys 1…9 have not.
	for i, want := range []int{9, 8, 7, 6} {
		if got := k.Len(); got != want {
			t.Fatalf("at %ds: Len = %d, want %d", 10+i, got, want)
		}
		c.Advance(time.Second)
	}
}

func TestKeyedDefaultTTL(t *testing.T) {
	tests := []struct {
		name string
		make func() (Limiter, error)
		want time.Duration
	}{
		{"sliding 1 per 5s: (n+1)·w", func() (Limiter, error) { return New(1, 5*time.Second) }, 5500 * time.Millisecond},
		{"fixed: one window", func() (Limiter, error) { return NewFixedWindow(1, 5*time.Second) }, 5 * time.Second},
		{"token: time to refill", func() (Limiter, error) { return NewTokenBucket(2, time.Second, 10) }, 5 * time.Second},
		{"token with rate 0: never", func() (Limiter, error) { return NewTokenBucket(0, time.Second, 10) }, maxDuration},
		{"leaky: max wait plus a period", func() (Limiter, error) { return NewLeakyBucket(4, time.Second, WithMaxWait(time.Second)) }, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyed(tt.make)
			mustNoErr(t, err)
			if k.ttl != tt.want {
				t.Fatalf("default TTL = %v, want %v", k.ttl, tt.want)
			}
		})
	}
}

// TestKeyedDefaultTTLKeepsTheLimit: with the default TTL, "one request per
// 5 s per user" holds even when the user's key is dropped and re-created.
func TestKeyedDefaultTTLKeepsTheLimit(t *testing.T) {
	c := clock.NewFake(time.Time{})
	k, err := NewKeyed(func() (*SlidingWindow, error) { return NewSlidingWindow(1, 5*time.Second, WithClock(c)) }, WithClock(c))
	mustNoErr(t, err)
	var admitted []time.Duration
	for step := range 2000 {
		if k.Allow("user") == nil {
			admitted = append(admitted, time.Duration(step)*10*time.Millisecond)
		}
		c.Advance(10 * time.Millisecond)
	}
	for i := 1; i < len(admitted); i++ {
		if gap := admitted[i] - admitted[i-1]; gap <= 5*time.Second {
			t.Fatalf("admitted at %v and %v: only %v apart", admitted[i-1], admitted[i], gap)
		}
	}
	if len(admitted) < 3 {
		t.Fatalf("admitted %d times in 20 s, want at least 3", len(admitted))
	}
}

func TestKeyedFactoryError(t *testing.T) {
	c := clock.NewFake(time.Time{})
	boom := errors.New("boom")
	calls := 0
	k, err := NewKeyed(func() (Limiter, error) {
		if calls++; calls > 1 {
			return nil, boom
		}
		return NewFixedWindow(1, time.Second, WithClock(c))
	}, WithClock(c))
	mustNoErr(t, err)
	err = k.Allow("x")
	if !errors.Is(err, boom) || errors.Is(err, ErrLimited) {
		t.Fatalf("Allow = %v, want the factory's error, not ErrLimited", err)
	}
	if k.Len() != 0 {
		t.Fatalf("Len = %d after a failed factory, want 0", k.Len())
	}
}

func TestKeyedExistingKeyDoesNotAllocate(t *testing.T) {
	c := clock.NewFake(time.Time{})
	k, _ := newKeyedFixed(t, c, 50, WithMaxKeys(100))
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
		_ = k.Allow(keys[i])
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		_ = k.Allow(keys[i%len(keys)]) // admits, then rejects: both paths
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Allow on an existing key, want 0", allocs)
	}
}

// TestKeyedHammer: many goroutines on a shared set of keys, all created
// concurrently, with the clock frozen: each key admits exactly its limit,
// and exactly one limiter is kept per key.
func TestKeyedHammer(t *testing.T) {
	const goroutines, calls, keys, limit = 16, 2000, 50, 37
	c := clock.NewFake(time.Time{})
	k, made := newKeyedFixed(t, c, limit, WithMaxKeys(keys))
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprint("k", i)
	}
	var perKey [keys]atomic.Int64
	total := hammer(t, goroutines, calls, func(g, i int) error {
		key := (g*7 + i) % keys
		err := k.Allow(names[key])
		if err == nil {
			perKey[key].Add(1)
		}
		return err
	})
	if total != keys*limit {
		t.Fatalf("admitted %d, want exactly %d", total, keys*limit)
	}
	for i := range perKey {
		if got := perKey[i].Load(); got != limit {
			t.Fatalf("key %d admitted %d, want exactly %d", i, got, limit)
		}
	}
	if k.Len() != keys {
		t.Fatalf("Len = %d, want %d", k.Len(), keys)
	}
	// Racing creators may each build a limiter, but only one is kept.
	if made.Load() < keys {
		t.Fatalf("made %d limiters for %d keys", made.Load(), keys)
	}
}

// TestKeyedHammerEviction hammers more keys than fit, moving the clock now
// and then: whatever is evicted, Len never exceeds the maximum and the LRU
// list stays consistent with the map.
func TestKeyedHammerEviction(t *testing.T) {
	const goroutines, calls, maxKeys = 8, 3000, 20
	c := clock.NewFake(time.Time{})
	k, _ := newKeyedFixed(t, c, 3, WithMaxKeys(maxKeys), WithTTL(time.Second))
	hammer(t, goroutines, calls, func(g, i int) error {
		if i%500 == 0 {
			c.Advance(300 * time.Millisecond)
		}
		return k.Allow(fmt.Sprint((g*31 + i*7) % 97))
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) > maxKeys {
		t.Fatalf("%d keys held, max %d", len(k.keys), maxKeys)
	}
	n := 0
	for e := k.lru.next; e != &k.lru; e = e.next {
		if k.keys[e.key] != e || e.next.prev != e {
			t.Fatalf("LRU list and map disagree at key %q", e.key)
		}
		n++
	}
	if n != len(k.keys) {
		t.Fatalf("LRU list has %d entries, map %d", n, len(k.keys))
	}
}
