package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/internal/promcheck"
)

// The admin API over its own listener: status, metrics, switches, drain, reload, pprof, token.

// adminCall sends one request to g's admin listener and returns the status, header and body.
// token "" sends no Authorization header.
func adminCall(t *testing.T, g *Gateway, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	if g.AdminAddr() == "" {
		t.Fatal("the gateway has no admin listener")
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+g.AdminAddr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("admin %s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// putSwitches sends PUT /switches with body and checks the status.
func putSwitches(t *testing.T, g *Gateway, body string, want int) []byte {
	t.Helper()
	status, _, b := adminCall(t, g, http.MethodPut, "/switches", "", body)
	if status != want {
		t.Fatalf("PUT /switches %s: %d %s, want %d", body, status, b, want)
	}
	return b
}

// scrapeValue scrapes g's admin /metrics and returns the value of series, written as in the
// text exposition (labels in name order), or 0 when it is absent.
func scrapeValue(t *testing.T, g *Gateway, series string) float64 {
	t.Helper()
	status, _, body := adminCall(t, g, http.MethodGet, "/metrics", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("series %s: %q", series, line)
			}
			return f
		}
	}
	return 0
}

// adminPair is two centers: sz (primary) with songs on hosts a and b and broken on a dead
// host, and sh with one host for both; orders is a write-only service with its host in sz.
type adminPair struct {
	sz, sh       *Gateway
	szURL, shURL string
	a, b, shHost *backend
	dead         *backend
}

func newAdminPair(t *testing.T, token string) *adminPair {
	t.Helper()
	p := &adminPair{a: newBackend(t, "sz-a"), b: newBackend(t, "sz-b"), shHost: newBackend(t, "sh-a"), dead: newBackend(t, "sz-dead")}
	p.dead.kill()
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	mk := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		cfg.Admin.Token = token
		addService(cfg, "songs", 1, map[string][]string{"sz": {p.a.addr, p.b.addr}, "sh": {p.shHost.addr}}, false)
		addService(cfg, "broken", 2, map[string][]string{"sz": {p.dead.addr}, "sh": {p.shHost.addr}}, false)
		addService(cfg, "orders", 1, map[string][]string{"sz": {p.a.addr}}, true)
		return cfg
	}
	p.sz, _ = startGateway(t, mk("sz"), szLn)
	p.sh, _ = startGateway(t, mk("sh"), shLn)
	p.szURL, p.shURL = "http://"+addrs["sz"], "http://"+addrs["sh"]
	return p
}

// traffic sends n songs GETs and, so that a failover and a local retry exist, one broken GET
// (the dead local host fails over to sh; the retry window allows one per period at first) to
// sz; each must be answered 200. Then one request that matches no route.
func (p *adminPair) traffic(t *testing.T, n int) {
	t.Helper()
	for range n {
		if status, _, _ := fetch(t, http.MethodGet, p.szURL+"/api/songs", nil); status != http.StatusOK {
			t.Fatalf("GET /api/songs: %d", status)
		}
	}
	if status, _, _ := fetch(t, http.MethodGet, p.szURL+"/api/broken", nil); status != http.StatusOK {
		t.Fatalf("GET /api/broken (fails over): %d", status)
	}
	if status, _, _ := fetch(t, http.MethodGet, p.szURL+"/nowhere", nil); status != http.StatusNotFound {
		t.Fatalf("GET /nowhere: %d", status)
	}
}

// jsonPath walks a decoded JSON value by object keys and array indexes ("services", "0").
func jsonPath(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				t.Fatalf("/status: no key %q at %s", k, strings.Join(path[:i], "."))
			}
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n >= len(x) {
				t.Fatalf("/status: no index %q at %s (length %d)", k, strings.Join(path[:i], "."), len(x))
			}
			v = x[n]
		default:
			t.Fatalf("/status: %s is %T, not an object or array", strings.Join(path[:i], "."), v)
		}
	}
	return v
}

// TestAdminStatus: GET /status is JSON with the centers, and every service's level, admission
// stats, retry windows and hosts (state, EWMA, error ratio, breaker).
func TestAdminStatus(t *testing.T) {
	p := newAdminPair(t, "")
	p.traffic(t, 20)
	status, h, body := adminCall(t, p.sz, http.MethodGet, "/status", "", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /status: %d %q", status, h.Get("Content-Type"))
	}
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("GET /status is not JSON: %v\n%s", err, body)
	}
	if st["center"] != "sz" || st["instance"] != "sz-1" || st["primary"] != true {
		t.Errorf("center %v instance %v primary %v", st["center"], st["instance"], st["primary"])
	}
	centers := jsonPath(t, st, "centers").([]any)
	if len(centers) != 2 || jsonPath(t, centers, "0", "name") != "sh" || jsonPath(t, centers, "1", "name") != "sz" ||
		jsonPath(t, centers, "1", "self") != true || jsonPath(t, centers, "1", "primary") != true || jsonPath(t, centers, "0", "self") != false {
		t.Errorf("centers: %v", centers)
	}
	services := map[string]any{}
	for _, s := range jsonPath(t, st, "services").([]any) {
		services[jsonPath(t, s, "name").(string)] = s
	}
	if len(services) != 3 {
		t.Fatalf("services: %v", services)
	}
	for name, level := range map[string]float64{"songs": 1, "broken": 2, "orders": 1} {
		if got := jsonPath(t, services[name], "level"); got != level {
			t.Errorf("%s level %v, want %v", name, got, level)
		}
	}
	songs := services["songs"]
	if adm, ok := jsonPath(t, songs, "admission").(map[string]any); !ok || len(adm) == 0 {
		t.Errorf("songs admission: %v", jsonPath(t, songs, "admission"))
	}
	win, ok := jsonPath(t, songs, "retry_windows", "sh").(map[string]any)
	if !ok || len(win) == 0 {
		t.Fatalf("songs retry window toward sh: %v", jsonPath(t, songs, "retry_windows"))
	}
	if w := jsonField(win, "window"); w == nil || w.(float64) < 1 {
		t.Errorf("songs retry window toward sh has no window ≥ 1: %v", win)
	}
	hosts := jsonPath(t, songs, "hosts").([]any)
	if len(hosts) != 2 {
		t.Fatalf("songs hosts: %v", hosts)
	}
	ewma := 0.0
	for i := range hosts {
		hs := jsonPath(t, hosts, strconv.Itoa(i)).(map[string]any)
		for _, key := range []string{"addr", "state", "ewma_ns", "error_ratio", "breaker"} {
			if _, ok := hs[key]; !ok {
				t.Errorf("host %d lacks %q: %v", i, key, hs)
			}
		}
		if hs["state"] != "healthy" || hs["breaker"] != "closed" || hs["error_ratio"] != 0.0 {
			t.Errorf("songs host %v: state %v breaker %v error_ratio %v", hs["addr"], hs["state"], hs["breaker"], hs["error_ratio"])
		}
		ewma += hs["ewma_ns"].(float64)
	}
	if ewma <= 0 {
		t.Errorf("songs hosts have no latency EWMA after traffic: %v", hosts)
	}
	dead := jsonPath(t, services["broken"], "hosts", "0").(map[string]any)
	if dead["error_ratio"].(float64) <= 0 {
		t.Errorf("the dead host has error ratio %v after failed attempts: %v", dead["error_ratio"], dead)
	}
	if jsonPath(t, services["broken"], "counts", metrics.OutcomeFailoverOK) != 1.0 {
		t.Errorf("broken counts: %v", jsonPath(t, services["broken"], "counts"))
	}
}

// jsonField is the value of key in m, matched without regard to case (Go field names without
// json tags come out capitalized), or nil.
func jsonField(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// TestAdminMetrics: after traffic, GET /metrics exports every bulwark_* family and passes
// promtool check metrics.
func TestAdminMetrics(t *testing.T) {
	p := newAdminPair(t, "")
	p.traffic(t, 20)
	status, h, body := adminCall(t, p.sz, http.MethodGet, "/metrics", "", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", status, h.Get("Content-Type"))
	}
	for _, series := range []string{
		`bulwark_failovers_total{result="ok",service="broken",to="sh"}`,
		`bulwark_rejections_total{reason="no_route"}`,
		`bulwark_retry_window{center="sh",service="songs"}`,
		`bulwark_host_state{host="` + p.a.addr + `",service="songs",state="healthy"}`,
	} {
		if !bytes.Contains(body, []byte("\n"+series+" ")) {
			t.Errorf("the scrape lacks %s", series)
		}
	}
	always := slices.DeleteFunc(metrics.Names(), func(n string) bool { return slices.Contains(metrics.FleetNames(), n) })
	promcheck.Check(t, body, always...) // the fleet families come with their features (fleet_test.go)
}

// TestAdminSwitches: GET shows the switches; a valid PUT changes them; a bad PUT is 400,
// names the problem and changes nothing, even the valid parts of its body.
func TestAdminSwitches(t *testing.T) {
	p := newAdminPair(t, "")
	get := func() Switches {
		t.Helper()
		status, _, body := adminCall(t, p.sz, http.MethodGet, "/switches", "", "")
		var sw Switches
		if status != http.StatusOK || json.Unmarshal(body, &sw) != nil || sw.Retry.Global == nil {
			t.Fatalf("GET /switches: %d %s", status, body)
		}
		return sw
	}
	canon := func(sw Switches) string { b, _ := json.Marshal(sw); return string(b) }
	initial := get()
	if !*initial.Retry.Global || len(initial.Retry.Services) != 3 || initial.Degrade["songs"] != 1 || !initial.Retry.Services["songs"] {
		t.Fatalf("initial switches: %s", canon(initial))
	}
	bad := []struct{ name, body, mention string }{
		{"not json", `{"retry":`, "bad switches body"},
		{"wrong type", `{"retry":{"global":"off"}}`, "bad switches body"},
		{"unknown field", `{"retries":{"global":false}}`, "retries"},
		{"unknown retry service", `{"retry":{"services":{"nope":false}}}`, "nope"},
		{"unknown degrade service", `{"degrade":{"nope":0.5}}`, "nope"},
		{"pass above 1", `{"degrade":{"songs":1.5}}`, "pass must be in [0, 1]"},
		{"pass below 0", `{"degrade":{"songs":-0.1}}`, "pass must be in [0, 1]"},
		{"valid parts with a bad pass", `{"retry":{"global":false,"services":{"songs":false}},"degrade":{"broken":0.5,"songs":2}}`, "degrade.songs"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			body := putSwitches(t, p.sz, tt.body, http.StatusBadRequest)
			var e map[string]string
			if json.Unmarshal(body, &e) != nil || !strings.Contains(e["error"], tt.mention) {
				t.Errorf("error body %s does not mention %q", body, tt.mention)
			}
			if got := canon(get()); got != canon(initial) {
				t.Errorf("a refused PUT changed the switches: %s, was %s", got, canon(initial))
			}
		})
	}
	body := putSwitches(t, p.sz, `{"retry":{"services":{"broken":false}},"degrade":{"songs":0.25}}`, http.StatusOK)
	var echoed Switches
	if err := json.Unmarshal(body, &echoed); err != nil {
		t.Fatal(err)
	}
	now := get()
	if canon(echoed) != canon(now) || now.Retry.Services["broken"] || !now.Retry.Services["songs"] ||
		now.Degrade["songs"] != 0.25 || now.Degrade["broken"] != 1 || !*now.Retry.Global {
		t.Fatalf("after a valid PUT: %s (echoed %s)", canon(now), canon(echoed))
	}
	// The per-service retry switch is in force: broken no longer fails over.
	if status, _, _ := fetch(t, http.MethodGet, p.szURL+"/api/broken", nil); status == http.StatusOK {
		t.Error("broken failed over with its retry switch off")
	}
}

// TestAdminDrain: a drained host gets no traffic, an undrained one gets it back, and unknown
// services or hosts are 404.
func TestAdminDrain(t *testing.T) {
	p := newAdminPair(t, "")
	drain := func(svc, host, action string, want int) {
		t.Helper()
		status, _, body := adminCall(t, p.sz, http.MethodPost, "/services/"+svc+"/hosts/"+host+"/"+action, "", "")
		if status != want {
			t.Fatalf("POST %s %s %s: %d %s, want %d", action, svc, host, status, body, want)
		}
	}
	drain("songs", p.b.addr, "drain", http.StatusOK)
	if !serviceHost(t, p.sz, "songs", p.b.addr).Drained {
		t.Fatal("status does not show the host drained")
	}
	before := p.b.hits.Load()
	p.traffic(t, 30)
	if got := p.b.hits.Load() - before; got != 0 {
		t.Fatalf("the drained host got %d requests", got)
	}
	drain("songs", p.b.addr, "undrain", http.StatusOK)
	eventually(t, 5*time.Second, "the undrained host to get traffic", func() bool {
		fetch(t, http.MethodGet, p.szURL+"/api/songs", nil)
		return p.b.hits.Load() > before
	})
	drain("songs", "127.0.0.1:1", "drain", http.StatusNotFound)
	drain("nope", p.b.addr, "drain", http.StatusNotFound)
	drain("songs", "127.0.0.1:1", "undrain", http.StatusNotFound)
	// orders is served by the primary: sh has no host of it to drain.
	status, _, body := adminCall(t, p.sh, http.MethodPost, "/services/orders/hosts/"+p.a.addr+"/drain", "", "")
	if status != http.StatusBadRequest {
		t.Errorf("drain a host of a service without local hosts: %d %s", status, body)
	}
	if status, _, _ := adminCall(t, p.sz, http.MethodGet, "/services/songs/hosts/"+p.b.addr+"/drain", "", ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET on drain: %d, want 405", status)
	}
}

// serviceHost is the named host's status in the named service.
func serviceHost(t *testing.T, g *Gateway, svc, addr string) upstream.HostStatus {
	t.Helper()
	for _, h := range serviceStatus(t, g, svc).Hosts {
		if h.Addr == addr {
			return h
		}
	}
	t.Fatalf("service %s has no host %s", svc, addr)
	return upstream.HostStatus{}
}

// TestAdminReload: POST /reload reloads the config file; a broken file is 400 naming the
// file and the old config keeps serving; a config built in memory cannot be reloaded.
func TestAdminReload(t *testing.T) {
	b := newBackend(t, "songs")
	g, base, file := startFromFile(t, b)
	addr := strings.TrimPrefix(base, "http://")
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/more", nil); status != http.StatusNotFound {
		t.Fatalf("GET /api/more before the reload: %d", status)
	}

	if err := os.WriteFile(file, []byte("center: sz\nroutes: {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, _, body := adminCall(t, g, http.MethodPost, "/reload", "", "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), filepath.Base(file)) {
		t.Errorf("POST /reload of a broken file: %d %s", status, body)
	}
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/songs", nil); status != http.StatusOK {
		t.Fatalf("serving after a refused reload: %d", status)
	}

	if err := os.WriteFile(file, []byte(reloadYAML(addr, b.addr, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	status, _, body = adminCall(t, g, http.MethodPost, "/reload", "", "")
	var res map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &res) != nil || res["reloaded"] != true || res["file"] != file {
		t.Fatalf("POST /reload: %d %s", status, body)
	}
	if status, _, _ := fetch(t, http.MethodGet, base+"/api/more", nil); status != http.StatusOK {
		t.Fatalf("GET /api/more after the reload: %d", status)
	}
	if got := g.Status().ConfigFile; got != file {
		t.Errorf("status config_file %q, want %q", got, file)
	}

	mem, _, _ := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	status, _, body = adminCall(t, mem, http.MethodPost, "/reload", "", "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "not loaded from a file") {
		t.Errorf("POST /reload of an in-memory config: %d %s", status, body)
	}
}

// TestAdminPprof: the Go profiles answer on the admin listener.
func TestAdminPprof(t *testing.T) {
	b := newBackend(t, "songs")
	g, _, _ := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
		"/debug/pprof/symbol":            "num_symbols",
	} {
		status, _, body := adminCall(t, g, http.MethodGet, path, "", "")
		if status != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, status, want)
		}
	}
}

// TestAdminToken: with admin.token set, every endpoint wants "Authorization: Bearer <token>":
// none or a wrong one is 401 with WWW-Authenticate, the right one is served.
func TestAdminToken(t *testing.T) {
	const token = "s3cret-token"
	b := newBackend(t, "songs")
	g, _, _ := soloGateway(t, func(cfg *config.Config) {
		cfg.Admin.Token = token
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	endpoints := []struct{ method, path, body string }{
		{http.MethodGet, "/status", ""},
		{http.MethodGet, "/metrics", ""},
		{http.MethodGet, "/switches", ""},
		{http.MethodPut, "/switches", `{}`},
		{http.MethodPost, "/services/songs/hosts/" + b.addr + "/undrain", ""},
		{http.MethodGet, "/debug/pprof/", ""},
	}
	auths := []struct {
		name, header string
		want         int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer wrong", http.StatusUnauthorized},
		{"prefix of the token", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"token plus more", "Bearer " + token + "x", http.StatusUnauthorized},
		{"not bearer", "Basic " + token, http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, a := range auths {
		t.Run(a.name, func(t *testing.T) {
			for _, e := range endpoints {
				req, _ := http.NewRequest(e.method, "http://"+g.AdminAddr()+e.path, strings.NewReader(e.body))
				if a.header != "" {
					req.Header.Set("Authorization", a.header)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != a.want {
					t.Errorf("%s %s: %d, want %d", e.method, e.path, resp.StatusCode, a.want)
				}
				if a.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer (%q)", e.method, e.path, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	t.Run("validation", func(t *testing.T) {
		cfg := soloConfig("127.0.0.1:0")
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
		cfg.Admin.Listen = "0.0.0.0:0"
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "admin.token") {
			t.Errorf("a non-loopback admin listener without a token: %v", err)
		}
		cfg.Admin.Token = token
		if err := cfg.Validate(); err != nil {
			t.Errorf("a non-loopback admin listener with a token: %v", err)
		}
	})
}
