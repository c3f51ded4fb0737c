package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// backend is a real HTTP server on loopback that can be killed (connections
// refused) and brought back on the same port.
type backend struct {
	t       *testing.T
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
}

func newBackend(t *testing.T, h http.Handler) *backend {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	}
	b := &backend{t: t, handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	b.serve(ln)
	t.Cleanup(b.kill)
	return b
}

func (b *backend) serve(ln net.Listener) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ln, b.srv, b.done = ln, &http.Server{Handler: b.handler, ReadHeaderTimeout: 5 * time.Second}, make(chan struct{})
	srv, done := b.srv, b.done
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
}

// kill closes the listener and every connection: new connections are refused.
func (b *backend) kill() {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// revive listens on the same address again.
func (b *backend) revive() {
	b.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("relisten on %s: %v", b.addr, err)
	}
	b.serve(ln)
}

// probedPool makes a probing pool on a fake clock whose rounds the test waits
// for: round() advances one interval and waits until that round is applied.
type probedPool struct {
	*Pool
	clk    *clock.Fake
	log    *eventLog
	rounds chan struct{}
}

func newProbedPool(t *testing.T, hosts []string, health config.Health) *probedPool {
	t.Helper()
	clk := clock.NewFake(epoch)
	log := &eventLog{}
	if health.Path == "" {
		health.Path = "/healthz"
	}
	p, err := New(Options{Hosts: hosts, Health: health, Clock: clk, Rand: seeded(2), OnStateChange: log.record})
	if err != nil {
		t.Fatal(err)
	}
	pp := &probedPool{Pool: p, clk: clk, log: log, rounds: make(chan struct{}, 16)}
	p.afterRound = func() {
		select {
		case pp.rounds <- struct{}{}:
		default: // never block the probe loop (and so Stop)
		}
	}
	p.Start()
	t.Cleanup(p.Stop)
	pp.wait(t) // the round made at Start
	return pp
}

func (pp *probedPool) wait(t *testing.T) {
	t.Helper()
	select {
	case <-pp.rounds:
	case <-time.After(5 * time.Second):
		t.Fatal("no probe round within 5 s")
	}
}

func (pp *probedPool) round(t *testing.T) {
	t.Helper()
	pp.clk.BlockUntil(1) // the loop's ticker
	pp.clk.Advance(pp.health.Interval.D())
	pp.wait(t)
}

// TestProbeRecoveryOnSamePort: a killed backend is unavailable after exactly
// UnhealthyAfter failed probes, gets no picks, and is healthy again after
// exactly HealthyAfter good probes once it listens on the same port again.
func TestProbeRecoveryOnSamePort(t *testing.T) {
	a, b := newBackend(t, nil), newBackend(t, nil)
	pp := newProbedPool(t, []string{a.addr, b.addr}, config.Health{UnhealthyAfter: 2, HealthyAfter: 3})
	hb := pp.Host(b.addr)
	b.kill()
	pp.round(t)
	if s := hb.State(); s != Healthy {
		t.Fatalf("after 1 failed probe: %v, want healthy", s)
	}
	pp.round(t)
	if s := hb.State(); s != Unavailable {
		t.Fatalf("after 2 failed probes: %v, want unavailable", s)
	}
	if st := pp.Hosts()[1]; !strings.Contains(st.ProbeError, "refused") {
		t.Fatalf("probe error %q, want connection refused", st.ProbeError)
	}
	if got := picks(t, pp.Pool, 100, nil); got[b.addr] != 0 {
		t.Fatalf("unavailable host picked: %v", got)
	}
	b.revive()
	for i := 1; i < 3; i++ {
		pp.round(t)
		if s := hb.State(); s != Unavailable {
			t.Fatalf("after %d good probes: %v, want unavailable", i, s)
		}
	}
	pp.round(t)
	if s := hb.State(); s != Healthy {
		t.Fatalf("after 3 good probes: %v, want healthy", s)
	}
	if got := picks(t, pp.Pool, 100, nil); got[b.addr] == 0 {
		t.Fatalf("recovered host never picked: %v", got)
	}
	want := []string{b.addr + " healthy→unavailable", b.addr + " unavailable→healthy"}
	if got := pp.log.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestProbesRecoverErroring: with probes running, an erroring host comes back
// after HealthyAfter good probes counted from its trip, and gets no trial.
func TestProbesRecoverErroring(t *testing.T) {
	a, b := newBackend(t, nil), newBackend(t, nil)
	pp := newProbedPool(t, []string{a.addr, b.addr}, config.Health{})
	report(t, pp.Pool, b.addr, 3, refused)
	pp.round(t) // one interval: the trial back-off has passed, but probes decide, not trials
	if got := picks(t, pp.Pool, 50, nil); got[b.addr] != 0 {
		t.Fatalf("erroring host picked while probes run: %v", got)
	}
	if s := pp.Host(b.addr).State(); s != Erroring {
		t.Fatalf("after 1 good probe: %v, want erroring", s)
	}
	pp.round(t)
	if s := pp.Host(b.addr).State(); s != Healthy {
		t.Fatalf("after 2 good probes: %v, want healthy", s)
	}
}

// TestProbeVerdicts: what counts as a good probe.
func TestProbeVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		ok      bool
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }, true},
		{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, true},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, false},
		{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, false},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, false},
		{"slower than the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, false},
		{"wrong path", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "bulwark-probe" {
				w.WriteHeader(500)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			p, err := New(Options{Hosts: []string{addr}, Health: config.Health{Path: "/healthz", Timeout: config.Duration(100 * time.Millisecond)}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			res := p.probe(context.Background(), p.Host(addr))
			if res.ok != tt.ok {
				t.Fatalf("probe ok=%v (%s), want %v", res.ok, res.err, tt.ok)
			}
		})
	}
}

// TestStopEndsProbes: Start runs one probe goroutine; Stop ends it and every
// probe connection, so the goroutine count returns to its baseline. Stop is
// idempotent and concurrent calls all wait.
func TestStopEndsProbes(t *testing.T) {
	a := newBackend(t, nil)
	arrived := make(chan struct{}, 1)
	slow := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // a probe in flight when Stop comes
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	base := runtime.NumGoroutine()
	p, err := New(Options{Hosts: []string{a.addr, slow.addr},
		Health: config.Health{Path: "/healthz", Interval: config.Duration(10 * time.Millisecond), Timeout: config.Duration(2 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	p.Start() // no second loop
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no probe reached the slow backend")
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(p.Stop)
	}
	wg.Wait()
	p.Start() // after Stop: nothing
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.probing.Load() {
		t.Fatal("still probing after Stop")
	}
}

// TestDrainedHostsAreProbed: a drained host is still probed, so it comes back
// from Undrain in the state its probes give.
func TestDrainedHostsAreProbed(t *testing.T) {
	a, b := newBackend(t, nil), newBackend(t, nil)
	pp := newProbedPool(t, []string{a.addr, b.addr}, config.Health{})
	if err := pp.Drain(b.addr); err != nil {
		t.Fatal(err)
	}
	b.kill()
	pp.round(t)
	pp.round(t)
	if st := pp.Hosts()[1]; st.State != Offline || !st.Unavailable {
		t.Fatalf("drained dead host: %+v, want offline and unavailable underneath", st)
	}
	if err := pp.Undrain(b.addr); err != nil {
		t.Fatal(err)
	}
	if s := pp.Host(b.addr).State(); s != Unavailable {
		t.Fatalf("undrained dead host: %v, want unavailable", s)
	}
}
