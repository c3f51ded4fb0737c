package fleet

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/cpulock"
	"github.com/bulwark-go/bulwark/internal/redistest"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// limTBucket is the resolution at which the real-clock tests count admissions.
const limTBucket = 10 * time.Millisecond

// limTLoad offers requests to Limiters at fixed rates on the real clock, paced by a 10ms
// ticker (not spinning), and counts admissions per 10ms of elapsed time.
type limTLoad struct {
	start    time.Time
	buckets  []atomic.Int64 // admitted, all instances, per limTBucket since start
	attempts atomic.Int64
	admitted atomic.Int64
	limited  atomic.Int64
	slowest  atomic.Int64 // ns, the longest single Allow
	wg       sync.WaitGroup
}

// limTRun offers rates[i] requests per second to lims[i] for d, then returns.
func limTRun(t *testing.T, lims []*Limiter, rates []float64, d time.Duration) *limTLoad {
	t.Helper()
	ld := &limTLoad{start: time.Now(), buckets: make([]atomic.Int64, int(d/limTBucket)+2)}
	for i, l := range lims {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			tick := time.NewTicker(limTBucket)
			defer tick.Stop()
			var offered float64
			for now := range tick.C {
				elapsed := now.Sub(ld.start)
				if elapsed >= d {
					return
				}
				for ; offered < rates[i]*elapsed.Seconds(); offered++ {
					t0 := time.Now()
					err := l.Allow()
					took := time.Since(t0)
					if took > time.Duration(ld.slowest.Load()) {
						ld.slowest.Store(int64(took))
					}
					ld.attempts.Add(1)
					switch {
					case err == nil:
						ld.admitted.Add(1)
						if b := int(time.Since(ld.start) / limTBucket); b < len(ld.buckets) {
							ld.buckets[b].Add(1)
						}
					case errors.Is(err, ratelimit.ErrLimited):
						ld.limited.Add(1)
					default:
						t.Errorf("Allow: %v", err)
					}
				}
			}
		}()
	}
	return ld
}

// windows returns the least and most admitted in any window of length per inside
// [from, to) of elapsed time, sliding by limTBucket.
func (ld *limTLoad) windows(from, to, per time.Duration) (lo, hi int64) {
	w := int(per / limTBucket)
	lo, hi = -1, -1
	for s := int(from / limTBucket); s+w <= int(to/limTBucket) && s+w <= len(ld.buckets); s++ {
		var sum int64
		for j := s; j < s+w; j++ {
			sum += ld.buckets[j].Load()
		}
		if lo < 0 || sum < lo {
			lo = sum
		}
		if sum > hi {
			hi = sum
		}
	}
	return lo, hi
}

// limTThree starts a redis-server and three instances a, b, c with a Limiter each.
func limTThree(t *testing.T, name string, limit int) (*redistest.Server, []*Limiter) {
	t.Helper()
	srv := redistest.Start(t)
	var lims []*Limiter
	for _, inst := range []string{"a", "b", "c"} {
		l, err := NewLimiter(limTFleet(t, srv.Addr, inst, nil), name, limit, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		lims = append(lims, l)
	}
	return srv, lims
}

// TestLimiterClusterAccuracy: three instances take 60/30/10 % of twice the limit; after a
// warm-up, every 1s window (sliding by 10ms, not aligned on slots) admits within ±5 %.
func TestLimiterClusterAccuracy(t *testing.T) {
	cpulock.Hold(t)
	const limit = 1000
	_, lims := limTThree(t, "accuracy", limit)
	const run, warm = 5 * time.Second, 1500 * time.Millisecond
	ld := limTRun(t, lims, []float64{1200, 600, 200}, run)
	ld.wg.Wait()
	lo, hi := ld.windows(warm, run, time.Second)
	t.Logf("admitted per 1s window after %v: %d..%d of %d (worst %+.1f%%); %d admitted, %d limited; slowest Allow %v",
		warm, lo, hi, limit, 100*limTWorst(lo, hi, limit), ld.admitted.Load(), ld.limited.Load(), time.Duration(ld.slowest.Load()))
	if lo < limit*95/100 || hi > limit*105/100 {
		t.Fatalf("windows %d..%d, want within ±5%% of %d", lo, hi, limit)
	}
	for _, l := range lims {
		if st := l.Stats(); st.Mode != ModeCluster || st.Instances != 3 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// limTWorst is the larger relative deviation of lo and hi from limit.
func limTWorst(lo, hi int64, limit int) float64 {
	dlo, dhi := float64(lo-int64(limit))/float64(limit), float64(hi-int64(limit))/float64(limit)
	if -dlo > dhi {
		return dlo
	}
	return dhi
}

// TestLimiterRedisKilled: Redis dies mid-run and comes back empty. No Allow waits on it or
// fails; while it is down the fleet admits within ±limit/N per window; afterwards every
// instance is back in cluster mode and the windows are within ±5 % again.
func TestLimiterRedisKilled(t *testing.T) {
	cpulock.Hold(t)
	const limit = 900
	srv, lims := limTThree(t, "killed", limit)
	const (
		killAt    = 1500 * time.Millisecond
		restartAt = 4 * time.Second
		run       = 7 * time.Second
	)
	ld := limTRun(t, lims, []float64{1080, 540, 180}, run)
	time.Sleep(killAt)
	srv.Kill()
	limTWait(t, "every instance in local mode", func() bool {
		for _, l := range lims {
			if l.Stats().Mode != ModeLocal {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Until(ld.start.Add(restartAt)))
	srv.Restart(t)
	back := limTWait(t, "every instance back in cluster mode", func() bool {
		for _, l := range lims {
			if l.Stats().Mode != ModeCluster {
				return false
			}
		}
		return true
	})
	ld.wg.Wait()
	if ld.admitted.Load()+ld.limited.Load() != ld.attempts.Load() {
		t.Fatalf("admitted %d + limited %d != %d attempts", ld.admitted.Load(), ld.limited.Load(), ld.attempts.Load())
	}
	slowest := time.Duration(ld.slowest.Load())
	if slowest > 100*time.Millisecond {
		t.Fatalf("an Allow took %v: something waited", slowest)
	}
	perN := int64(limit / 3)
	lo, hi := ld.windows(killAt+200*time.Millisecond, restartAt, time.Second)
	loK, hiK := ld.windows(killAt-time.Second, killAt+time.Second, time.Second)
	t.Logf("Redis down: windows %d..%d (±%d allowed around %d); windows across the kill %d..%d", lo, hi, perN, limit, loK, hiK)
	if hiK > limit+perN {
		t.Fatalf("a window across the kill admitted %d", hiK)
	}
	if lo < limit-perN || hi > limit+perN {
		t.Fatalf("while Redis was down, windows %d..%d, want within %d±%d", lo, hi, limit, perN)
	}
	loA, hiA := ld.windows(restartAt+time.Second, run, time.Second)
	lo0, hi0 := ld.windows(restartAt-time.Second, restartAt+time.Second, time.Second)
	t.Logf("back in cluster mode %v after the restart; windows across the restart %d..%d; from 1s after: %d..%d (worst %+.1f%%); slowest Allow %v",
		back, lo0, hi0, loA, hiA, 100*limTWorst(loA, hiA, limit), slowest)
	if loA < limit*95/100 || hiA > limit*105/100 {
		t.Fatalf("after the restart, windows %d..%d, want within ±5%% of %d", loA, hiA, limit)
	}
	for _, l := range lims {
		if st := l.Stats(); st.SyncErrors == 0 || st.Syncs == 0 {
			t.Fatalf("stats %+v: want both syncs and sync errors", st)
		}
	}
}
