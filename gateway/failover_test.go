package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// twoCenters is sz (primary) and sh, each with a gateway, and a songs service with two hosts
// in sz and one in sh.
type twoCenters struct {
	szHosts        []*backend
	shHost         *backend
	sz, sh         *Gateway
	szLogs, shLogs *logBuffer
	szURL, shURL   string
}

func newTwoCenters(t *testing.T, credit bool, opts ...Option) *twoCenters {
	t.Helper()
	tc := &twoCenters{
		szHosts: []*backend{newBackend(t, "sz-a"), newBackend(t, "sz-b")},
		shHost:  newBackend(t, "sh-a"),
	}
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	hosts := map[string][]string{"sz": {tc.szHosts[0].addr, tc.szHosts[1].addr}, "sh": {tc.shHost.addr}}
	mk := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		cfg.Retry.RemoteCredit = &credit
		addService(cfg, "songs", 1, hosts, false)
		addService(cfg, "orders", 1, map[string][]string{"sz": {tc.szHosts[0].addr}}, true)
		return cfg
	}
	tc.sz, tc.szLogs = startGateway(t, mk("sz"), szLn, opts...)
	tc.sh, tc.shLogs = startGateway(t, mk("sh"), shLn, opts...)
	tc.szURL, tc.shURL = "http://"+addrs["sz"], "http://"+addrs["sh"]
	return tc
}

// failedOverLines counts the access-log lines of requests that arrived as failovers.
func failedOverLines(logs *logBuffer) int {
	n := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"failover_from":"sz"`) {
			n++
		}
	}
	return n
}

func TestFailoverWithRemoteCreditKeepsEveryPeriodServed(t *testing.T) {
	tc := newTwoCenters(t, true)
	const rate, outageAt = 200, time.Second
	timer := time.AfterFunc(outageAt, func() {
		for _, b := range tc.szHosts {
			b.kill()
		}
	})
	defer timer.Stop()
	rs := drive(t, rate, 7*time.Second, get(tc.szURL+"/api/songs"))
	secs := perSecond(rs)
	for i, s := range secs {
		rate := successRate(s)
		t.Logf("second %d: success %.4f (%d requests)", i, rate, len(s))
		if i >= int(outageAt/time.Second)+3 && rate < 0.999 {
			t.Errorf("second %d (period ≥ 3 after the outage): success %.4f, want ≥ 0.999", i, rate)
		}
	}
	for _, r := range rs {
		if r.status != 0 && r.header.Get(HeaderCenter) == "" {
			t.Fatalf("response without %s: %d", HeaderCenter, r.status)
		}
	}
	// Each failed-over request is served, and logged, once by sh; sh never fails over back.
	if got, want := failedOverLines(tc.shLogs), int(tc.shHost.hits.Load()); got != want {
		t.Errorf("sh logged %d failed-over requests, its host served %d", got, want)
	}
	if strings.Contains(tc.szLogs.String(), `"failover_from"`) {
		t.Errorf("a request bounced back to sz")
	}
}

// TestFailoverWindowFollowsTheFormula drives periods on a fake clock: with remote_credit
// false, the retries sent in each period must be the f(i) of SEEDS.md A2 computed from the
// observed t and s.
func TestFailoverWindowFollowsTheFormula(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	tc := newTwoCenters(t, false, WithClock(fake))
	for _, b := range tc.szHosts {
		b.kill()
	}
	client := &http.Client{Timeout: 5 * time.Second}
	const perPeriod = 200
	f, prevHits := int64(1), int64(0)
	for period := 0; period < 8; period++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		sem := make(chan struct{}, 16)
		for i := 0; i < perPeriod; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				resp, err := client.Get(tc.szURL + "/api/songs")
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		hits := tc.shHost.hits.Load()
		g := hits - prevHits
		prevHits = hits
		t.Logf("period %d: f=%d retries=%d served=%d", period, f, g, ok)
		if g < f-1 || g > f+1 {
			t.Fatalf("period %d: %d retries, want f(i)=%d ±1", period, g, f)
		}
		// s = 1 (sh is healthy); t = perPeriod local requests.
		if g >= f {
			f += max(min(perPeriod/100, f), 1)
		}
		fake.Advance(time.Second)
	}
	if f < 10 {
		t.Fatalf("window only reached %d", f)
	}
}

func TestBothCentersFailingCollapsesRetries(t *testing.T) {
	for _, credit := range []bool{true, false} {
		name := map[bool]string{true: "credit", false: "pure"}[credit]
		t.Run(name, func(t *testing.T) {
			tc := newTwoCenters(t, credit)
			for _, b := range tc.szHosts {
				b.kill()
			}
			tc.shHost.status.Store(http.StatusInternalServerError)
			const rate, dur = 200, 10 * time.Second
			rs := drive(t, rate, dur, get(tc.szURL+"/api/songs"))
			retries := failedOverLines(tc.shLogs)
			limit := len(rs)/100 + int(dur/time.Second) + 1
			t.Logf("%d requests, %d retries at sh (limit %d)", len(rs), retries, limit)
			if retries > limit {
				t.Errorf("%d retries over %v, want ≤ 1%% of %d requests + 1 per period = %d", retries, dur, len(rs), limit)
			}
			for _, svc := range tc.sz.Status().Services {
				if w := svc.Windows["sh"].Window; svc.Name == "songs" && w != 1 {
					t.Errorf("window toward sh = %d after both centers failed, want 1", w)
				}
			}
			for _, r := range rs {
				if r.status != 0 && r.header.Get(HeaderCenter) == "" {
					t.Fatalf("response without %s", HeaderCenter)
				}
			}
		})
	}
}

func TestWritesReachThePrimary(t *testing.T) {
	tc := newTwoCenters(t, true)
	for _, url := range []string{tc.szURL, tc.shURL} {
		before := tc.szHosts[0].hits.Load()
		resp, err := http.Post(url+"/api/orders", "application/json", strings.NewReader(`{"id":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST via %s: status %d", url, resp.StatusCode)
		}
		if got := tc.szHosts[0].hits.Load() - before; got != 1 {
			t.Fatalf("POST via %s reached the sz backend %d times, want 1", url, got)
		}
		if resp.Header.Get("X-Backend") != "sz-a" || resp.Header.Get(HeaderCenter) == "" {
			t.Fatalf("POST via %s: backend %q center %q", url, resp.Header.Get("X-Backend"), resp.Header.Get(HeaderCenter))
		}
	}
	if tc.shHost.hits.Load() != 0 {
		t.Fatal("a write reached the sh backend")
	}
	// The status API shows it.
	b, _ := json.Marshal(tc.sh.Status())
	if !strings.Contains(string(b), `"orders"`) {
		t.Fatalf("status lacks orders: %s", b)
	}
}
