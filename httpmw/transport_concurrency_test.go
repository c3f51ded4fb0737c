package httpmw_test

import (
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// TestTransportConcurrentTotals hammers one RoundTripper from many goroutines against three
// hosts, one of them failing, and checks that every call is counted exactly once, under the
// outcome its caller saw, and that no goroutine outlives the test.
func TestTransportConcurrentTotals(t *testing.T) {
	before := runtime.NumGoroutine()
	const (
		goroutines = 16
		perHost    = 50  // calls per goroutine per host
		limit      = 700 // per host; the fake clock stands still, so exactly this many pass
	)
	clk := clock.NewFake(time.Time{})
	backends := []*trBackend{trNewBackend(t), trNewBackend(t), trNewBackend(t)}
	backends[1].status.Store(http.StatusBadGateway)
	rt := trTransport(t, httpmw.WithClock(clk), httpmw.WithRateLimit(limit, time.Minute, nil))

	type tally map[string]int // outcome → calls, as the callers saw them
	seen := make([]tally, len(backends))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := make([]tally, len(backends))
			for i := range local {
				local[i] = tally{}
			}
			for range perHost {
				for i, be := range backends {
					code, err := trGet(rt, be.srv.URL)
					switch {
					case errors.Is(err, ratelimit.ErrLimited):
						local[i]["rate_limited"]++
					case errors.Is(err, breaker.ErrOpen):
						local[i]["breaker_open"]++
					case err != nil:
						t.Errorf("%s: %v", be.host(), err)
					case code >= 500:
						local[i]["error_5xx"]++
					default:
						local[i]["ok"]++
					}
				}
			}
			mu.Lock()
			for i := range local {
				if seen[i] == nil {
					seen[i] = tally{}
				}
				for k, v := range local[i] {
					seen[i][k] += v
				}
			}
			mu.Unlock()
		})
	}
	wg.Wait()

	for i, be := range backends {
		total := 0
		for _, outcome := range []string{"ok", "error_5xx", "overloaded", "failed", "timeout", "deadline",
			"canceled", "breaker_open", "rate_limited", "degraded"} {
			got := trOutcome(t, rt, be.host(), outcome)
			if int(got) != seen[i][outcome] {
				t.Errorf("host %d: %s = %v, callers saw %d", i, outcome, got, seen[i][outcome])
			}
			total += int(got)
		}
		if total != goroutines*perHost {
			t.Errorf("host %d: %d calls counted, want %d", i, total, goroutines*perHost)
		}
		if got := seen[i]["rate_limited"]; got != goroutines*perHost-limit {
			t.Errorf("host %d: %d rate limited, want %d", i, got, goroutines*perHost-limit)
		}
		if got := int(be.hits.Load()); got != seen[i]["ok"]+seen[i]["error_5xx"] {
			t.Errorf("host %d: %d requests reached it, callers saw %d answers", i, got, seen[i]["ok"]+seen[i]["error_5xx"])
		}
	}
	if seen[1]["breaker_open"] == 0 {
		t.Error("the breaker never refused a call to the failing host")
	}

	rt.CloseIdleConnections()
	for _, be := range backends {
		be.srv.Close()
	}
	trNoLeak(t, before)
}
