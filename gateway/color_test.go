package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/gateway/config"
)

// colorToken is the color token of these tests' gateways.
const colorToken = "tok-0123456789abcdef"

// colorSeen records the headers of every request a backend received.
type colorSeen struct {
	name string
	mu   sync.Mutex
	reqs []http.Header
}

func (s *colorSeen) last() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil
	}
	return s.reqs[len(s.reqs)-1]
}

func (s *colorSeen) count() (colored, plain int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.reqs {
		if h.Get(color.Header) != "" {
			colored++
		} else {
			plain++
		}
	}
	return colored, plain
}

// colorBackend is a backend that records what it receives and names itself in X-Backend.
func colorBackend(t *testing.T, name string) (*backend, *colorSeen) {
	t.Helper()
	seen := &colorSeen{name: name}
	b := newBackend(t, name, withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.mu.Lock()
		seen.reqs = append(seen.reqs, r.Header.Clone())
		seen.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name+"\n")
	})))
	return b, seen
}

// colorGateway is a solo gateway with songs (shadow hosts), charts (passthrough, any method)
// and albums (no shadow), and the color token; trusted lists color.trusted_cidrs.
type colorGateway struct {
	g                                         *Gateway
	url                                       string
	songs, songsShadow, charts, albums        *colorSeen
	songsB, songsShadowB, chartsB, albumsB    *backend
	stripped                                  func() float64
	shadowed, passedThrough, rejected, albumR func() float64
}

func newColorGateway(t *testing.T, trusted []string, edit func(cfg *config.Config)) *colorGateway {
	t.Helper()
	cg := &colorGateway{}
	cg.songsB, cg.songs = colorBackend(t, "songs")
	cg.songsShadowB, cg.songsShadow = colorBackend(t, "songs-shadow")
	cg.chartsB, cg.charts = colorBackend(t, "charts")
	cg.albumsB, cg.albums = colorBackend(t, "albums")
	cg.g, _, cg.url = soloGateway(t, func(cfg *config.Config) {
		cfg.Color = config.Color{Token: colorToken, TrustedCIDRs: trusted}
		songs := addService(cfg, "songs", 1, map[string][]string{"sz": {cg.songsB.addr}}, false)
		songs.ShadowUpstreams = map[string][]string{"sz": {cg.songsShadowB.addr}}
		charts := addService(cfg, "charts", 2, map[string][]string{"sz": {cg.chartsB.addr}}, false)
		charts.Shadow = config.ShadowPassthrough
		cfg.Routes[len(cfg.Routes)-1].Methods = nil // any method: passthrough refuses the unsafe ones itself
		addService(cfg, "albums", 2, map[string][]string{"sz": {cg.albumsB.addr}}, false)
		if edit != nil {
			edit(cfg)
		}
	})
	m := cg.g.metrics
	cg.stripped = func() float64 { return testutil.ToFloat64(m.ColorStripped()) }
	cg.shadowed = func() float64 { return testutil.ToFloat64(m.Colored("songs", "shadow")) }
	cg.passedThrough = func() float64 { return testutil.ToFloat64(m.Colored("charts", "passthrough")) }
	cg.rejected = func() float64 { return testutil.ToFloat64(m.Colored("charts", "rejected")) }
	cg.albumR = func() float64 {
		return testutil.ToFloat64(m.Colored("albums", "rejected")) + testutil.ToFloat64(m.Colored("songs", "rejected"))
	}
	return cg
}

func colorHdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1]) // as written: non-canonical keys stay so
	}
	return h
}

func TestColorEntry(t *testing.T) {
	cg := newColorGateway(t, nil, nil)
	tok := config.DefaultColorTokenHeader
	type counts struct{ stripped, shadow, passthrough, rejected float64 }
	tests := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		status     int
		backend    string // X-Backend of the answer; "" = refused by the gateway
		wantColor  string // Bulwark-Color the backend saw
		wantBagg   string // Baggage the backend saw
		wantCounts counts // increments
	}{
		{"uncolored", "GET", "/api/songs", nil, 200, "songs", "", "", counts{}},
		{"untrusted header is stripped", "GET", "/api/songs", colorHdr(color.Header, "stress"), 200, "songs", "", "", counts{stripped: 1}},
		{"untrusted baggage member is stripped, the rest kept", "GET", "/api/songs",
			colorHdr("Baggage", "a=1, bulwark.color=stress;p=1 ,b=2"), 200, "songs", "", "a=1,b=2", counts{stripped: 1}},
		{"baggage with only the color goes", "GET", "/api/songs", colorHdr("Baggage", "Bulwark.Color=stress"), 200, "songs", "", "", counts{stripped: 1}},
		{"baggage without a color passes untouched", "GET", "/api/songs", colorHdr("Baggage", "a=1"), 200, "songs", "", "a=1", counts{}},
		{"wrong token", "GET", "/api/songs", colorHdr(color.Header, "stress", tok, colorToken+"x"), 200, "songs", "", "", counts{stripped: 1}},
		{"token: shadow hosts", "GET", "/api/songs", colorHdr(color.Header, "stress", tok, colorToken), 200, "songs-shadow", "stress", "", counts{shadow: 1}},
		{"token, color in baggage only: set as the header too", "GET", "/api/songs",
			colorHdr("Baggage", "bulwark.color=str%65ss", tok, colorToken), 200, "songs-shadow", "stress", "bulwark.color=str%65ss", counts{shadow: 1}},
		{"token, two header values: the first, alone", "GET", "/api/songs",
			colorHdr(color.Header, "stress", color.Header, "other", tok, colorToken), 200, "songs-shadow", "stress", "", counts{shadow: 1}},
		{"Connection cannot drop a kept color", "GET", "/api/songs",
			colorHdr(color.Header, "stress", "Connection", "Bulwark-Color", tok, colorToken), 200, "songs-shadow", "stress", "", counts{shadow: 1}},
		{"invalid color with a token is stripped", "GET", "/api/songs", colorHdr(color.Header, "bad color!", tok, colorToken), 200, "songs", "", "", counts{stripped: 1}},
		{"empty color with a token is stripped", "GET", "/api/songs", colorHdr(color.Header, "", tok, colorToken), 200, "songs", "", "", counts{stripped: 1}},
		{"underscore spelling is stripped", "GET", "/api/songs", colorHdr("Bulwark_Color", "stress"), 200, "songs", "", "", counts{stripped: 1}},
		{"token header alone is removed, nothing counted", "GET", "/api/songs", colorHdr(tok, colorToken), 200, "songs", "", "", counts{}},
		{"no shadow: refused", "GET", "/api/albums", colorHdr(color.Header, "stress", tok, colorToken), 503, "", "", "", counts{rejected: 1}},
		{"no shadow, untrusted: stripped and served", "GET", "/api/albums", colorHdr(color.Header, "stress"), 200, "albums", "", "", counts{stripped: 1}},
		{"passthrough read", "GET", "/api/charts", colorHdr(color.Header, "stress", tok, colorToken), 200, "charts", "stress", "", counts{passthrough: 1}},
		{"passthrough write: refused", "POST", "/api/charts", colorHdr(color.Header, "stress", tok, colorToken), 503, "", "", "", counts{rejected: 1}},
		{"a gateway's colored request it cannot prove: refused", "GET", "/api/songs",
			colorHdr(color.Header, "stress", HeaderFailover, "sh"), 503, "", "", "", counts{rejected: 1}},
		{"a forwarded write's color it cannot prove: refused", "GET", "/api/songs",
			colorHdr(color.Header, "stress", HeaderInstance, "sh-1"), 503, "", "", "", counts{rejected: 1}},
	}
	seenBy := map[string]*colorSeen{"songs": cg.songs, "songs-shadow": cg.songsShadow, "charts": cg.charts, "albums": cg.albums}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counts{cg.stripped(), cg.shadowed(), cg.passedThrough(), cg.rejected() + cg.albumR()}
			status, h, _ := fetch(t, tt.method, cg.url+tt.path, tt.header)
			got := counts{cg.stripped() - before.stripped, cg.shadowed() - before.shadow,
				cg.passedThrough() - before.passthrough, cg.rejected() + cg.albumR() - before.rejected}
			if status != tt.status || h.Get("X-Backend") != tt.backend {
				t.Fatalf("status %d from %q, want %d from %q", status, h.Get("X-Backend"), tt.status, tt.backend)
			}
			if got != tt.wantCounts {
				t.Errorf("counters moved by %+v, want %+v", got, tt.wantCounts)
			}
			if tt.backend == "" {
				if h.Get(HeaderReject) != "no-shadow" || h.Get("Retry-After") != "60" || h.Get(HeaderCenter) != "sz" {
					t.Fatalf("refusal headers %v", h)
				}
				return
			}
			seen := seenBy[tt.backend].last()
			if v := seen[color.Header]; tt.wantColor == "" && len(v) > 0 || tt.wantColor != "" && (len(v) != 1 || v[0] != tt.wantColor) {
				t.Errorf("backend saw Bulwark-Color %q, want %q", v, tt.wantColor)
			}
			if v := seen.Get("Baggage"); v != tt.wantBagg {
				t.Errorf("backend saw Baggage %q, want %q", v, tt.wantBagg)
			}
			for _, k := range []string{tok, "Bulwark_color"} {
				if _, ok := seen[k]; ok {
					t.Errorf("backend saw %s", k)
				}
			}
		})
	}
}

func TestColorTrustedCIDRs(t *testing.T) {
	gate, err := newColorGate(config.Color{Token: colorToken, TrustedCIDRs: []string{"10.0.0.0/8", "127.0.0.1", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, token string
		want          bool
	}{
		{"10.1.2.3:5000", "", true},
		{"[::ffff:10.1.2.3]:5000", "", true},
		{"127.0.0.1:1", "", true},
		{"127.0.0.2:1", "", false},
		{"[2001:db8::7]:443", "", true},
		{"192.168.0.1:1", "", false},
		{"192.168.0.1:1", colorToken, true},
		{"192.168.0.1:1", colorToken[:len(colorToken)-1], false},
		{"not an address", "", false},
		{"not an address", colorToken, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if got := gate.proves(r, tc.token); got != tc.want {
			t.Errorf("proves(%s, %q) = %v, want %v", tc.remote, tc.token, got, tc.want)
		}
	}
	if _, err := newColorGate(config.Color{TrustedCIDRs: []string{"nope"}}); err == nil {
		t.Error("a bad CIDR in a config built in memory was accepted")
	}
	none, _ := newColorGate(config.Color{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if none.proves(r, "") || none.proves(r, colorToken) || none.tokenHeader != config.DefaultColorTokenHeader {
		t.Error("a gate without token or CIDRs proved a color")
	}
}

// A trusted peer keeps its color without a token; a reload changes who is trusted.
func TestColorTrustedPeerAndReload(t *testing.T) {
	cg := newColorGateway(t, []string{"127.0.0.0/8"}, nil)
	colored := colorHdr(color.Header, "stress")
	if status, h, _ := fetch(t, "GET", cg.url+"/api/songs", colored); status != 200 || h.Get("X-Backend") != "songs-shadow" {
		t.Fatalf("trusted peer: %d from %q", status, h.Get("X-Backend"))
	}
	cfg := *cg.g.Config()
	cfg.Color = config.Color{Token: "another-token-0123456789"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cg.g.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	if status, h, _ := fetch(t, "GET", cg.url+"/api/songs", colored); status != 200 || h.Get("X-Backend") != "songs" {
		t.Fatalf("after the reload the peer is not trusted: %d from %q", status, h.Get("X-Backend"))
	}
	withToken := colorHdr(color.Header, "stress", config.DefaultColorTokenHeader, "another-token-0123456789")
	if status, h, _ := fetch(t, "GET", cg.url+"/api/songs", withToken); status != 200 || h.Get("X-Backend") != "songs-shadow" {
		t.Fatalf("the reloaded token: %d from %q", status, h.Get("X-Backend"))
	}
}

// Many clients at once: every counter and every backend adds up exactly.
func TestColorConcurrentTotals(t *testing.T) {
	cg := newColorGateway(t, nil, nil)
	const workers, each = 8, 25
	kinds := []struct {
		path   string
		header http.Header
	}{
		{"/api/songs", colorHdr(color.Header, "stress", config.DefaultColorTokenHeader, colorToken)}, // shadow
		{"/api/songs", colorHdr(color.Header, "stress")},                                             // stripped
		{"/api/songs", nil}, // plain
		{"/api/albums", colorHdr(color.Header, "stress", config.DefaultColorTokenHeader, colorToken)}, // rejected
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers*each*len(kinds))
	for w := range workers {
		wg.Go(func() {
			client := &http.Client{}
			for i := range each * len(kinds) {
				k := kinds[(i+w)%len(kinds)]
				req, _ := http.NewRequest(http.MethodGet, cg.url+k.path, nil)
				for key, v := range k.header {
					req.Header[key] = v
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	n := float64(workers * each)
	if cg.shadowed() != n || cg.stripped() != n || cg.albumR() != n {
		t.Errorf("shadow %v, stripped %v, rejected %v; want %v each", cg.shadowed(), cg.stripped(), cg.albumR(), n)
	}
	shadowColored, shadowPlain := cg.songsShadow.count()
	prodColored, prodPlain := cg.songs.count()
	albumsColored, albumsPlain := cg.albums.count()
	if shadowColored != int(n) || shadowPlain != 0 || prodColored != 0 || prodPlain != 2*int(n) || albumsColored+albumsPlain != 0 {
		t.Errorf("shadow saw %d colored + %d plain, production %d colored + %d plain, albums %d; want %v, 0, 0, %v, 0",
			shadowColored, shadowPlain, prodColored, prodPlain, albumsColored+albumsPlain, n, 2*n)
	}
}

func TestBaggageColor(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		color  string
		found  bool
		rest   []string
	}{
		{"none", nil, "", false, []string{}},
		{"other members", []string{"a=1,b=2"}, "", false, []string{"a=1,b=2"}},
		{"alone", []string{"bulwark.color=stress"}, "stress", true, []string{}},
		{"with properties and spaces", []string{" a=1 , bulwark.color = stress ; p ; q=2 , b=2"}, "stress", true, []string{"a=1,b=2"}},
		{"case-insensitive key", []string{"BULWARK.COLOR=x"}, "x", true, []string{}},
		{"percent-encoded", []string{"bulwark.color=%73tress"}, "stress", true, []string{}},
		{"bad percent-encoding", []string{"bulwark.color=%zz"}, "", true, []string{}},
		{"second header value", []string{"a=1", "bulwark.color=s2"}, "s2", true, []string{"a=1"}},
		{"first of two", []string{"bulwark.color=one,bulwark.color=two"}, "one", true, []string{}},
		{"a key that only starts alike", []string{"bulwark.colors=x"}, "", false, []string{"bulwark.colors=x"}},
		{"empty members", []string{",,a=1,,"}, "", false, []string{"a=1"}},
		{"no value", []string{"bulwark.color"}, "", true, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, found := baggageColor(tt.values)
			if c != tt.color || found != tt.found {
				t.Errorf("baggageColor = %q, %v; want %q, %v", c, found, tt.color, tt.found)
			}
			if rest := stripBaggage(tt.values); strings.Join(rest, "|") != strings.Join(tt.rest, "|") {
				t.Errorf("stripBaggage = %q, want %q", rest, tt.rest)
			}
		})
	}
}

func FuzzBaggage(f *testing.F) {
	for _, s := range []string{"a=1", "bulwark.color=stress", " a=1 , bulwark.color = s ; p , b=2", "%", ",,=,;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		values := []string{s}
		baggageColor(values)
		rest := stripBaggage(values)
		if _, found := baggageColor(rest); found {
			t.Fatalf("stripBaggage(%q) = %q still holds a color", s, rest)
		}
		if again := stripBaggage(rest); strings.Join(again, "|") != strings.Join(rest, "|") {
			t.Fatalf("stripBaggage is not idempotent on %q: %q then %q", s, rest, again)
		}
	})
}

// benchColorGateway is a gateway without I/O with a shadowed songs service, for the entry's
// cost alone.
func benchColorGateway(tb testing.TB) (*Gateway, *exchange) {
	tb.Helper()
	cfg := testConfig("sz", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	s := addService(cfg, "songs", 1, map[string][]string{"sz": {"127.0.0.1:7001"}}, false)
	s.ShadowUpstreams = map[string][]string{"sz": {"127.0.0.1:7901"}}
	cfg.Color.Token = colorToken
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	g, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)), WithCPU(pinnedCPU(100)))
	if err != nil {
		tb.Fatal(err)
	}
	st := g.state.Load()
	return g, &exchange{st: st, route: st.router.routes[0]}
}

// TestColorEntryAllocs: the entry check costs an uncolored request no allocation, with or
// without a baggage header.
func TestColorEntryAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	g, x := benchColorGateway(t)
	w := &discardResponseWriter{h: http.Header{}}
	for _, h := range []http.Header{{}, {"Baggage": {"a=1,b=2"}}} {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/api/songs", nil)
		r.Header = h
		if n := testing.AllocsPerRun(200, func() { g.colorEntry(w, r, x) }); n != 0 {
			t.Errorf("header %v: %v allocations per uncolored request", h, n)
		}
	}
}

func BenchmarkColorEntry(b *testing.B) {
	g, x := benchColorGateway(b)
	w := &discardResponseWriter{h: http.Header{}}
	token, stress, baggage := []string{colorToken}, []string{"stress"}, []string{"a=1,b=2"}
	for _, bc := range []struct {
		name string
		set  func(h http.Header)
	}{
		{"uncolored", func(http.Header) {}},
		{"baggage_without_color", func(h http.Header) { h["Baggage"] = baggage }},
		{"stripped", func(h http.Header) { h[color.Header] = stress }},
		{"token_shadow", func(h http.Header) { h[color.Header], h[config.DefaultColorTokenHeader] = stress, token }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "http://example.com/api/songs", nil)
			b.ReportAllocs()
			for b.Loop() {
				bc.set(r.Header)
				x.color, x.shadow = "", nil
				g.colorEntry(w, r, x)
			}
		})
	}
}
