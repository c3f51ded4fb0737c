package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// unitGateway is a gateway that is never started: its engine answers every attempt 200
// without I/O (the remote center included), and its clock is clk. songs is level 2 with a
// GET route and a POST route /api/songs-post; vip is level 1.
func unitGateway(t testing.TB, clk clock.Clock, change func(*config.Config)) *Gateway {
	t.Helper()
	cfg := testConfig("sz", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	tr := false
	cfg.Log.Access = &tr
	addService(cfg, "songs", 2, map[string][]string{"sz": {"127.0.0.1:7001"}, "sh": {"127.0.0.1:7101"}}, false)
	addService(cfg, "vip", 1, map[string][]string{"sz": {"127.0.0.1:7002"}}, false)
	cfg.Routes = append(cfg.Routes, &config.Route{Path: "/api/songs-post", Methods: []string{"POST"}, Service: "songs"})
	cfg.Faults.MaxPercent = 100
	if change != nil {
		change(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), WithCPU(pinnedCPU(100)), WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	g.fwd = sharedEngine{}
	return g
}

// sharedEngine answers every attempt 200 without I/O, like noIOEngine, but is safe for
// concurrent use (it allocates).
type sharedEngine struct{}

func (sharedEngine) RoundTrip(*forward.Request) (*forward.Response, error) {
	return &forward.Response{Response: &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: -1}}, nil
}

func (sharedEngine) WriteResponse(w http.ResponseWriter, r *forward.Response, set [][2]string, _ []string) error {
	for _, kv := range set {
		w.Header().Set(kv[0], kv[1])
	}
	w.WriteHeader(r.StatusCode)
	return nil
}

func (sharedEngine) Close() {}

// serveOnce sends one request through g and returns the recorder.
func serveOnce(g *Gateway, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)
	return w
}

func TestFaultSpecValidation(t *testing.T) {
	g := unitGateway(t, clock.NewFake(time.Time{}), func(c *config.Config) { c.Faults.MaxPercent = 40 })
	ok := FaultSpec{Service: "songs", Kind: FaultAbort, Percent: 10, TTL: "5m"}
	tests := []struct {
		name    string
		change  func(*FaultSpec)
		wantErr error
		wantMsg string // the field the message must name
	}{
		{"valid abort", func(*FaultSpec) {}, nil, ""},
		{"valid delay", func(s *FaultSpec) { s.Kind, s.Delay = FaultDelay, "20ms" }, nil, ""},
		{"valid route and header", func(s *FaultSpec) { s.Route, s.MatchHeader = "/api/songs", "x-drill: on" }, nil, ""},
		{"no service", func(s *FaultSpec) { s.Service = "" }, ErrBadFault, "service:"},
		{"unknown service", func(s *FaultSpec) { s.Service = "nope" }, ErrBadFault, "service:"},
		{"unknown route", func(s *FaultSpec) { s.Route = "/api/vip" }, ErrBadFault, "route:"},
		{"no kind", func(s *FaultSpec) { s.Kind = "" }, ErrBadFault, "kind:"},
		{"bad kind", func(s *FaultSpec) { s.Kind = "drop" }, ErrBadFault, "kind:"},
		{"delay without delay", func(s *FaultSpec) { s.Kind = FaultDelay }, ErrBadFault, "delay:"},
		{"delay too long", func(s *FaultSpec) { s.Kind, s.Delay = FaultDelay, "2m" }, ErrBadFault, "delay:"},
		{"delay with status", func(s *FaultSpec) { s.Kind, s.Delay, s.Status = FaultDelay, "1s", 500 }, ErrBadFault, "status:"},
		{"abort with delay", func(s *FaultSpec) { s.Delay = "1s" }, ErrBadFault, "delay:"},
		{"abort status 4xx", func(s *FaultSpec) { s.Status = 429 }, ErrBadFault, "status:"},
		{"percent 0", func(s *FaultSpec) { s.Percent = 0 }, ErrBadFault, "percent:"},
		{"percent over the cap", func(s *FaultSpec) { s.Percent = 41 }, ErrBadFault, "percent:"},
		{"no ttl", func(s *FaultSpec) { s.TTL = "" }, ErrBadFault, "ttl:"},
		{"ttl over 1h", func(s *FaultSpec) { s.TTL = "61m" }, ErrBadFault, "ttl:"},
		{"ttl not a duration", func(s *FaultSpec) { s.TTL = "10" }, ErrBadFault, "ttl:"},
		{"bad match_header", func(s *FaultSpec) { s.MatchHeader = "novalue" }, ErrBadFault, "match_header:"},
		{"level 1 refused", func(s *FaultSpec) { s.Service = "vip" }, ErrFaultRefused, "allow_level1"},
		{"level 1 allowed", func(s *FaultSpec) { s.Service, s.AllowLevel1 = "vip", true }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ok
			tt.change(&spec)
			f, err := g.AddFault(spec)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("AddFault(%+v) = %v, want %v", spec, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not name %q", err, tt.wantMsg)
				}
				return
			}
			if len(f.ID) != 8 || f.TTL != "5m0s" || (f.Kind == FaultAbort && f.Status != 503) {
				t.Errorf("fault view %+v", f)
			}
			if err := g.DeleteFault(f.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFaultDisabled(t *testing.T) {
	g := unitGateway(t, nil, func(c *config.Config) { f := false; c.Faults.Enabled = &f })
	if _, err := g.AddFault(FaultSpec{Service: "songs", Kind: FaultAbort, Percent: 1, TTL: "1m"}); !errors.Is(err, ErrFaultsDisabled) {
		t.Fatalf("AddFault with faults disabled: %v", err)
	}
}

// TestFaultExpiresOnTheGatewayClock: a fault hits until its ttl has passed on the gateway's
// clock, then stops and leaves the list, without a request or an admin call to remove it first.
func TestFaultExpiresOnTheGatewayClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	g := unitGateway(t, clk, nil)
	f, err := g.AddFault(FaultSpec{Service: "songs", Kind: FaultAbort, Status: 500, Percent: 100, TTL: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.ExpiresAt.Equal(clk.Now().Add(10 * time.Second)) {
		t.Errorf("expires_at %v, want now+10s", f.ExpiresAt)
	}
	retry := false
	g.switches.SetGlobal(retry) // no failover: the abort answers itself
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 500}, {9*time.Second + 999*time.Millisecond, 500}, {time.Millisecond, 200}, {time.Hour, 200}} {
		clk.Advance(step.advance)
		w := serveOnce(g, http.MethodGet, "http://x/api/songs", nil)
		if w.Code != step.want {
			t.Fatalf("after %v more: %d, want %d", step.advance, w.Code, step.want)
		}
		if hit := w.Header().Get(HeaderFault) == f.ID; hit != (step.want == 500) {
			t.Fatalf("after %v more: Bulwark-Fault %q", step.advance, w.Header().Get(HeaderFault))
		}
	}
	if g.faults.active.Load() != nil || len(g.Faults()) != 0 {
		t.Errorf("an expired fault is still listed: %v", g.Faults())
	}
	if err := g.DeleteFault(f.ID); !errors.Is(err, ErrUnknownFault) {
		t.Errorf("DeleteFault of an expired fault: %v", err)
	}
}

// TestFaultPercent: with an injected rand source, a fault of percent p hits exactly the rolls
// under p/100.
func TestFaultPercent(t *testing.T) {
	g := unitGateway(t, clock.NewFake(time.Time{}), nil)
	g.switches.SetGlobal(false)
	rolls := []float64{0, 0.2, 0.2999, 0.3, 0.5, 0.99}
	var i atomic.Int64
	g.faults.rnd = func() float64 { return rolls[int(i.Add(1)-1)%len(rolls)] }
	if _, err := g.AddFault(FaultSpec{Service: "songs", Kind: FaultAbort, Percent: 30, TTL: "1m"}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range rolls {
		got = append(got, serveOnce(g, http.MethodGet, "http://x/api/songs", nil).Code)
	}
	want := []int{503, 503, 503, 200, 200, 200}
	if !equalInts(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFaultDelayWaitsOnTheClock: a delay fault holds the request until the gateway clock has
// moved by the delay, then the request goes on to the upstream.
func TestFaultDelayWaitsOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	g := unitGateway(t, clk, nil)
	f, err := g.AddFault(FaultSpec{Service: "songs", Kind: FaultDelay, Delay: "2s", Percent: 100, TTL: "1m"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serveOnce(g, http.MethodGet, "http://x/api/songs", nil) }()
	clk.BlockUntil(1)
	clk.Advance(1999 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the request finished before the delay")
	default:
	}
	clk.Advance(time.Millisecond)
	w := receive(t, done, "the delayed answer")
	if w.Code != 200 || w.Header().Get(HeaderFault) != f.ID {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

// TestFaultsConcurrent hammers one gateway with faulted and unfaulted requests while faults
// are added and deleted; every hit is counted exactly once, in the fault and in the metric.
func TestFaultsConcurrent(t *testing.T) {
	g := unitGateway(t, nil, nil)
	f, err := g.AddFault(FaultSpec{Service: "songs", Kind: FaultAbort, Percent: 100, TTL: "1h", MatchHeader: "X-Drill: on"})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var faulted atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h := http.Header{}
				if (w+i)%2 == 0 {
					h.Set("X-Drill", "on")
				}
				if serveOnce(g, http.MethodGet, "http://x/api/songs", h).Header().Get(HeaderFault) == f.ID {
					faulted.Add(1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // churn: other faults come and go, on another service
		defer wg.Done()
		for range 100 {
			o, err := g.AddFault(FaultSpec{Service: "vip", AllowLevel1: true, Kind: FaultAbort, Percent: 1, TTL: "1m"})
			if err != nil {
				t.Error(err)
				return
			}
			_ = g.Faults()
			if err := g.DeleteFault(o.ID); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	const want = workers * each / 2
	if faulted.Load() != want {
		t.Fatalf("faulted %d, want %d", faulted.Load(), want)
	}
	list := g.Faults()
	if len(list) != 1 || list[0].Injected != want {
		t.Fatalf("faults %+v, want one with %d injected", list, want)
	}
}

// TestIdleHooksDoNotAllocate pins the cost of the fault and recorder hooks while neither is
// active: the whole request path stays allocation-free.
func TestIdleHooksDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race to count allocations")
	}
	g := unitGateway(t, nil, nil)
	g.fwd = &noIOEngine{resp: &forward.Response{Response: &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, ContentLength: -1}}}
	req := httptest.NewRequest(http.MethodGet, "http://example.com/api/songs/1", nil)
	w := &discardResponseWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		g.ServeHTTP(w, req)
	})
	if allocs != 0 || w.code != 200 {
		t.Fatalf("%v allocs per request (status %d), want 0", allocs, w.code)
	}
}

// FuzzFaultSpec feeds POST /faults bodies through decoding and validation: no panic, and an
// accepted fault is within every guard.
func FuzzFaultSpec(f *testing.F) {
	for _, s := range []string{
		`{"service":"songs","kind":"abort","percent":10,"ttl":"5m"}`,
		`{"service":"songs","kind":"delay","delay":"200ms","percent":50,"ttl":"1h","match_header":"X-Drill: on"}`,
		`{"service":"vip","kind":"abort","status":502,"percent":1,"ttl":"1s","allow_level1":true,"route":"/api/vip"}`,
		`{"service":"songs","kind":"abort","percent":1e308,"ttl":"-1s"}`,
		`{"service":"songs"}{}`, `[]`, `{"x":1}`,
	} {
		f.Add(s)
	}
	g := unitGateway(f, clock.NewFake(time.Time{}), func(c *config.Config) { c.Faults.MaxPercent = 50 })
	st := g.state.Load()
	f.Fuzz(func(t *testing.T, body string) {
		spec, err := decodeFaultSpec(strings.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrBadFault) {
				t.Fatalf("decode error %v is not ErrBadFault", err)
			}
			return
		}
		ft, err := newFault(spec, st)
		if err != nil {
			if !errors.Is(err, ErrBadFault) && !errors.Is(err, ErrFaultRefused) {
				t.Fatalf("validation error %v matches no sentinel", err)
			}
			return
		}
		if !(ft.percent > 0 && ft.percent <= 50) || ft.expires <= 0 || ft.expires > MaxFaultTTL {
			t.Fatalf("accepted out of bounds: %+v", ft.view)
		}
		switch ft.kind {
		case FaultDelay:
			if ft.delay <= 0 || ft.delay > MaxFaultDelay {
				t.Fatalf("accepted delay %v", ft.delay)
			}
		case FaultAbort:
			if ft.status < 500 || ft.status > 599 {
				t.Fatalf("accepted status %d", ft.status)
			}
		default:
			t.Fatalf("accepted kind %q", ft.kind)
		}
		if g.state.Load().services[spec.Service].level == 1 && !spec.AllowLevel1 {
			t.Fatal("accepted a level-1 service without allow_level1")
		}
		if _, err := json.Marshal(ft.view); err != nil {
			t.Fatal(err)
		}
	})
}

// faultPair is two centers: sz allows faults on up to 100% of requests, sh keeps the default
// cap of 50%. songs (level 2) has a host in each center, vip (level 1) one in sz.
type faultPair struct {
	sz, sh       *Gateway
	szURL        string
	szHost, shHo *backend
	mk           func(center string) *config.Config
}

func newFaultPair(t *testing.T) *faultPair {
	t.Helper()
	p := &faultPair{szHost: newBackend(t, "sz-a"), shHo: newBackend(t, "sh-a")}
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	p.mk = func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		addService(cfg, "songs", 2, map[string][]string{"sz": {p.szHost.addr}, "sh": {p.shHo.addr}}, false)
		addService(cfg, "vip", 1, map[string][]string{"sz": {p.szHost.addr}, "sh": {p.shHo.addr}}, false)
		if center == "sz" {
			cfg.Faults.MaxPercent = 100
		}
		return cfg
	}
	p.sz, _ = startGateway(t, p.mk("sz"), szLn)
	p.sh, _ = startGateway(t, p.mk("sh"), shLn)
	p.szURL = "http://" + addrs["sz"]
	return p
}

// postFault POSTs body to g's /faults and checks the status; on 201 it returns the fault.
func postFault(t *testing.T, g *Gateway, body string, want int) (Fault, string) {
	t.Helper()
	status, _, b := adminCall(t, g, http.MethodPost, "/faults", "", body)
	if status != want {
		t.Fatalf("POST /faults %s: %d %s, want %d", body, status, b, want)
	}
	var f Fault
	if status == http.StatusCreated {
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
	}
	return f, string(b)
}

// TestFaultAdminAPI drives faults through the admin API of real gateways.
func TestFaultAdminAPI(t *testing.T) {
	p := newFaultPair(t)

	t.Run("guards", func(t *testing.T) {
		tests := []struct {
			name, body string
			g          *Gateway
			status     int
			field      string
		}{
			{"level 1 refused", `{"service":"vip","kind":"abort","percent":10,"ttl":"1m"}`, p.sz, 403, "allow_level1"},
			{"percent over the default cap", `{"service":"songs","kind":"abort","percent":60,"ttl":"1m"}`, p.sh, 400, "percent"},
			{"percent over 100", `{"service":"songs","kind":"abort","percent":101,"ttl":"1m"}`, p.sz, 400, "percent"},
			{"ttl over 1h", `{"service":"songs","kind":"abort","percent":10,"ttl":"2h"}`, p.sz, 400, "ttl"},
			{"ttl missing", `{"service":"songs","kind":"abort","percent":10}`, p.sz, 400, "ttl"},
			{"unknown field", `{"service":"songs","kind":"abort","percent":10,"ttl":"1m","colour":1}`, p.sz, 400, "colour"},
			{"unknown service", `{"service":"nope","kind":"abort","percent":10,"ttl":"1m"}`, p.sz, 400, "service"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, body := postFault(t, tt.g, tt.body, tt.status)
				if !strings.Contains(body, tt.field) {
					t.Errorf("answer %s does not name %s", body, tt.field)
				}
			})
		}
		f, _ := postFault(t, p.sz, `{"service":"vip","kind":"delay","delay":"1ms","percent":10,"ttl":"1m","allow_level1":true}`, 201)
		if status, _, _ := adminCall(t, p.sz, http.MethodDelete, "/faults/"+f.ID, "", ""); status != 200 {
			t.Fatalf("DELETE: %d", status)
		}
	})

	t.Run("delay adds latency", func(t *testing.T) {
		f, _ := postFault(t, p.sz, `{"service":"songs","kind":"delay","delay":"300ms","percent":100,"ttl":"1m"}`, 201)
		defer adminCall(t, p.sz, http.MethodDelete, "/faults/"+f.ID, "", "")
		start := time.Now()
		status, h, body := fetch(t, http.MethodGet, p.szURL+"/api/songs", nil)
		took := time.Since(start)
		if status != 200 || h.Get(HeaderFault) != f.ID || !strings.HasPrefix(body, "sz-a") {
			t.Fatalf("%d %q %q", status, h.Get(HeaderFault), body)
		}
		if took < 300*time.Millisecond || took > 3*time.Second {
			t.Fatalf("took %v, want 300ms plus a little", took)
		}
	})

	t.Run("abort fails over, or answers itself", func(t *testing.T) {
		f, _ := postFault(t, p.sz, `{"service":"songs","kind":"abort","status":500,"percent":100,"ttl":"1m","match_header":"X-Drill: on"}`, 201)
		defer adminCall(t, p.sz, http.MethodDelete, "/faults/"+f.ID, "", "")
		drill := http.Header{"X-Drill": {"on"}}
		status, h, body := fetch(t, http.MethodGet, p.szURL+"/api/songs", nil)
		if status != 200 || h.Get(HeaderFault) != "" || !strings.HasPrefix(body, "sz-a") {
			t.Fatalf("a request without the header: %d %q %q", status, h.Get(HeaderFault), body)
		}
		status, h, body = fetch(t, http.MethodGet, p.szURL+"/api/songs", drill)
		if status != 200 || h.Get(HeaderFault) != f.ID || h.Get(HeaderCenter) != "sz" || !strings.HasPrefix(body, "sh-a") {
			t.Fatalf("the faulted request did not fail over: %d %v %q", status, h, body)
		}
		putSwitches(t, p.sz, `{"retry":{"global":false}}`, 200)
		defer putSwitches(t, p.sz, `{"retry":{"global":true}}`, 200)
		status, h, _ = fetch(t, http.MethodGet, p.szURL+"/api/songs", drill)
		if status != 500 || h.Get(HeaderFault) != f.ID || h.Get(HeaderCenter) != "sz" || h.Get(HeaderReject) != "fault_injected" {
			t.Fatalf("abort without failover: %d %v", status, h)
		}
		if got := scrapeValue(t, p.sz, `bulwark_faults_injected_total{kind="abort",service="songs"}`); got != 2 {
			t.Errorf("bulwark_faults_injected_total = %v, want 2", got)
		}
		if got := scrapeValue(t, p.sz, `bulwark_requests_total{center="sz",code="500",level="2",outcome="upstream_error",route="/api/songs",service="songs"}`); got != 1 {
			t.Errorf("the answered abort counted %v upstream_error, want 1", got)
		}
	})

	t.Run("list, delete, expiry", func(t *testing.T) {
		short, _ := postFault(t, p.sz, `{"service":"songs","kind":"abort","percent":100,"ttl":"1s","match_header":"X-Short: 1"}`, 201)
		long, _ := postFault(t, p.sz, `{"service":"songs","kind":"abort","percent":100,"ttl":"1m","match_header":"X-Long: 1"}`, 201)
		status, _, b := adminCall(t, p.sz, http.MethodGet, "/faults", "", "")
		var list struct{ Faults []Fault }
		if err := json.Unmarshal(b, &list); status != 200 || err != nil || len(list.Faults) != 2 ||
			list.Faults[0].ID != short.ID || list.Faults[1].ID != long.ID {
			t.Fatalf("GET /faults: %d %s", status, b)
		}
		if status, _, _ := adminCall(t, p.sz, http.MethodDelete, "/faults/"+long.ID, "", ""); status != 200 {
			t.Fatalf("DELETE: %d", status)
		}
		if status, _, _ := adminCall(t, p.sz, http.MethodDelete, "/faults/"+long.ID, "", ""); status != 404 {
			t.Fatalf("second DELETE: %d, want 404", status)
		}
		if _, h, _ := fetch(t, http.MethodGet, p.szURL+"/api/songs", http.Header{"X-Long": {"1"}}); h.Get(HeaderFault) != "" {
			t.Fatal("a deleted fault still hits")
		}
		eventually(t, 5*time.Second, "the 1s fault to expire", func() bool {
			_, h, _ := fetch(t, http.MethodGet, p.szURL+"/api/songs", http.Header{"X-Short": {"1"}})
			return h.Get(HeaderFault) == ""
		})
		if _, _, b := adminCall(t, p.sz, http.MethodGet, "/faults", "", ""); !strings.Contains(string(b), `"faults": []`) {
			t.Fatalf("GET /faults after expiry: %s", b)
		}
	})

	t.Run("reload keeps faults of services that remain", func(t *testing.T) {
		keep, _ := postFault(t, p.sz, `{"service":"songs","kind":"delay","delay":"1ms","percent":1,"ttl":"1m"}`, 201)
		postFault(t, p.sz, `{"service":"vip","kind":"delay","delay":"1ms","percent":1,"ttl":"1m","allow_level1":true}`, 201)
		cfg := p.mk("sz")
		delete(cfg.Services, "vip")
		cfg.Routes = cfg.Routes[:1]
		if err := p.sz.Reload(validated(t, cfg)); err != nil {
			t.Fatal(err)
		}
		if list := p.sz.Faults(); len(list) != 1 || list[0].ID != keep.ID {
			t.Fatalf("after reload: %+v, want only %s", list, keep.ID)
		}
		off := false
		cfg = p.mk("sz")
		cfg.Faults.Enabled = &off
		if err := p.sz.Reload(validated(t, cfg)); err != nil {
			t.Fatal(err)
		}
		if list := p.sz.Faults(); len(list) != 0 {
			t.Errorf("faults still active after a reload that disables them: %+v", list)
		}
		for _, call := range [][2]string{{http.MethodGet, "/faults"}, {http.MethodPost, "/faults"}, {http.MethodDelete, "/faults/" + keep.ID}} {
			status, _, b := adminCall(t, p.sz, call[0], call[1], "", `{}`)
			if status != http.StatusForbidden || !strings.Contains(string(b), "disabled in the config") {
				t.Errorf("%s %s with faults disabled: %d %s", call[0], call[1], status, b)
			}
		}
	})
}
