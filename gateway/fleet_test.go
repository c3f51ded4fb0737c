package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// The fleet features of one gateway without Redis (a local fleet): the proxy cache, the DR
// cache and the fallback pool. fleet_redis_test.go runs them shared across gateways.

// counting is an upstream that answers "<name> <n> <path?query>" with the given headers, and
// counts its requests.
type counting struct {
	name   string
	n      atomic.Int64
	header http.Header
	status atomic.Int32 // 0 = 200
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.n.Add(1)
	for k, vv := range c.header {
		w.Header()[k] = vv
	}
	if s := c.status.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
	fmt.Fprintf(w, "%s %d %s", c.name, n, r.URL.RequestURI())
}

// oneGateway starts sz alone (sh's gateway address is dead) with a service songs on the given
// upstream handler, configured by edit.
func oneGateway(t *testing.T, h http.Handler, edit func(*config.Service)) (*Gateway, string, *backend) {
	t.Helper()
	be := newBackend(t, "sz-a", withHandler(h))
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String(), "sh": deadAddr})
	svc := addService(cfg, "songs", 2, map[string][]string{"sz": {be.addr}, "sh": {be.addr}}, false)
	edit(svc)
	g, _ := startGateway(t, cfg, ln)
	return g, "http://" + ln.Addr().String(), be
}

func body(t *testing.T, url string, hdr http.Header) (int, http.Header, string) {
	t.Helper()
	return fetch(t, http.MethodGet, url, hdr)
}

func TestProxyCache(t *testing.T) {
	up := &counting{name: "up"}
	g, url, _ := oneGateway(t, up, func(s *config.Service) {
		s.Cache = &config.Cache{TTL: config.Duration(time.Minute), Key: []string{"path", "query:page"}}
	})
	status, h, first := body(t, url+"/api/songs?page=1&utm=a", nil)
	if status != 200 || h.Get(HeaderCache) != "" {
		t.Fatalf("first GET: %d %v", status, h)
	}
	// The store runs after the answer; wait for it, then a request that differs only outside
	// the key is a hit.
	eventually(t, 5*time.Second, "the answer to be cached", func() bool {
		_, h, _ := body(t, url+"/api/songs?page=1&utm=b", nil)
		return h.Get(HeaderCache) == "hit"
	})
	_, h, again := body(t, url+"/api/songs?page=1", nil)
	if again != first || h.Get(HeaderCache) != "hit" || h.Get(HeaderCenter) != "sz" {
		t.Fatalf("hit: %q (first %q) %v", again, first, h)
	}
	if _, h, _ := body(t, url+"/api/songs?page=2", nil); h.Get(HeaderCache) != "" {
		t.Fatal("another page was a hit")
	}
	if _, _, b := fetch(t, http.MethodHead, url+"/api/songs?page=1", nil); b != "" {
		t.Fatalf("HEAD has a body: %q", b)
	}
	before := up.n.Load()
	if err := g.InvalidateCache(t.Context(), CacheInvalidation{Service: "songs", URL: "/api/songs?page=1"}); err != nil {
		t.Fatal(err)
	}
	if _, h, b := body(t, url+"/api/songs?page=1", nil); h.Get(HeaderCache) != "" || b == first {
		t.Fatalf("after invalidation: %q %v", b, h)
	}
	if up.n.Load() != before+1 {
		t.Fatalf("the upstream saw %d requests after the invalidation, want 1", up.n.Load()-before)
	}
	st := g.snapshot()
	if fs := st.Services[0].Fleet; !fs.Cache || fs.CacheHit < 2 || fs.CacheMiss < 3 {
		t.Fatalf("cache counts %+v", fs)
	}
}

func TestProxyCacheKeepsOutPrivateAnswers(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		status int32
		reqHdr http.Header
	}{
		{"no-store", http.Header{"Cache-Control": {"no-store"}}, 0, nil},
		{"private", http.Header{"Cache-Control": {"private, max-age=60"}}, 0, nil},
		{"cookie", http.Header{"Set-Cookie": {"session=1"}}, 0, nil},
		{"vary outside the key", http.Header{"Vary": {"Cookie"}}, 0, nil},
		{"500", nil, 500, nil},
		{"credentials", nil, 0, http.Header{"Authorization": {"Bearer x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &counting{name: "up", header: tt.header}
			up.status.Store(tt.status)
			_, url, _ := oneGateway(t, up, func(s *config.Service) {
				s.Cache = &config.Cache{TTL: config.Duration(time.Minute), Key: []string{"path"}}
				s.Failover.Enabled = new(bool)
			})
			for range 3 {
				if _, h, _ := body(t, url+"/api/songs", tt.reqHdr); h.Get(HeaderCache) != "" {
					t.Fatal("served from the cache")
				}
				time.Sleep(20 * time.Millisecond) // a store, if any, had time to land
			}
			if up.n.Load() != 3 {
				t.Fatalf("the upstream saw %d of 3 requests", up.n.Load())
			}
		})
	}
}

// TestDRCacheServesThroughOutage: answers recorded while the hosts are up are served, by
// generalized signature, once every host of both centers is down: sz's local attempt fails,
// its failover to sh fails too (sh's hosts are down), and the DR cache answers.
func TestDRCacheServesThroughOutage(t *testing.T) {
	szUp, shUp := &counting{name: "sz-weather"}, &counting{name: "sh-weather"}
	szHost, shHost := newBackend(t, "sz-a", withHandler(szUp)), newBackend(t, "sh-a", withHandler(shUp))
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	var gws []*Gateway
	for _, center := range []string{"sz", "sh"} {
		cfg := testConfig(center, addrs)
		svc := addService(cfg, "songs", 2, map[string][]string{"sz": {szHost.addr}, "sh": {shHost.addr}}, false)
		svc.DRCache = &config.DRCache{Key: []string{"path", "query:city", "query:lat~0.01"}, TTL: config.Duration(time.Hour)}
		ln := map[string]net.Listener{"sz": szLn, "sh": shLn}[center]
		g, _ := startGateway(t, cfg, ln)
		gws = append(gws, g)
	}
	g, url := gws[0], "http://"+addrs["sz"]
	_, _, recorded := body(t, url+"/api/songs?city=sz&lat=22.5431", nil)
	// The record is written in the background; the outage starts once it is in.
	eventually(t, 5*time.Second, "the DR record", func() bool {
		return g.state.Load().services["songs"].fleet.dr.Stats().Records > 0
	})
	szHost.kill()
	shHost.kill()
	status, h, b := body(t, url+"/api/songs?city=sz&lat=22.5488", nil) // the same 0.01° block
	if status != 200 || h.Get(HeaderDegraded) != "dr-cache" || b != recorded || h.Get(HeaderCenter) != "sz" {
		t.Fatalf("during the outage: %d %q %v; want 200 %q from the DR cache", status, b, h, recorded)
	}
	if status, h, _ := body(t, url+"/api/songs?city=bj&lat=22.5431", nil); status < 500 || h.Get(HeaderDegraded) != "" {
		t.Fatalf("an unseen signature: %d %v; want the outage's error", status, h)
	}
	fs := g.snapshot().Services[0].Fleet
	if fs.DRHit != 1 || fs.DRMiss != 1 {
		t.Fatalf("DR counts %+v", fs)
	}
	if got := outcomeCount(g, "songs", metrics.OutcomeDRCache); got != 1 {
		t.Fatalf("dr_cache outcomes = %d", got)
	}
}

// TestFallbackUpstreams: the fallback pool answers after the local host and the failover
// failed, and is counted apart.
func TestFallbackUpstreams(t *testing.T) {
	up := &counting{name: "current"}
	up.status.Store(503)
	old := &counting{name: "delayed"}
	fb := newBackend(t, "fallback", withHandler(old))
	g, url, _ := oneGateway(t, up, func(s *config.Service) { s.FallbackUpstreams = []string{fb.addr} })
	status, _, b := body(t, url+"/api/songs", nil)
	if status != 200 || !strings.HasPrefix(b, "delayed 1") {
		t.Fatalf("GET: %d %q; want the fallback's answer", status, b)
	}
	if _, _, code := postBody(t, url+"/api/songs"); code == 200 {
		t.Fatal("a POST (not idempotent) was sent to the fallback")
	}
	fs := g.snapshot().Services[0].Fleet
	if fs.FallbackOK != 1 || old.n.Load() != 1 {
		t.Fatalf("fallback counts %+v, fallback requests %d", fs, old.n.Load())
	}
	if got := outcomeCount(g, "songs", metrics.OutcomeFallback); got != 1 {
		t.Fatalf("fallback outcomes = %d", got)
	}
}

func postBody(t *testing.T, url string) (string, http.Header, int) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.Header, resp.StatusCode
}

func outcomeCount(g *Gateway, service, outcome string) uint64 {
	svc := g.state.Load().services[service]
	return svc.counts[outcomeIndex(outcome)].Load()
}
