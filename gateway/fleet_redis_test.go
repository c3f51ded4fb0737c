package gateway

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/internal/promcheck"
	"github.com/bulwark-go/bulwark/internal/redistest"
)

// fleetPair is two gateways of center sz (instances sz-1 and sz-2) sharing one real
// redis-server, with a service songs that has every fleet feature.
type fleetPair struct {
	redis  *redistest.Server
	gw     [2]*Gateway
	url    [2]string
	up     *counting
	fb     *counting
	dead   string // a closed port: sh's gateway, and a dead host
	cfgFor func(i int) *config.Config
}

func newFleetPair(t *testing.T) *fleetPair {
	t.Helper()
	p := &fleetPair{redis: redistest.Start(t), up: &counting{name: "up"}, fb: &counting{name: "delayed"}}
	be := newBackend(t, "sz-a", withHandler(p.up))
	fb := newBackend(t, "fallback", withHandler(p.fb))
	dead := listen(t)
	p.dead = dead.Addr().String()
	dead.Close()
	lns := [2]net.Listener{listen(t), listen(t)}
	p.cfgFor = func(i int) *config.Config {
		cfg := testConfig("sz", map[string]string{"sz": lns[i].Addr().String(), "sh": p.dead})
		cfg.Instance = []string{"sz-1", "sz-2"}[i]
		cfg.Fleet = &config.Fleet{Redis: config.Redis{Addrs: []string{p.redis.Addr}}, Prefix: "t:",
			SyncInterval: config.Duration(50 * time.Millisecond)}
		svc := addService(cfg, "songs", 2, map[string][]string{"sz": {be.addr}, "sh": {be.addr}}, false)
		svc.Cache = &config.Cache{TTL: config.Duration(time.Minute), Key: []string{"path", "query:page"}}
		svc.DRCache = &config.DRCache{Key: []string{"path", "query:city"}, TTL: config.Duration(time.Hour)}
		svc.FallbackUpstreams = []string{fb.addr}
		svc.RateLimit = &config.RateLimit{Limit: 1000, Per: config.Duration(time.Second), Scope: config.ScopeCluster}
		return cfg
	}
	for i := range p.gw {
		p.gw[i], _ = startGateway(t, p.cfgFor(i), lns[i])
		p.url[i] = "http://" + lns[i].Addr().String()
	}
	return p
}

// TestFleetSwitchesConverge: a switch change and a fault made through one gateway's admin
// API reach the other within a second.
func TestFleetSwitchesConverge(t *testing.T) {
	p := newFleetPair(t)
	start := time.Now()
	if status, _, body := adminCall(t, p.gw[0], http.MethodPut, "/switches", "",
		`{"degrade":{"songs":0.25},"retry":{"global":false}}`); status != http.StatusOK {
		t.Fatalf("PUT /switches: %d %s", status, body)
	}
	eventually(t, time.Second, "sz-2 to take the switches", func() bool {
		sw := p.gw[1].Switches()
		return sw.Degrade["songs"] == 0.25 && sw.Retry.Global != nil && !*sw.Retry.Global
	})
	t.Logf("switches converged in %v", time.Since(start))

	status, _, body := adminCall(t, p.gw[1], http.MethodPost, "/faults", "",
		`{"service":"songs","kind":"abort","percent":50,"ttl":"1m"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /faults: %d %s", status, body)
	}
	var f Fault
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "sz-1 to take the fault", func() bool {
		fs := p.gw[0].Faults()
		return len(fs) == 1 && fs[0].ID == f.ID && fs[0].ExpiresAt.Equal(f.ExpiresAt)
	})
	if status, _, body := adminCall(t, p.gw[0], http.MethodDelete, "/faults/"+f.ID, "", ""); status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	eventually(t, time.Second, "sz-2 to drop the fault", func() bool { return len(p.gw[1].Faults()) == 0 })
}

// TestFleetCacheShared: an answer cached through one gateway is a hit on the other (L2), and
// an invalidation through either admin API reaches both.
func TestFleetCacheShared(t *testing.T) {
	p := newFleetPair(t)
	_, _, first := body(t, p.url[0]+"/api/songs?page=1", nil)
	eventually(t, 5*time.Second, "sz-2 to hit the shared cache", func() bool {
		_, h, b := body(t, p.url[1]+"/api/songs?page=1", nil)
		return h.Get(HeaderCache) == "hit" && b == first
	})
	if _, h, _ := body(t, p.url[0]+"/api/songs?page=1", nil); h.Get(HeaderCache) != "hit" {
		t.Fatal("sz-1 did not hit its own entry")
	}
	status, _, resp := adminCall(t, p.gw[1], http.MethodPost, "/cache/invalidate", "", `{"service":"songs","url":"/api/songs?page=1"}`)
	if status != http.StatusOK || !strings.Contains(string(resp), `"shared": true`) {
		t.Fatalf("invalidate: %d %s", status, resp)
	}
	for i := range p.gw {
		eventually(t, time.Second, "the entry to be gone everywhere", func() bool {
			_, h, b := body(t, p.url[i]+"/api/songs?page=1", nil)
			return h.Get(HeaderCache) == "" || b != first
		})
	}
	if status, _, resp := adminCall(t, p.gw[0], http.MethodPost, "/cache/invalidate", "", `{"service":"nope","url":"/x"}`); status != http.StatusBadRequest {
		t.Fatalf("invalidate an unknown service: %d %s", status, resp)
	}
}

// TestFleetMetrics: with every fleet feature configured and used, the scrape has every
// family and passes promtool.
func TestFleetMetrics(t *testing.T) {
	p := newFleetPair(t)
	body(t, p.url[0]+"/api/songs?page=1&city=sz", nil)
	p.up.status.Store(503)
	body(t, p.url[0]+"/api/songs?page=2&city=sz", nil) // local 503 → fallback
	_, _, scrape := adminCall(t, p.gw[0], http.MethodGet, "/metrics", "", "")
	promcheck.Check(t, scrape, metrics.FleetNames()...)
	for _, series := range []string{
		`bulwark_fleet_redis_up 1`,
		`bulwark_rate_limit_mode{mode="cluster",service="songs"} 1`,
		`bulwark_fallback_requests_total{result="ok",service="songs"} 1`,
		`bulwark_requests_total{center="sz",code="200",level="2",outcome="fallback",route="/api/songs",service="songs"} 1`,
	} {
		if !strings.Contains(string(scrape), series) {
			t.Errorf("the scrape lacks %s", series)
		}
	}
}

// TestFleetRedisDown: a gateway whose Redis is unreachable at start still starts and serves,
// with the cluster limit in local mode and the metric saying so; when Redis comes up the
// fleet is used.
func TestFleetRedisDown(t *testing.T) {
	p := newFleetPair(t)
	p.redis.Kill()
	ln := listen(t)
	cfg := p.cfgFor(0)
	cfg.Instance, cfg.Listen = "sz-3", ln.Addr().String()
	g, logs := startGateway(t, cfg, ln)
	url := "http://" + ln.Addr().String()
	for range 20 {
		if status, _, _ := body(t, url+"/api/songs?page=9", nil); status != http.StatusOK {
			t.Fatalf("with Redis down: %d", status)
		}
	}
	eventually(t, 5*time.Second, "the local mode", func() bool {
		s := g.snapshot()
		return s.Fleet != nil && !s.Fleet.RedisUp && s.Services[0].Fleet.LimitMode == metrics.ModeLocal
	})
	if n := strings.Count(logs.String(), "redis is unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	p.redis.Restart(t)
	eventually(t, 10*time.Second, "the cluster mode", func() bool {
		s := g.snapshot()
		return s.Fleet.RedisUp && s.Services[0].Fleet.LimitMode == metrics.ModeCluster
	})
}
