package gateway

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// oneCenter is a gateway with one songs service over the given backends and no remote.
func oneCenter(t *testing.T, hosts []*backend, edit func(*config.Service)) (*Gateway, string) {
	t.Helper()
	ln := listen(t)
	addrs := map[string]string{"sz": ln.Addr().String(), "sh": "127.0.0.1:1"}
	cfg := testConfig("sz", addrs)
	delete(cfg.Centers, "sh")
	var list []string
	for _, h := range hosts {
		list = append(list, h.addr)
	}
	svc := addService(cfg, "songs", 1, map[string][]string{"sz": list}, false)
	svc.Health.Path = "/healthz"
	if edit != nil {
		edit(svc)
	}
	g, _ := startGateway(t, cfg, ln)
	return g, "http://" + ln.Addr().String()
}

// TestOneOfTwoHostsDies: local retry of unsent requests, then ejection, keep clients at
// ≥ 99.9 % success, and the dead host stops getting picked within 2 s.
func TestOneOfTwoHostsDies(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	g, url := oneCenter(t, []*backend{a, b}, nil)
	var killedAt atomic.Int64 // unix ns
	timer := time.AfterFunc(time.Second, func() { killedAt.Store(time.Now().UnixNano()); b.kill() })
	defer timer.Stop()
	// Watch the dead host through the status API: the last time its attempt count rose after
	// the kill is when it last received traffic.
	var lastPickAfter time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		var seen uint64
		for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, h := range g.Status().Services[0].Hosts {
				if h.Addr != b.addr {
					continue
				}
				if k := killedAt.Load(); k != 0 && h.Attempts != seen {
					lastPickAfter = time.Since(time.Unix(0, k))
				}
				seen = h.Attempts
			}
		}
	}()
	rs := drive(t, 100, 5*time.Second, get(url+"/api/songs"))
	<-done
	rate := successRate(rs)
	t.Logf("success %.4f over %d requests; the dead host's last pick came %v after it died", rate, len(rs), lastPickAfter)
	for i, s := range perSecond(rs) {
		t.Logf("second %d: %v", i, summarize(s))
	}
	if rate < 0.999 {
		t.Errorf("success %.4f, want ≥ 0.999: %v", rate, summarize(rs))
	}
	if lastPickAfter > 2*time.Second {
		t.Errorf("the dead host was still picked %v after it died, want none after 2s", lastPickAfter)
	}
	// Recovery: the host comes back after healthy_after good probes.
	b.revive()
	eventually(t, 5*time.Second, "the revived host to be healthy", func() bool {
		for _, h := range g.Status().Services[0].Hosts {
			if h.Addr == b.addr {
				return h.State == upstream.Healthy
			}
		}
		return false
	})
	before := b.hits.Load()
	for i := 0; i < 50; i++ {
		resp, err := http.Get(url + "/api/songs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if b.hits.Load() == before {
		t.Error("the recovered host gets no traffic")
	}
}

// TestUpstreamsLearnTheLevel: requests to local hosts carry Bulwark-Level, the route's level
// (an override included), so that a service behind the gateway can shed by it too.
func TestUpstreamsLearnTheLevel(t *testing.T) {
	levels := make(chan string, 4)
	b := newBackend(t, "a", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		levels <- r.Header.Get(HeaderLevel)
	})))
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String()})
	delete(cfg.Centers, "sh")
	addService(cfg, "songs", 2, map[string][]string{"sz": {b.addr}}, false)
	cfg.Routes = append(cfg.Routes, &config.Route{Path: "/badges", Service: "songs", Level: 4})
	startGateway(t, cfg, ln)
	for path, want := range map[string]string{"/api/songs": "2", "/badges": "4"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+path, nil)
		req.Header.Set(HeaderLevel, "1") // a client cannot raise its own level
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-levels; got != want {
			t.Errorf("%s: upstream saw %s %q, want %q", path, HeaderLevel, got, want)
		}
	}
}
