package metrics

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// requestCount is bulwark_requests_total of one series.
func requestCount(m *Metrics, route, service, level, center, code, outcome string) float64 {
	return testutil.ToFloat64(m.requests.WithLabelValues(route, service, level, center, code, outcome))
}

// durationCount is the sample count and sum of one bulwark_request_duration_seconds series.
func durationCount(t *testing.T, m *Metrics, route string) (uint64, float64) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != NameRequestDuration {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if lp.GetName() == "route" && lp.GetValue() == route {
					h := metric.GetHistogram()
					return h.GetSampleCount(), h.GetSampleSum()
				}
			}
		}
	}
	return 0, 0
}

func TestObserveZeroAllocs(t *testing.T) {
	m := New(nil)
	tests := []struct {
		name    string
		code    int
		outcome string
	}{
		{"ok", 200, OutcomeOK},
		{"failover", 200, OutcomeFailoverOK},
		{"shed", 503, OutcomeShed},
		{"client gone", 499, OutcomeCanceled},
		{"deadline", 503, OutcomeDeadline},
	}
	durations := []time.Duration{0, 300 * time.Microsecond, 4 * time.Millisecond, 70 * time.Millisecond, 3 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := m.Route("/songs", "songs", 1, "p")
			for _, d := range durations { // first sight of the pair and of each native bucket
				r.Observe(tt.code, tt.outcome, d)
			}
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				r.Observe(tt.code, tt.outcome, durations[i%len(durations)])
				i++
			})
			if allocs != 0 {
				t.Fatalf("Observe(%d, %s): %v allocs, want 0", tt.code, tt.outcome, allocs)
			}
		})
	}
}

func TestUpstreamObserveZeroAllocs(t *testing.T) {
	obs := New(nil).Upstream("songs", "p", "10.0.0.1:80")
	obs.Observe(0.004)
	if allocs := testing.AllocsPerRun(1000, func() { obs.Observe(0.004) }); allocs != 0 {
		t.Fatalf("upstream Observe: %v allocs, want 0", allocs)
	}
}

func TestObserveLabels(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		outcome  string
		d        time.Duration
		wantCode string
		wantSum  float64
	}{
		{"documented outcome", 200, OutcomeOK, time.Millisecond, "200", 0.001},
		{"undocumented outcome is counted as given", 200, "mystery", time.Millisecond, "200", 0.001},
		{"code above the cache range", 1200, OutcomeOK, time.Millisecond, "1200", 0.001},
		{"negative code", -1, OutcomeOK, time.Millisecond, "-1", 0.001},
		{"negative duration counts as zero", 200, OutcomeDegraded, -time.Second, "200", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(nil)
			r := m.Route("/r", "svc", 2, "p")
			r.Observe(tt.code, tt.outcome, tt.d)
			if got := requestCount(m, "/r", "svc", "2", "p", tt.wantCode, tt.outcome); got != 1 {
				t.Fatalf("count %v, want 1", got)
			}
			if n, sum := durationCount(t, m, "/r"); n != 1 || sum != tt.wantSum {
				t.Fatalf("duration samples %d sum %v, want 1 sum %v", n, sum, tt.wantSum)
			}
		})
	}
}

func TestRouteSharesSeriesAcrossResolutions(t *testing.T) {
	m := New(nil)
	before := m.Route("/songs", "songs", 1, "p") // the config before a reload
	after := m.Route("/songs", "songs", 1, "p")  // and after it
	before.Observe(200, OutcomeOK, time.Millisecond)
	after.Observe(200, OutcomeOK, time.Millisecond)
	if got := requestCount(m, "/songs", "songs", "1", "p", "200", OutcomeOK); got != 2 {
		t.Fatalf("count %v, want 2", got)
	}
}

func TestCacheBoundStillCounts(t *testing.T) {
	m := New(nil)
	r := m.Route("/r", "svc", 1, "p")
	const codes = 40 // 40 codes × 13 outcomes = 520 pairs, past maxCachedPairs
	for round := range 2 {
		for code := 100; code < 100+codes; code++ {
			for _, o := range outcomeList {
				r.Observe(code, o, 0)
			}
		}
		if n := len(*r.counters.Load()); n != maxCachedPairs {
			t.Fatalf("round %d: cache holds %d pairs, want %d", round, n, maxCachedPairs)
		}
	}
	for code := 100; code < 100+codes; code++ {
		for _, o := range outcomeList {
			if got := requestCount(m, "/r", "svc", "1", "p", strconv.Itoa(code), o); got != 2 {
				t.Fatalf("code %d outcome %s: %v, want 2", code, o, got)
			}
		}
	}
}

func TestNilRouteMetrics(t *testing.T) {
	var r *RouteMetrics
	r.Observe(200, OutcomeOK, time.Millisecond) // must not panic
}

// TestObserveConcurrent hammers one route from many goroutines, first sights of pairs
// included, and checks that no count is lost.
func TestObserveConcurrent(t *testing.T) {
	m := New(nil)
	pairs := []struct {
		code    int
		outcome string
	}{
		{200, OutcomeOK}, {200, OutcomeFailoverOK}, {503, OutcomeShed}, {429, OutcomeRateLimited},
		{502, OutcomeUpstreamError}, {503, OutcomeBreakerOpen}, {200, "other"},
	}
	const goroutines, perG = 16, 2000
	shared := m.Route("/songs", "songs", 1, "p")
	var start, wg sync.WaitGroup
	start.Add(1)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := shared // half share one RouteMetrics, half resolve their own
			if g%2 == 1 {
				r = m.Route("/songs", "songs", 1, "p")
			}
			start.Wait()
			for i := range perG {
				p := pairs[(g+i)%len(pairs)]
				r.Observe(p.code, p.outcome, time.Duration(i)*time.Microsecond)
				m.Failover("songs", "s", ResultOK)
			}
		}()
	}
	start.Done()
	wg.Wait()

	var total float64
	for _, p := range pairs {
		total += requestCount(m, "/songs", "songs", "1", "p", strconv.Itoa(p.code), p.outcome)
	}
	if total != goroutines*perG {
		t.Fatalf("requests total %v, want %d", total, goroutines*perG)
	}
	if got, _ := durationCount(t, m, "/songs"); got != goroutines*perG {
		t.Fatalf("duration samples %d, want %d", got, goroutines*perG)
	}
	if got := testutil.ToFloat64(m.failovers.WithLabelValues("songs", "s", ResultOK)); got != goroutines*perG {
		t.Fatalf("failovers %v, want %d", got, goroutines*perG)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := New(nil).Route("/songs", "songs", 1, "p")
	r.Observe(200, OutcomeOK, 4*time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(200, OutcomeOK, 4*time.Millisecond)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	r := New(nil).Route("/songs", "songs", 1, "p")
	r.Observe(200, OutcomeOK, 4*time.Millisecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(200, OutcomeOK, 4*time.Millisecond)
		}
	})
}

func BenchmarkUpstreamObserve(b *testing.B) {
	obs := New(nil).Upstream("songs", "p", "10.0.0.1:80")
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(0.004)
	}
}

func BenchmarkFailover(b *testing.B) {
	m := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		m.Failover("songs", "s", ResultNoBudget)
	}
}
