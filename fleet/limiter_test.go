package fleet

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/redistest"
	"github.com/bulwark-go/bulwark/ratelimit"
)

func TestLimiterOptionsValidation(t *testing.T) {
	f := limTFleet(t, "127.0.0.1:1", "a", clock.NewFake(limTEpoch))
	tests := []struct {
		name  string
		lname string
		limit int
		per   time.Duration
		opts  []LimiterOption
		ok    bool
	}{
		{"valid", "songs", 100, time.Second, nil, true},
		{"limit zero", "songs", 0, time.Second, nil, true},
		{"per equal to the interval", "songs", 10, 100 * time.Millisecond, nil, true},
		{"long window gets wide slots", "songs", 10, time.Hour, nil, true},
		{"empty name", "", 100, time.Second, nil, false},
		{"brace in name", "a{b}", 100, time.Second, nil, false},
		{"space in name", "a b", 100, time.Second, nil, false},
		{"negative limit", "songs", -1, time.Second, nil, false},
		{"per below the interval", "songs", 100, 50 * time.Millisecond, nil, false},
		{"dead after zero", "songs", 100, time.Second, []LimiterOption{WithLimiterDeadAfter(0)}, false},
		{"dead after too short", "songs", 100, time.Second, []LimiterOption{WithLimiterDeadAfter(150 * time.Millisecond)}, false},
		{"dead after ok", "songs", 100, time.Second, []LimiterOption{WithLimiterDeadAfter(time.Second)}, true},
		{"nil option skipped", "songs", 100, time.Second, []LimiterOption{nil}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newLimiter(f, tt.lname, tt.limit, tt.per, tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil && (l.n < 1 || l.n > LimiterMaxSlots || l.width*l.n > int64(tt.per)) {
				t.Fatalf("layout n=%d width=%v for per %v", l.n, time.Duration(l.width), tt.per)
			}
		})
	}
	if _, err := NewLimiter(nil, "x", 1, time.Second); err == nil {
		t.Fatal("nil Fleet accepted")
	}
}

// TestLimiterShareMath drives three instances on a fake clock against a real redis-server,
// so that every window and every share is exact and the test is deterministic.
func TestLimiterShareMath(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name    string
		rates   []float64
		phases  []time.Duration
		loWant  float64 // least admitted per window, as a fraction of the limit
		hiWant  float64
		shares  []float64 // each instance's part of what was admitted (0: not checked)
		allowed float64   // least fraction of the offered load admitted (0: not checked)
	}{
		{"uneven 60/30/10 at twice the limit", []float64{1200, 600, 200},
			[]time.Duration{0, 30 * time.Millisecond, 70 * time.Millisecond}, 0.98, 1.0, []float64{0.6, 0.3, 0.1}, 0},
		{"same phase", []float64{1200, 600, 200},
			[]time.Duration{0, 0, 0}, 0.98, 1.0, []float64{0.6, 0.3, 0.1}, 0},
		{"one busy, two idle", []float64{3000, 0, 0},
			[]time.Duration{10 * time.Millisecond, 40 * time.Millisecond, 90 * time.Millisecond}, 0.98, 1.0, []float64{1, 0, 0}, 0},
		{"ten times the limit, even", []float64{3333, 3333, 3334},
			[]time.Duration{0, 50 * time.Millisecond, 50 * time.Millisecond}, 0.98, 1.0, []float64{0.333, 0.333, 0.333}, 0},
		{"under the limit admits everything", []float64{400, 300, 100},
			[]time.Duration{0, 30 * time.Millisecond, 70 * time.Millisecond}, 0, 1.0, nil, 0.999},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(limTEpoch.Add(time.Duration(i) * time.Hour))
			sim := newLimTSim(clk, 10*time.Millisecond, 100*time.Millisecond)
			for j, name := range []string{"a", "b", "c"} {
				f := limTFleet(t, srv.Addr, name, clk)
				sim.add(limTManual(t, f, "math", 1000, time.Second), tt.rates[j], tt.phases[j])
			}
			sim.run(t, 8*time.Second)
			const warm = 2 * time.Second
			lo, hi := sim.windows(warm, time.Second)
			t.Logf("admitted per 1s window after warm-up: %d..%d of 1000", lo, hi)
			if float64(lo) < tt.loWant*1000 || float64(hi) > tt.hiWant*1000 {
				t.Fatalf("windows %d..%d, want within [%.0f, %.0f]", lo, hi, tt.loWant*1000, tt.hiWant*1000)
			}
			var all int64
			for j := range sim.lims {
				all += sim.admitted(j, warm)
			}
			for j, want := range tt.shares {
				got := float64(sim.admitted(j, warm)) / float64(all)
				if math.Abs(got-want) > 0.03 {
					t.Errorf("instance %d took %.3f of the admitted, want %.3f", j, got, want)
				}
			}
			if tt.allowed > 0 {
				var offered int64
				for j := range sim.lims {
					offered += sim.offered[j]
				}
				var admitted int64
				for j := range sim.lims {
					admitted += sim.admitted(j, 0)
				}
				if got := float64(admitted) / float64(offered); got < tt.allowed {
					t.Fatalf("admitted %d of %d offered under the limit (%.4f)", admitted, offered, got)
				}
			}
			st := sim.lims[0].Stats()
			if st.Mode != ModeCluster || st.Instances != 3 || st.ClusterTotal > 1000 || st.SyncErrors != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestLimiterMembership: an instance that joins gets its share within a few intervals; one
// that dies is dropped after the dead-after time, and the others take its share back.
func TestLimiterMembership(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(limTEpoch)
	sim := newLimTSim(clk, 10*time.Millisecond, 100*time.Millisecond)
	fa, fb := limTFleet(t, srv.Addr, "a", clk), limTFleet(t, srv.Addr, "b", clk)
	sim.add(limTManual(t, fa, "members", 1000, time.Second), 1500, 0)
	sim.add(limTManual(t, fb, "members", 1000, time.Second), 1500, 50*time.Millisecond)
	sim.run(t, 3*time.Second)

	fc := limTFleet(t, srv.Addr, "c", clk)
	c := sim.add(limTManual(t, fc, "members", 1000, time.Second), 1500, 20*time.Millisecond)
	joined := sim.elapsed
	sim.run(t, 300*time.Millisecond)
	if got := sim.admitted(c, joined); got == 0 {
		t.Fatal("the newcomer admitted nothing in its first 3 intervals")
	}
	sim.run(t, 3*time.Second)
	// Windows on slot boundaries never exceed the limit; others may, by part of a slot,
	// while the grants change from slot to slot.
	_, hi := sim.windowsEvery(joined.Truncate(100*time.Millisecond), time.Second, 100*time.Millisecond)
	lo, hiAny := sim.windows(joined, time.Second)
	t.Logf("windows while c joins: %d..%d (on slot boundaries: max %d)", lo, hiAny, hi)
	if hi > 1000 || hiAny > 1100 {
		t.Fatalf("a window admitted %d (on slot boundaries: %d) while an instance joined", hiAny, hi)
	}
	settled := joined + time.Second
	all := sim.admitted(0, settled) + sim.admitted(1, settled) + sim.admitted(c, settled)
	if share := float64(sim.admitted(c, settled)) / float64(all); share < 0.3 || share > 0.36 {
		t.Fatalf("the newcomer's share settled at %.3f of the limit, want about 1/3", share)
	}

	sim.down[c] = true // c dies without a goodbye
	died := sim.elapsed
	sim.run(t, 3*time.Second)
	if st := sim.lims[0].Stats(); st.Instances != 2 {
		t.Fatalf("a still counts %d instances after c died", st.Instances)
	}
	lo, hi = sim.windows(died+1500*time.Millisecond, time.Second)
	t.Logf("windows after c died: %d..%d", lo, hi)
	if lo < 980 || hi > 1000 {
		t.Fatalf("windows %d..%d after c died, want 980..1000", lo, hi)
	}
}

// TestLimiterIdleInstanceNotStarved: an instance offered a request now and then, next to one
// that saturates the limit, gets it through.
func TestLimiterIdleInstanceNotStarved(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(limTEpoch)
	sim := newLimTSim(clk, 10*time.Millisecond, 100*time.Millisecond)
	sim.add(limTManual(t, limTFleet(t, srv.Addr, "busy", clk), "idle", 1000, time.Second), 3000, 0)
	idle := sim.add(limTManual(t, limTFleet(t, srv.Addr, "idle", clk), "idle", 1000, time.Second), 2, 60*time.Millisecond)
	sim.run(t, 10*time.Second)
	if got, offered := sim.admitted(idle, 0), sim.offered[idle]; got < offered*8/10 {
		t.Fatalf("the idle instance got %d of its %d requests through", got, offered)
	}
}

// TestLimiterCloseHandsBack: a Limiter that closes gives its grants back and leaves, so the
// other takes the whole limit.
func TestLimiterCloseHandsBack(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(limTEpoch)
	sim := newLimTSim(clk, 10*time.Millisecond, 100*time.Millisecond)
	sim.add(limTManual(t, limTFleet(t, srv.Addr, "a", clk), "bye", 1000, time.Second), 1500, 0)
	b := sim.add(limTManual(t, limTFleet(t, srv.Addr, "b", clk), "bye", 1000, time.Second), 1500, 50*time.Millisecond)
	sim.run(t, 2*time.Second)
	sim.lims[b].Close()
	sim.lims[b].Close() // twice is fine
	if st := sim.lims[b].Stats(); st.Mode != ModeLocal {
		t.Fatalf("closed Limiter in mode %s", st.Mode)
	}
	sim.down[b] = true
	sim.run(t, 200*time.Millisecond)
	if st := sim.lims[0].Stats(); st.Instances != 1 {
		t.Fatalf("a counts %d instances right after b left", st.Instances)
	}
	left := sim.elapsed
	sim.run(t, 2500*time.Millisecond)
	if lo, hi := sim.windows(left+time.Second, time.Second); lo < 980 || hi > 1000 {
		t.Fatalf("windows %d..%d after b left, want a alone at 980..1000", lo, hi)
	}
}

// TestLimiterLocalModeFakeClock: Redis unreachable from the start: local mode at limit/N
// with N = 1, and a sync error per round.
func TestLimiterLocalModeFakeClock(t *testing.T) {
	clk := clock.NewFake(limTEpoch)
	f := limTFleet(t, "127.0.0.1:1", "a", clk)
	l := limTManual(t, f, "down", 100, time.Second)
	l.sync()
	if st := l.Stats(); st.Mode != ModeLocal || st.Instances != 1 || st.Share != 1 || st.SyncErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	admitted := 0
	for range 200 {
		if l.Allow() == nil {
			admitted++
		}
	}
	if admitted != 100 {
		t.Fatalf("local mode admitted %d of 200 at once, want the limit 100", admitted)
	}
	if !errors.Is(l.Allow(), ratelimit.ErrLimited) {
		t.Fatal("over the limit, Allow did not return ratelimit.ErrLimited")
	}
	if f.Up() {
		t.Fatal("the Fleet reports Redis up")
	}
}

// TestLimiterConcurrentTotals hammers one Limiter from many goroutines while its loop syncs
// with a real redis-server: every request is counted exactly once.
func TestLimiterConcurrentTotals(t *testing.T) {
	srv := redistest.Start(t)
	f := limTFleet(t, srv.Addr, "a", nil)
	l, err := NewLimiter(f, "hammer", 5000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const workers, each = 16, 3000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var admitted, limited uint64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a, r uint64
			for i := range each {
				n := 1 + (w+i)%3
				switch err := l.AllowN(n); {
				case err == nil:
					a += uint64(n)
				case errors.Is(err, ratelimit.ErrLimited):
					r += uint64(n)
				default:
					t.Errorf("AllowN: %v", err)
				}
				if i%500 == 0 {
					time.Sleep(time.Millisecond) // let syncs interleave
				}
			}
			mu.Lock()
			admitted += a
			limited += r
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := l.Stats()
	var attempts uint64
	for w := range workers {
		for i := range each {
			attempts += uint64(1 + (w+i)%3)
		}
	}
	if admitted+limited != attempts || st.Admitted != admitted || st.Limited != limited {
		t.Fatalf("admitted %d + limited %d != %d attempts, or stats %+v disagree", admitted, limited, attempts, st)
	}
	if admitted == 0 || admitted > 5000*2 {
		t.Fatalf("admitted %d", admitted)
	}
	if l.AllowN(0) != nil || l.AllowN(-3) != nil {
		t.Fatal("AllowN(n ≤ 0) refused")
	}
}

// TestLimiterAllowAlloc pins Allow at zero allocations in both modes.
func TestLimiterAllowAlloc(t *testing.T) {
	if limRaceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	srv := redistest.Start(t)
	clk := clock.NewFake(limTEpoch)
	l := limTManual(t, limTFleet(t, srv.Addr, "a", clk), "alloc", 1<<30, time.Second)
	l.sync()
	if l.Stats().Mode != ModeCluster {
		t.Fatal("not in cluster mode")
	}
	if n := testing.AllocsPerRun(1000, func() { _ = l.Allow() }); n != 0 {
		t.Fatalf("cluster Allow: %v allocs", n)
	}
	d := limTManual(t, limTFleet(t, "127.0.0.1:1", "a", clk), "alloc", 1<<30, time.Second)
	d.sync()
	if n := testing.AllocsPerRun(1000, func() { _ = d.Allow() }); n != 0 || d.Stats().Mode != ModeLocal {
		t.Fatalf("local Allow: %v allocs", n)
	}
}

// TestLimiterFleetClose: Fleet.Close stops the loop and leaves the Limiter deciding locally;
// Close afterwards returns at once.
func TestLimiterFleetClose(t *testing.T) {
	srv := redistest.Start(t)
	f := limTFleet(t, srv.Addr, "a", nil)
	l, err := NewLimiter(f, "closing", 10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l.Stats().Mode != ModeCluster {
		t.Fatal("not in cluster mode")
	}
	f.Close()
	if st := l.Stats(); st.Mode != ModeLocal || st.SyncErrors != 0 {
		t.Fatalf("after Fleet.Close: %+v", st)
	}
	admitted := 0
	for range 20 {
		if l.Allow() == nil {
			admitted++
		}
	}
	if admitted == 0 || admitted > 10 {
		t.Fatalf("admitted %d of 20 with a limit of 10", admitted)
	}
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close after Fleet.Close hangs")
	}
}
