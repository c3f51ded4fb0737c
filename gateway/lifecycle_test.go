package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// Lifecycle: reload under load, refused reloads, graceful shutdown, and the run-time switches.

// soloConfig is a valid config for center sz alone (no remote center, so no failover), whose
// gateway listens on addr.
func soloConfig(addr string) *config.Config {
	cfg := testConfig("sz", map[string]string{"sz": addr})
	delete(cfg.Centers, "sh")
	return cfg
}

// soloGateway starts a gateway for center sz alone, with its config shaped by edit, and returns
// it with its logs and base URL.
func soloGateway(t *testing.T, edit func(cfg *config.Config)) (*Gateway, *logBuffer, string) {
	t.Helper()
	ln := listen(t)
	cfg := soloConfig(ln.Addr().String())
	edit(cfg)
	g, logs := startGateway(t, cfg, ln)
	return g, logs, "http://" + ln.Addr().String()
}

// serviceStatus is the named service's part of g.Status().
func serviceStatus(t *testing.T, g *Gateway, name string) ServiceStatus {
	t.Helper()
	for _, s := range g.Status().Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("status lists no service %q", name)
	return ServiceStatus{}
}

// fetch sends one request and returns its status, header and body (status 0 on a transport
// error, which fails the test).
func fetch(t *testing.T, method, url string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range header {
		req.Header[k] = vv
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// validated returns cfg after Validate, which Reload expects.
func validated(t *testing.T, cfg *config.Config) *config.Config {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// reloadVariant is the config of TestReloadUnderLoadLosesNothing's variant v: songs never
// changes; albums changes its rate limit and its route's name and methods with every variant;
// odd variants add a service, extra. (The route level is left at 1: a fresh pool's pressure
// estimate starves levels 2–4, which TestHealthyBackendKeepsLevelTwo pins on its own.)
func reloadVariant(addr string, songs, albums []*backend, v int) *config.Config {
	cfg := soloConfig(addr)
	addService(cfg, "songs", 1, map[string][]string{"sz": {songs[0].addr, songs[1].addr}}, false)
	al := addService(cfg, "albums", 1, map[string][]string{"sz": {albums[0].addr, albums[1].addr}}, false)
	al.RateLimit = &config.RateLimit{Limit: 10000 + 1000*v, Per: config.Duration(time.Second)}
	cfg.Routes[1].Name = fmt.Sprintf("albums-v%d", v)
	if v%2 == 1 {
		cfg.Routes[1].Methods = []string{"GET", "HEAD", "OPTIONS"}
	}
	if v%2 == 1 {
		addService(cfg, "extra", 2, map[string][]string{"sz": {albums[0].addr}}, false)
	}
	return cfg
}

// TestReloadUnderLoadLosesNothing reloads five times under 200 req/s: no request fails, the
// unchanged service keeps its run-time state (the same *service, a drained host stays drained
// and gets no traffic), and the changed one gets a fresh service each time.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	songs := []*backend{newBackend(t, "songs-a"), newBackend(t, "songs-b")}
	albums := []*backend{newBackend(t, "albums-a"), newBackend(t, "albums-b")}
	ln := listen(t)
	addr := ln.Addr().String()
	g, logs := startGateway(t, reloadVariant(addr, songs, albums, 0), ln)
	base := "http://" + addr
	if err := g.Drain("songs", songs[0].addr, true); err != nil {
		t.Fatal(err)
	}
	songsSvc := g.state.Load().services["songs"]

	const reloads, rate, dur = 5, 200, 3 * time.Second
	served := func() int64 {
		return songs[0].hits.Load() + songs[1].hits.Load() + albums[0].hits.Load() + albums[1].hits.Load()
	}
	stop := make(chan struct{})
	var reloaded atomic.Int32
	var lastReload atomic.Int64 // unix ns
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // reload after every 100 requests served, while the load runs
		defer wg.Done()
		for v := 1; v <= reloads; v++ {
			for served() < int64(100*v) {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			prevAlbums := g.state.Load().services["albums"]
			cfg := reloadVariant(addr, songs, albums, v)
			if err := cfg.Validate(); err != nil {
				t.Errorf("variant %d: %v", v, err)
				return
			}
			if err := g.Reload(cfg); err != nil {
				t.Errorf("reload %d: %v", v, err)
				return
			}
			reloaded.Add(1)
			lastReload.Store(time.Now().UnixNano())
			st := g.state.Load()
			if st.services["songs"] != songsSvc {
				t.Errorf("reload %d: the unchanged service songs got a new *service", v)
			}
			if st.services["albums"] == prevAlbums {
				t.Errorf("reload %d: the changed service albums kept its old *service", v)
			}
			if got := st.services["extra"] != nil; got != (v%2 == 1) {
				t.Errorf("reload %d: service extra present = %v", v, got)
			}
		}
	}()
	var n atomic.Int64
	rs := drive(t, rate, dur, func() *http.Request {
		path := "/api/songs"
		if n.Add(1)%2 == 0 {
			path = "/api/albums"
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		return req
	})
	loadEnd := time.Now()
	close(stop)
	wg.Wait()

	if got := reloaded.Load(); got != reloads || time.Unix(0, lastReload.Load()).After(loadEnd) {
		t.Fatalf("%d reloads happened under load, want %d", got, reloads)
	}
	for _, r := range rs {
		if r.err != nil || r.status != http.StatusOK {
			n := 0
			for _, line := range accessLines(t, logs) {
				if line["status"] != 200.0 && n < 5 {
					t.Logf("failed: %v", line)
					n++
				}
			}
			t.Fatalf("a request failed across reloads: %v", summarize(rs))
		}
	}
	t.Logf("%d requests, all 200, across %d reloads", len(rs), reloads)
	if h := songs[0].hits.Load(); h != 0 {
		t.Errorf("the drained host got %d requests across reloads", h)
	}
	for _, h := range serviceStatus(t, g, "songs").Hosts {
		if h.Addr == songs[0].addr && !h.Drained {
			t.Errorf("songs host %s is no longer drained after the reloads: %+v", h.Addr, h)
		}
	}
	if name := g.Config().Routes[1].Name; name != fmt.Sprintf("albums-v%d", reloads) {
		t.Errorf("route name after the reloads = %q", name)
	}
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/extra", nil); status != http.StatusOK {
		t.Errorf("GET /api/extra, added by the last reload: %d", status)
	}

	// A changed rate limit takes effect at once.
	cfg := reloadVariant(addr, songs, albums, 0)
	cfg.Services["albums"].RateLimit = &config.RateLimit{Limit: 1, Per: config.Duration(time.Minute)}
	if err := g.Reload(validated(t, cfg)); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/albums", nil); status != http.StatusOK {
		t.Fatalf("first request after the limit changed: %d", status)
	}
	if status, h, _ := fetch(t, http.MethodGet, base+"/api/albums", nil); status != http.StatusTooManyRequests ||
		h.Get(HeaderReject) != "rate_limited" || h.Get("Retry-After") != "60" {
		t.Errorf("second request under limit 1/min: %d %q Retry-After %q", status, h.Get(HeaderReject), h.Get("Retry-After"))
	}
	if g.state.Load().services["songs"] != songsSvc {
		t.Error("songs lost its state on the last reload")
	}
}

// TestHealthyBackendKeepsLevelTwo: a backend far below its capacity (100 req/s, under 1 in
// flight) whose latency rises from the loopback round trip to 2 ms is healthy, and a level-2
// route to it must lose nothing. The pool's pressure signal reads such a rise as saturation,
// its Little's-law limit at this traffic is 1, level 2's share of 1 is 0, and every refusal
// extends the pressure cool-down: without a fix the route stays shut while traffic lasts.
func TestHealthyBackendKeepsLevelTwo(t *testing.T) {
	b := newBackend(t, "albums")
	g, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "albums", 2, map[string][]string{"sz": {b.addr}}, false)
	})
	warm := drive(t, 100, time.Second, get(base+"/api/albums"))
	b.delay.Store(int64(2 * time.Millisecond))
	rs := drive(t, 100, 2*time.Second, get(base+"/api/albums"))
	if successRate(warm) < 1 || successRate(rs) < 1 {
		t.Fatalf("level 2 on a healthy backend: %v at loopback latency, then %v at 2 ms; pool %+v",
			summarize(warm), summarize(rs), *serviceStatus(t, g, "albums").Pressure)
	}
}

// TestBadReloadKeepsTheOldConfig: a reload that cannot apply returns an error, and the config
// in force, its routes included, keeps serving.
func TestBadReloadKeepsTheOldConfig(t *testing.T) {
	b := newBackend(t, "songs")
	ln := listen(t)
	addr := ln.Addr().String()
	mk := func() *config.Config {
		cfg := soloConfig(addr)
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
		return cfg
	}
	g, _ := startGateway(t, mk(), ln)
	base := "http://" + addr
	before := g.Config()
	tests := []struct {
		name string
		edit func(*config.Config)
	}{
		{"listen changed", func(c *config.Config) { c.Listen = "127.0.0.1:1" }},
		{"admin listen changed", func(c *config.Config) { c.Admin.Listen = "127.0.0.1:2" }},
		{"tls added", func(c *config.Config) { c.TLS = &config.TLS{Cert: "cert.pem", Key: "key.pem"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mk()
			tt.edit(cfg)
			cfg.Routes = cfg.Routes[:0] // would remove /api/songs if it applied
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			if err := g.Reload(cfg); err == nil {
				t.Fatal("Reload accepted a config it cannot apply")
			}
			if g.Config() != before {
				t.Fatal("the config in force changed after a refused reload")
			}
			if status, _, _ := fetch(t, http.MethodGet, base+"/api/songs", nil); status != http.StatusOK {
				t.Fatalf("old route after a refused reload: %d", status)
			}
		})
	}
}

// reloadYAML is a config file for center sz alone; extraRoute adds a route /api/more.
func reloadYAML(listen, host string, extraRoute bool) string {
	s := fmt.Sprintf(`center: sz
instance: sz-1
listen: %s
admin: {listen: "127.0.0.1:0"}
centers:
  sz: {gateway: "http://%s", primary: true}
services:
  songs:
    upstreams: {sz: ["%s"]}
    timeout: {tavg: 200ms, thwm: 1s, tmax: 2s}
routes:
  - {path: /api/songs, methods: [GET], service: songs}
`, listen, listen, host)
	if extraRoute {
		s += "  - {path: /api/more, methods: [GET], service: songs}\n"
	}
	return s
}

// startFromFile writes a config file for center sz alone, loads it with config.Load and
// starts a gateway from it. It returns the gateway, its base URL and the file's path.
func startFromFile(t *testing.T, b *backend) (*Gateway, string, string) {
	t.Helper()
	ln := listen(t)
	addr := ln.Addr().String()
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(reloadYAML(addr, b.addr, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	g, _ := startGateway(t, cfg, ln)
	return g, "http://" + addr, file
}

// TestReloadFileKeepsServingOnABrokenFile: ReloadFile of a broken file returns the error,
// changes nothing and serving continues; a good file then reloads.
func TestReloadFileKeepsServingOnABrokenFile(t *testing.T) {
	b := newBackend(t, "songs")
	g, base, file := startFromFile(t, b)
	before := g.Config()
	addr := strings.TrimPrefix(base, "http://")
	broken := []struct{ name, yaml string }{
		{"yaml syntax", "center: sz\nservices: [unclosed\n"},
		{"unknown key", reloadYAML(addr, b.addr, false) + "bogus: 1\n"},
		{"empty", ""},
	}
	for _, tt := range broken {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			err := g.ReloadFile()
			if err == nil {
				t.Fatal("ReloadFile accepted a broken file")
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("the error does not name the file: %v", err)
			}
			if g.Config() != before {
				t.Fatal("the config in force changed")
			}
			if status, _, _ := fetch(t, http.MethodGet, base+"/api/songs", nil); status != http.StatusOK {
				t.Fatalf("serving after a refused reload: %d", status)
			}
		})
	}
	if err := os.WriteFile(file, []byte(reloadYAML(addr, b.addr, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.ReloadFile(); err != nil {
		t.Fatalf("ReloadFile of a good file: %v", err)
	}
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/more", nil); status != http.StatusOK {
		t.Fatalf("the route the good file added: %d", status)
	}
}

// TestShutdownFinishesInFlightRequests: requests in flight when Shutdown is called all finish
// with 200 within the grace, Shutdown waits for them, and new connections are refused.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	const n = 20
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	defer open()
	b := newBackend(t, "slow", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a slow backend: it answers once the test lets it, or after 3 s at most
		case <-release:
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "done\n")
	})))
	g, _, base := soloGateway(t, func(cfg *config.Config) {
		cfg.ShutdownGrace = config.Duration(5 * time.Second)
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	addr := g.Addr()

	type answer struct {
		status int
		err    error
	}
	client := &http.Client{Timeout: 10 * time.Second}
	answers := make(chan answer, n)
	for range n {
		go func() {
			resp, err := client.Get(base + "/api/songs")
			if err != nil {
				answers <- answer{err: err}
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, err}
		}()
	}
	eventually(t, 5*time.Second, "every request to reach the backend", func() bool { return b.hits.Load() == n })

	shutdownErr := make(chan error, 1)
	start := time.Now()
	go func() { shutdownErr <- g.Shutdown(context.Background()) }()
	eventually(t, 2*time.Second, "the listener to refuse connections", func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned (%v) while %d requests were in flight", err, n)
	default:
	}
	open()
	for range n {
		if a := receive(t, answers, "an in-flight request"); a.err != nil || a.status != http.StatusOK {
			t.Fatalf("an in-flight request ended with %d %v, want 200", a.status, a.err)
		}
	}
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return within the grace after the requests finished")
	}
	t.Logf("shutdown took %v", time.Since(start))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("a new connection was accepted after Shutdown")
	}
	if _, err := client.Get(base + "/api/songs"); err == nil {
		t.Fatal("a request after Shutdown was served")
	}
}

// switchedPair is a primary center sz whose songs host is dead, and a center sh whose host
// serves: every songs request at sz fails locally and may fail over to sh.
type switchedPair struct {
	sz     *Gateway
	szURL  string
	shHost *backend
}

func newSwitchedPair(t *testing.T) *switchedPair {
	t.Helper()
	dead, shHost := newBackend(t, "sz-dead"), newBackend(t, "sh-a")
	dead.kill()
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	hosts := map[string][]string{"sz": {dead.addr}, "sh": {shHost.addr}}
	mk := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		addService(cfg, "songs", 1, hosts, false)
		return cfg
	}
	sz, _ := startGateway(t, mk("sz"), szLn)
	startGateway(t, mk("sh"), shLn)
	return &switchedPair{sz: sz, szURL: "http://" + addrs["sz"], shHost: shHost}
}

// TestRetrySwitchStopsAndResumesFailover: with the global retry switch off (PUT /switches),
// no request fails over; back on, failover resumes.
func TestRetrySwitchStopsAndResumesFailover(t *testing.T) {
	p := newSwitchedPair(t)
	url := p.szURL + "/api/songs"
	failoversUntil := func(what string) {
		t.Helper()
		before := p.shHost.hits.Load()
		eventually(t, 5*time.Second, what, func() bool {
			fetch(t, http.MethodGet, url, nil)
			return p.shHost.hits.Load() > before
		})
	}
	failoversUntil("a request to fail over with the switch on")

	putSwitches(t, p.sz, `{"retry":{"global":false}}`, http.StatusOK)
	before := p.shHost.hits.Load()
	offBefore := scrapeValue(t, p.sz, `bulwark_failovers_total{result="switched_off",service="songs",to="sh"}`)
	const off = 20
	for range off {
		status, h, _ := fetch(t, http.MethodGet, url, nil)
		if status < 500 || h.Get(HeaderCenter) != "sz" {
			t.Fatalf("switch off: %d from %q, want the local failure from sz", status, h.Get(HeaderCenter))
		}
	}
	if got := p.shHost.hits.Load() - before; got != 0 {
		t.Fatalf("%d requests failed over with the global retry switch off", got)
	}
	if got := scrapeValue(t, p.sz, `bulwark_failovers_total{result="switched_off",service="songs",to="sh"}`) - offBefore; got != off {
		t.Errorf("bulwark_failovers_total{result=switched_off} rose by %v, want %d", got, off)
	}

	putSwitches(t, p.sz, `{"retry":{"global":true}}`, http.StatusOK)
	failoversUntil("failover to resume with the switch back on")
}

// TestDegradeSwitch: pass 0 serves the fallback (its status, body and headers, with
// Bulwark-Reject: degraded) without calling the backend, or 503 with Retry-After when the
// service has none; pass 1 restores the service.
func TestDegradeSwitch(t *testing.T) {
	b := newBackend(t, "songs")
	g, _, base := soloGateway(t, func(cfg *config.Config) {
		songs := addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
		songs.Degrade.Fallback = &config.Fallback{Status: http.StatusNonAuthoritativeInfo, Body: `{"items":[]}`,
			Headers: map[string]string{"Content-Type": "application/json", "X-Fallback": "cached"}}
		addService(cfg, "albums", 2, map[string][]string{"sz": {b.addr}}, false)
	})
	for _, path := range []string{"/api/songs", "/api/albums"} {
		if status, _, _ := fetch(t, http.MethodGet, base+path, nil); status != http.StatusOK {
			t.Fatalf("GET %s before degrading: %d", path, status)
		}
	}
	putSwitches(t, g, `{"degrade":{"songs":0,"albums":0}}`, http.StatusOK)
	hits := b.hits.Load()
	tests := []struct {
		name, path, body string
		status           int
		header           map[string]string
	}{
		{"with a fallback", "/api/songs", `{"items":[]}`, http.StatusNonAuthoritativeInfo,
			map[string]string{"Content-Type": "application/json", "X-Fallback": "cached", HeaderReject: "degraded", HeaderCenter: "sz"}},
		{"without a fallback", "/api/albums", "degraded\n", http.StatusServiceUnavailable,
			map[string]string{"Retry-After": "1", HeaderReject: "degraded", HeaderCenter: "sz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := fetch(t, http.MethodGet, base+tt.path, nil)
			if status != tt.status || body != tt.body {
				t.Errorf("got %d %q, want %d %q", status, body, tt.status, tt.body)
			}
			for k, v := range tt.header {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	if got := b.hits.Load() - hits; got != 0 {
		t.Errorf("the backend got %d degraded calls", got)
	}
	putSwitches(t, g, `{"degrade":{"songs":1,"albums":1}}`, http.StatusOK)
	for _, path := range []string{"/api/songs", "/api/albums"} {
		if status, h, _ := fetch(t, http.MethodGet, base+path, nil); status != http.StatusOK || h.Get(HeaderReject) != "" {
			t.Errorf("GET %s after pass 1: %d %q", path, status, h.Get(HeaderReject))
		}
	}
}
