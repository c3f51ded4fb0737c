package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGateway is a real HTTP server that answers like a gateway's proxy and admin API: every
// proxied request gets status code, counted in /status under songs (level 1).
type fakeGateway struct {
	code    atomic.Int64
	ok, bad atomic.Uint64
	mu      sync.Mutex
	faults  map[string]bool
	nextID  int
	// refuseFrom: POST /faults answers 400 from this fault on (0 = never).
	refuseFrom int
	deleted    []string
	proxy      *httptest.Server
	admin      *httptest.Server
}

func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{faults: map[string]bool{}}
	g.code.Store(200)
	g.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := int(g.code.Load())
		if c == 200 {
			g.ok.Add(1)
		} else {
			g.bad.Add(1)
			w.Header().Set("Bulwark-Reject", "upstream_error")
		}
		w.WriteHeader(c)
	}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"services":[{"name":"songs","level":1,"counts":{"ok":%d,"upstream_error":%d},"hosts":[{"addr":"127.0.0.1:1","state":"healthy"}]}]}`, g.ok.Load(), g.bad.Load())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "bulwark_failovers_total{result=\"ok\",service=\"songs\",to=\"sh\"} %d\n", g.bad.Load())
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.refuseFrom > 0 && g.nextID+1 >= g.refuseFrom {
			http.Error(w, "percent: above faults.max_percent", http.StatusBadRequest)
			return
		}
		g.nextID++
		id := fmt.Sprintf("f%d", g.nextID)
		g.faults[id] = true
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"id": id})
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		id := r.PathValue("id")
		if !g.faults[id] {
			http.NotFound(w, r)
			return
		}
		delete(g.faults, id)
		g.deleted = append(g.deleted, id)
	})
	g.admin = httptest.NewServer(mux)
	t.Cleanup(func() { g.proxy.Close(); g.admin.Close() })
	return g
}

func (g *fakeGateway) active() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.faults)
}

func fakeDrill(t *testing.T, g *fakeGateway, guards, expect string, dur string) *Drill {
	t.Helper()
	src := fmt.Sprintf(`name: fake
gateways:
  gw: {url: %q, admin: %q}
guards: %s
steps:
  - name: s
    faults:
      - {gateway: gw, fault: {service: songs, kind: abort, percent: 10}}
      - {gateway: gw, fault: {service: songs, kind: delay, delay: 1ms, percent: 10}}
    load:
      rate: 100
      duration: %s
      targets: [{name: songs, gateway: gw, path: /api/songs}]
    expect:
%s`, g.proxy.URL, g.admin.URL, guards, dur, expect)
	d, err := Parse("fake.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRunChecklistAndRollback(t *testing.T) {
	g := newFakeGateway(t)
	d := fakeDrill(t, g, "{}", `      - success: {target: songs, min: 99%}
      - success: {level: 1, min: 99%}
      - p99: {max: 1s}
      - retry_amplification: {max: 0}
      - rejects: {reason: upstream_error, max: 0%}
      - success: {service: songs, min: 100%, gateways: [gw]}
`, "600ms")
	res, err := Run(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = res.WriteText(&b)
	if !res.Passed() || len(res.Steps[0].Checks) != 6 {
		t.Fatalf("want a passing 6-check list:\n%s", b.String())
	}
	if g.active() != 0 || len(g.deleted) != 2 {
		t.Errorf("faults left %d, deleted %v", g.active(), g.deleted)
	}
	var js strings.Builder
	if err := res.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"passed": true`) {
		t.Errorf("json: %v %s", err, js.String())
	}
}

func TestRunFailedCheck(t *testing.T) {
	g := newFakeGateway(t)
	g.code.Store(503)
	d := fakeDrill(t, g, "{}", "      - success: {target: songs, min: 99%}\n      - retry_amplification: {max: 0.5}\n", "500ms")
	res, _ := Run(context.Background(), d, Options{})
	if res.Passed() || res.Failed() != 2 || res.Aborted != "" {
		t.Fatalf("want 2 failed checks, no abort: %+v", res)
	}
	if g.active() != 0 {
		t.Errorf("%d faults left", g.active())
	}
}

func TestRunGuardAborts(t *testing.T) {
	g := newFakeGateway(t)
	g.code.Store(503)
	d := fakeDrill(t, g, "{level1_success: 90%, breaches: 2, interval: 100ms}", "      - p99: {max: 1s}\n", "20s")
	start := time.Now()
	res, _ := Run(context.Background(), d, Options{})
	if res.Aborted == "" || !strings.Contains(res.Aborted, "level-1 success") {
		t.Fatalf("want an abort by the level-1 guard, got %+v", res)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("abort took %s", el)
	}
	if g.active() != 0 || len(res.Steps[0].GuardBreaches) < 2 {
		t.Errorf("faults left %d, breaches %v", g.active(), res.Steps[0].GuardBreaches)
	}
}

func TestRunInterrupted(t *testing.T) {
	g := newFakeGateway(t)
	d := fakeDrill(t, g, "{}", "      - p99: {max: 1s}\n", "20s")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for g.ok.Load() < 5 { // bounded by the load's 20 s
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, _ := Run(ctx, d, Options{})
	if !res.Interrupted || res.Passed() {
		t.Fatalf("want interrupted, got %+v", res)
	}
	if g.active() != 0 || len(g.deleted) != 2 {
		t.Errorf("rollback after interrupt: faults left %d, deleted %v", g.active(), g.deleted)
	}
}

func TestRunRefusedFaultAborts(t *testing.T) {
	g := newFakeGateway(t)
	g.refuseFrom = 2 // the second fault is refused: the first must be rolled back
	d := fakeDrill(t, g, "{}", "      - p99: {max: 1s}\n", "20s")
	res, _ := Run(context.Background(), d, Options{})
	if !strings.Contains(res.Aborted, "400") || g.ok.Load() != 0 {
		t.Fatalf("want an abort before any load, got %+v (%d requests)", res, g.ok.Load())
	}
	if g.active() != 0 || len(g.deleted) != 1 {
		t.Errorf("faults left %d, deleted %v", g.active(), g.deleted)
	}
}
