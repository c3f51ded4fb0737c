package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/gateway/config"
)

// Where colored requests may and may not go: never the caches, the DR cache or the fallback
// pool; failovers on windows of their own; forwarded writes with their color; not recorded.

// colorTok is the header pair that proves a color in these tests.
var colorTok = []string{config.DefaultColorTokenHeader, colorToken}

func TestColorSkipsCachesAndLastResorts(t *testing.T) {
	fbB, fb := colorBackend(t, "fallback")
	var g *Gateway
	cg := newColorGateway(t, nil, func(cfg *config.Config) {
		songs := cfg.Services["songs"]
		songs.Cache = &config.Cache{Key: []string{"path"}, TTL: config.Duration(time.Minute)}
		songs.DRCache = &config.DRCache{Key: []string{"path"}}
		songs.FallbackUpstreams = []string{fbB.addr}
		cfg.Services["charts"].Cache = &config.Cache{Key: []string{"path"}, TTL: config.Duration(time.Minute)}
	})
	g = cg.g
	stored := func() { // the cache stores run after the answer; wait until none is in flight
		t.Helper()
		eventually(t, 5*time.Second, "cache stores", func() bool { return len(g.keepSem) == 0 })
	}
	colored := colorHdr(append([]string{color.Header, "stress"}, colorTok...)...)
	from := func(path string, h http.Header) (string, http.Header) {
		t.Helper()
		status, rh, _ := fetch(t, "GET", cg.url+path, h)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, rh.Get(HeaderReject))
		}
		return rh.Get("X-Backend"), rh
	}

	// Production fills the cache and is then answered from it.
	if b, _ := from("/api/songs/a", nil); b != "songs" {
		t.Fatalf("first uncolored answer from %q", b)
	}
	stored()
	if _, h := from("/api/songs/a", nil); h.Get(HeaderCache) != "hit" {
		t.Fatal("the second uncolored request was not a cache hit")
	}
	// A colored request is never answered from the cache, and its answer is never stored.
	if b, h := from("/api/songs/a", colored); b != "songs-shadow" || h.Get(HeaderCache) != "" {
		t.Fatalf("colored request answered by %q, Bulwark-Cache %q", b, h.Get(HeaderCache))
	}
	if b, _ := from("/api/songs/b", colored); b != "songs-shadow" {
		t.Fatalf("colored request answered by %q", b)
	}
	stored()
	if b, h := from("/api/songs/b", nil); b != "songs" || h.Get(HeaderCache) != "" {
		t.Fatalf("after a colored request, an uncolored one was answered by %q, Bulwark-Cache %q", b, h.Get(HeaderCache))
	}
	// Passthrough requests skip the cache too.
	from("/api/charts/x", nil)
	stored()
	if b, h := from("/api/charts/x", colored); b != "charts" || h.Get(HeaderCache) != "" {
		t.Fatalf("passthrough request answered by %q, Bulwark-Cache %q", b, h.Get(HeaderCache))
	}

	// With its shadow host dead, a colored request fails: no fallback pool, no DR cache.
	cg.songsShadowB.kill()
	status, h, _ := fetch(t, "GET", cg.url+"/api/songs/a", colored)
	if status < 500 || h.Get(HeaderReject) == "" || h.Get(HeaderDegraded) != "" || h.Get("X-Backend") != "" {
		t.Fatalf("colored request with its shadow host dead: %d, reject %q, degraded %q, backend %q",
			status, h.Get(HeaderReject), h.Get(HeaderDegraded), h.Get("X-Backend"))
	}
	if c, p := fb.count(); c+p != 0 {
		t.Fatalf("the fallback pool got %d requests", c+p)
	}
	if cg.g.state.Load().services["songs"].lastFail.Load() != 0 {
		t.Fatal("a failing shadow host marked the production service failed")
	}
	// Control: the same failure without a color does reach the last resorts.
	cg.songsB.kill()
	if b, _ := from("/api/songs/c", nil); b != "fallback" {
		t.Fatalf("uncolored request with production dead answered by %q, want the fallback pool", b)
	}
}

// colorPair is sz (primary) and sh, both trusting loopback, with songs (production and shadow
// hosts in both centers) and orders (a write service with shadow hosts in sz).
type colorPair struct {
	sz, sh                     *Gateway
	szURL, shURL               string
	szCfg                      *config.Config
	szProd, szShadow, shProd   *backend
	shShadow, ordersShadow     *colorSeen
	szProdSeen, shProdSeen     *colorSeen
	szShadowSeen, ordersProdSn *colorSeen
}

func newColorPair(t *testing.T) *colorPair {
	t.Helper()
	p := &colorPair{}
	p.szProd, p.szProdSeen = colorBackend(t, "sz-prod")
	p.szShadow, p.szShadowSeen = colorBackend(t, "sz-shadow")
	p.shProd, p.shProdSeen = colorBackend(t, "sh-prod")
	var shShadowB, ordersProd, ordersShadow *backend
	shShadowB, p.shShadow = colorBackend(t, "sh-shadow")
	ordersProd, p.ordersProdSn = colorBackend(t, "orders-prod")
	ordersShadow, p.ordersShadow = colorBackend(t, "orders-shadow")
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	mk := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		cfg.Retry.Period = config.Duration(time.Hour) // one period for the whole test: exact window counts
		cfg.Color = config.Color{Token: colorToken, TrustedCIDRs: []string{"127.0.0.0/8"}}
		songs := addService(cfg, "songs", 1, map[string][]string{"sz": {p.szProd.addr}, "sh": {p.shProd.addr}}, false)
		songs.ShadowUpstreams = map[string][]string{"sz": {p.szShadow.addr}, "sh": {shShadowB.addr}}
		orders := addService(cfg, "orders", 1, map[string][]string{"sz": {ordersProd.addr}}, true)
		orders.ShadowUpstreams = map[string][]string{"sz": {ordersShadow.addr}}
		return cfg
	}
	p.szCfg = mk("sz")
	p.sz, _ = startGateway(t, p.szCfg, szLn)
	p.sh, _ = startGateway(t, mk("sh"), shLn)
	p.szURL, p.shURL = "http://"+addrs["sz"], "http://"+addrs["sh"]
	return p
}

// A colored request whose shadow hosts fail fails over to the other center's shadow hosts, on
// retry windows of its own: the production window and the credit stay untouched.
func TestColorShadowFailover(t *testing.T) {
	p := newColorPair(t)
	p.szShadow.kill()
	colored := colorHdr(color.Header, "stress") // loopback is trusted
	status, h, _ := fetch(t, "GET", p.szURL+"/api/songs", colored)
	if status != 200 || h.Get("X-Backend") != "sh-shadow" {
		t.Fatalf("colored failover: %d from %q (%s)", status, h.Get("X-Backend"), h.Get(HeaderReject))
	}
	if v := p.shShadow.last().Get(color.Header); v != "stress" {
		t.Fatalf("sh's shadow host saw color %q", v)
	}
	svc := p.sz.state.Load().services["songs"]
	prod, shadow := svc.windows["sh"].Stats(), svc.shadow.windows["sh"].Stats()
	if prod.Sent != 0 || prod.Local != 0 || shadow.Sent != 1 || shadow.Local != 1 {
		t.Fatalf("production window %+v, shadow window %+v; want the failover on the shadow one only", prod, shadow)
	}
	if svc.lastFail.Load() != 0 {
		t.Fatal("the shadow failure marked the production service failed")
	}
	// The shadow window is spent for this period; the next colored request is refused, and
	// production's own failover budget is whole.
	status, h, _ = fetch(t, "GET", p.szURL+"/api/songs", colored)
	if status < 500 || h.Get("X-Backend") != "" || h.Get(HeaderReject) == "" {
		t.Fatalf("colored request past the shadow window: %d from %q", status, h.Get("X-Backend"))
	}
	p.szProd.kill()
	status, h, _ = fetch(t, "GET", p.szURL+"/api/songs", nil)
	if status != 200 || h.Get("X-Backend") != "sh-prod" {
		t.Fatalf("production failover: %d from %q", status, h.Get("X-Backend"))
	}
	for _, s := range []*colorSeen{p.szProdSeen, p.shProdSeen} {
		if c, _ := s.count(); c != 0 {
			t.Fatalf("%s got %d colored requests", s.name, c)
		}
	}
	if _, plain := p.shShadow.count(); plain != 0 {
		t.Fatalf("sh's shadow host got %d uncolored requests", plain)
	}
}

// A colored write at a non-primary gateway is forwarded with its color to the primary, which
// sends it to its shadow hosts when it trusts the sender, and refuses it when it does not.
func TestColorWriteForwarding(t *testing.T) {
	p := newColorPair(t)
	colored := colorHdr(append([]string{color.Header, "stress"}, colorTok...)...)
	status, h, _ := fetch(t, "POST", p.shURL+"/api/orders", colored)
	if status != 200 || h.Get("X-Backend") != "orders-shadow" {
		t.Fatalf("forwarded colored write: %d from %q", status, h.Get("X-Backend"))
	}
	if seen := p.ordersShadow.last(); seen.Get(color.Header) != "stress" || seen.Get(config.DefaultColorTokenHeader) != "" {
		t.Fatalf("orders' shadow host saw color %q, token header %q", seen.Get(color.Header), seen.Get(config.DefaultColorTokenHeader))
	}
	// sz stops trusting sh: the token never left sh, so sz refuses instead of writing to production.
	cfg := *p.szCfg
	cfg.Color = config.Color{Token: colorToken}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.sz.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	status, h, _ = fetch(t, "POST", p.shURL+"/api/orders", colored)
	if status != http.StatusServiceUnavailable || h.Get(HeaderReject) != "no-shadow" {
		t.Fatalf("forwarded colored write to a primary that does not trust the sender: %d %q", status, h.Get(HeaderReject))
	}
	if c, pl := p.ordersProdSn.count(); c+pl != 0 {
		t.Fatalf("orders' production host got %d requests", c+pl)
	}
}

// The traffic recorder samples real traffic only.
func TestColorNotRecorded(t *testing.T) {
	cg := newColorGateway(t, nil, nil)
	if _, err := cg.g.StartRecorder(RecorderOverrides{Sample: 1, Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	colored := colorHdr(append([]string{color.Header, "stress"}, colorTok...)...)
	for range 3 {
		fetch(t, "GET", cg.url+"/api/songs", colored)
	}
	fetch(t, "GET", cg.url+"/api/songs", nil)
	fetch(t, "GET", cg.url+"/api/songs", colorHdr(color.Header, "stripped")) // stripped: production traffic
	st, _ := cg.g.StopRecorder()
	if st.Lines != 2 {
		t.Fatalf("recorded %d lines, want the 2 uncolored requests", st.Lines)
	}
}
