package gateway

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// TestCredit drives the receiving side's Bulwark-Credit on a fake clock: rate headroom,
// the split among source instances, zero after a refusal, and no zero from a fixed
// concurrency bound alone.
func TestCredit(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	cfg := testConfig("sh", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	limited := addService(cfg, "songs", 1, map[string][]string{"sh": {"127.0.0.1:7101"}}, false)
	limited.RateLimit = &config.RateLimit{Limit: 100, Per: config.Duration(time.Second)}
	bounded := addService(cfg, "albums", 1, map[string][]string{"sh": {"127.0.0.1:7102"}}, false)
	bounded.Concurrency.Max = 10
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, WithClock(fake), WithCPU(pinnedCPU(100)), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	songs, albums := g.state.Load().services["songs"], g.state.Load().services["albums"]
	now := func() time.Duration { return g.since() }

	if got := albums.credit("sz-1", false, 1000); got != 1000 {
		t.Fatalf("no rate limit, no pressure: credit %d, want the cap 1000 (a concurrency bound is not pressure)", got)
	}
	for range 30 {
		songs.countServed(now())
	}
	if got := songs.credit("sz-1", false, 1000); got != 70 {
		t.Fatalf("100/s with 30 served: credit %d, want 70", got)
	}
	if got := songs.credit("sz-2", false, 1000); got != 35 {
		t.Fatalf("a second source instance: credit %d, want 70 / 2 = 35", got)
	}
	if got := songs.credit("sz-1", true, 1000); got != 0 {
		t.Fatalf("under CPU pressure: credit %d, want 0", got)
	}
	songs.markShed()
	if got := songs.credit("sz-1", false, 1000); got != 0 {
		t.Fatalf("right after a refusal: credit %d, want 0", got)
	}
	fake.Advance(1100 * time.Millisecond) // a period after the refusal; the last period served 30
	if got := songs.credit("sz-1", false, 1000); got != 35 {
		t.Fatalf("a period later: credit %d, want 35 (both sources seen within two periods)", got)
	}
	fake.Advance(3 * time.Second) // the sources and the served count age out
	if got := songs.credit("sz-1", false, 1000); got != 100 {
		t.Fatalf("after quiet periods: credit %d, want 100", got)
	}
	songs.markFailed(now()) // a local attempt of the service failed: no credit for two periods
	if got := songs.credit("sz-1", false, 1000); got != 0 {
		t.Fatalf("right after a local failure: credit %d, want 0", got)
	}
	fake.Advance(time.Second)
	if got := songs.credit("sz-1", false, 1000); got != 0 {
		t.Fatalf("the period after a local failure: credit %d, want 0", got)
	}
	fake.Advance(time.Second)
	if got := songs.credit("sz-1", false, 1000); got != 100 {
		t.Fatalf("two periods after a local failure: credit %d, want 100", got)
	}
}
