package fleet

import (
	"log/slog"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// cacheTDownAddr is a loopback address where nothing listens: a Redis that is down.
const cacheTDownAddr = "127.0.0.1:1"

// cacheTFleet returns a Fleet on addr, closed when t ends, with a short SyncInterval so that
// reconnections in tests are quick.
func cacheTFleet(t testing.TB, addr, instance string, clk clock.Clock) *Fleet {
	t.Helper()
	f, err := New(Config{Redis: RedisConfig{Addrs: []string{addr}}, Instance: instance,
		SyncInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// cacheTNew returns a Cache on f or fails t.
func cacheTNew(t testing.TB, f *Fleet, name string, opts ...CacheOption) *Cache {
	t.Helper()
	c, err := NewCache(f, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cacheTWait polls cond until it holds, for at most 5 s.
func cacheTWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// cacheTSubscribed waits until every cache's subscriber is subscribed.
func cacheTSubscribed(t testing.TB, caches ...*Cache) {
	t.Helper()
	for _, c := range caches {
		cacheTWait(t, "the cache subscriber", func() bool { return c.Stats().Subscribed })
	}
}
