package fleet

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/redistest"
)

// drTNew returns a DRCache on f or fails t.
func drTNew(t testing.TB, f *Fleet, name string, ttl time.Duration, opts ...DROption) *DRCache {
	t.Helper()
	d, err := NewDRCache(f, name, ttl, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// drTWritten waits until the writer has handled n records (shared or local).
func drTWritten(t testing.TB, d *DRCache, n uint64) {
	t.Helper()
	cacheTWait(t, "the DR writer", func() bool { s := d.Stats(); return s.Shared+s.LocalOnly >= n })
}

// drTLookup checks what d answers for sig ("" means no answer).
func drTLookup(t testing.TB, who string, d *DRCache, sig, want string) {
	t.Helper()
	v, ok := d.Lookup(context.Background(), sig)
	if want == "" && ok {
		t.Fatalf("%s: Lookup(%q) = %q, want no answer", who, sig, v)
	}
	if want != "" && (!ok || string(v) != want) {
		t.Fatalf("%s: Lookup(%q) = %q, %v; want %q", who, sig, v, ok, want)
	}
}

func TestDROptionsValidation(t *testing.T) {
	f := cacheTFleet(t, cacheTDownAddr, "a", nil)
	tests := []struct {
		name  string
		dname string
		ttl   time.Duration
		opts  []DROption
		want  string // "" means no error
	}{
		{"defaults", "songs", 72 * time.Hour, nil, ""},
		{"all set", "songs", time.Hour, []DROption{WithDRCandidates(2), WithDRDecayAt(10), WithDRQueue(1), WithDRLocalBytes(1 << 20), WithDRMaxValue(100)}, ""},
		{"empty name", "", time.Hour, nil, "name"},
		{"name with colon", "a:b", time.Hour, nil, "name"},
		{"zero ttl", "x", 0, nil, "ttl"},
		{"zero candidates", "x", time.Hour, []DROption{WithDRCandidates(0)}, "WithDRCandidates"},
		{"too many candidates", "x", time.Hour, []DROption{WithDRCandidates(65)}, "WithDRCandidates"},
		{"decay 1", "x", time.Hour, []DROption{WithDRDecayAt(1)}, "WithDRDecayAt"},
		{"zero queue", "x", time.Hour, []DROption{WithDRQueue(0)}, "WithDRQueue"},
		{"zero local bytes", "x", time.Hour, []DROption{WithDRLocalBytes(0)}, "WithDRLocalBytes"},
		{"zero max value", "x", time.Hour, []DROption{WithDRMaxValue(0)}, "WithDRMaxValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDRCache(f, tt.dname, tt.ttl, tt.opts...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "fleet: ")):
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
	if _, err := NewDRCache(nil, "x", time.Hour); err == nil {
		t.Fatal("NewDRCache(nil) succeeded")
	}
}

// TestDRSharedVoteAndOutage: answers recorded on A are found on B; the vote spans both
// instances; with Redis killed each instance still answers what it recorded or looked up;
// after a restart with an empty Redis the local copy still answers.
func TestDRSharedVoteAndOutage(t *testing.T) {
	s := redistest.Start(t)
	fa := cacheTFleet(t, s.Addr, "a", nil)
	a := drTNew(t, fa, "songs", 72*time.Hour)
	b := drTNew(t, cacheTFleet(t, s.Addr, "b", nil), "songs", 72*time.Hour)
	ctx := context.Background()

	for _, v := range []string{"v1", "v1", "v1"} {
		a.Record("city=paris", []byte(v))
	}
	a.Record("city=rome", []byte("w"))
	drTWritten(t, a, 4)
	b.Record("city=paris", []byte("v2"))
	drTWritten(t, b, 1)
	if sa, sb := a.Stats(), b.Stats(); sa.Shared != 4 || sb.Shared != 1 {
		t.Fatalf("shared records: a %+v, b %+v", sa, sb)
	}
	drTLookup(t, "b", b, "city=paris", "v1") // 3 votes against b's own 1
	drTLookup(t, "b", b, "city=rome", "w")
	drTLookup(t, "a", a, "city=paris", "v1")
	drTLookup(t, "a", a, "city=oslo", "")

	// A corrupt value in Redis is skipped and counted, never served.
	counts, values := a.keys("city=bern")
	id := drCandidateID([]byte("x"))
	if err := fa.Client().HSet(ctx, counts, id, 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := fa.Client().HSet(ctx, values, id, "garbage").Err(); err != nil {
		t.Fatal(err)
	}
	drTLookup(t, "a", a, "city=bern", "")
	if got := a.Stats().SkippedCorrupt; got != 1 {
		t.Fatalf("SkippedCorrupt = %d, want 1", got)
	}

	s.Kill()
	drTLookup(t, "a (Redis down)", a, "city=paris", "v1")
	drTLookup(t, "a (Redis down)", a, "city=rome", "w")
	drTLookup(t, "b (Redis down)", b, "city=paris", "v1") // b learned the fleet's winner
	drTLookup(t, "b (Redis down)", b, "city=rome", "w")
	a.Record("city=oslo", []byte("o"))
	drTWritten(t, a, 5)
	drTLookup(t, "a (Redis down)", a, "city=oslo", "o")
	drTLookup(t, "b (Redis down)", b, "city=oslo", "")
	if sa := a.Stats(); sa.LocalOnly != 1 || sa.LocalHits != 3 {
		t.Fatalf("a's stats with Redis down: %+v", sa)
	}

	s.Restart(t) // empty: no persistence
	drTLookup(t, "a (Redis empty)", a, "city=paris", "v1")
	cacheTWait(t, "a record to reach the restarted Redis", func() bool {
		before := a.Stats()
		a.Record("city=lima", []byte("l"))
		drTWritten(t, a, before.Shared+before.LocalOnly+1)
		return a.Stats().Shared > before.Shared
	})
	// b's client may take a moment to dial again (go-redis pauses dialing after errors).
	cacheTWait(t, "b to read from the restarted Redis", func() bool {
		v, ok := b.Lookup(ctx, "city=lima")
		return ok && string(v) == "l"
	})
	st := b.Stats()
	if st.Lookups != st.Hits+st.Misses || st.HitRatio() <= 0 || st.HitRatio() > 1 {
		t.Fatalf("b's lookups do not add up: %+v", st)
	}
}

// TestDRRecordHammer: Record from many goroutines never blocks and loses no count: every
// call is queued or dropped, and every queued record is written.
func TestDRRecordHammer(t *testing.T) {
	s := redistest.Start(t)
	d := drTNew(t, cacheTFleet(t, s.Addr, "a", nil), "hammer", time.Hour, WithDRQueue(16))
	const workers, perWorker = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				d.Record("sig"+string(rune('a'+w)), []byte{byte(i % 3)})
			}
		})
	}
	wg.Wait()
	st := d.Stats()
	if st.Records+st.Dropped != workers*perWorker {
		t.Fatalf("records %d + dropped %d != %d", st.Records, st.Dropped, workers*perWorker)
	}
	drTWritten(t, d, st.Records)
	if st := d.Stats(); st.Shared+st.LocalOnly != st.Records {
		t.Fatalf("written %d+%d of %d records", st.Shared, st.LocalOnly, st.Records)
	}
}

func TestDRRecordTooLarge(t *testing.T) {
	d := drTNew(t, cacheTFleet(t, cacheTDownAddr, "a", nil), "big", time.Hour, WithDRMaxValue(4))
	d.Record("sig", []byte("12345"))
	if st := d.Stats(); st.SkippedTooLarge != 1 || st.Records != 0 {
		t.Fatalf("stats %+v, want one skipped record", st)
	}
}

// TestDRLocalExpiryFakeClock: with Redis down the local copy answers until the TTL passes
// on the Fleet's clock.
func TestDRLocalExpiryFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	d := drTNew(t, cacheTFleet(t, cacheTDownAddr, "a", clk), "expiry", time.Hour)
	d.Record("sig", []byte("v"))
	drTWritten(t, d, 1)
	clk.Advance(59 * time.Minute)
	drTLookup(t, "at 59m", d, "sig", "v")
	clk.Advance(2 * time.Minute)
	drTLookup(t, "at 61m", d, "sig", "")
}
