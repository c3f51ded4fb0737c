package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// Test harness: real backends and real gateways on loopback.

// backend is a real HTTP server whose behaviour a test changes at run time.
type backend struct {
	t       testing.TB
	name    string
	addr    string
	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	status  atomic.Int32  // status of /api answers; 0 = 200
	delay   atomic.Int64  // service time (ns)
	slots   chan struct{} // nil = unlimited workers
	hits    atomic.Int64
	probes  atomic.Int64
	overld  atomic.Bool // answer with Bulwark-Overload: 1
	handler http.Handler
}

type backendOption func(*backend)

// withWorkers gives the backend n worker slots; requests wait for a slot (a fixed-capacity server).
func withWorkers(n int) backendOption {
	return func(b *backend) { b.slots = make(chan struct{}, n) }
}

func withDelay(d time.Duration) backendOption { return func(b *backend) { b.delay.Store(int64(d)) } }

func withHandler(h http.Handler) backendOption { return func(b *backend) { b.handler = h } }

func newBackend(t testing.TB, name string, opts ...backendOption) *backend {
	t.Helper()
	b := &backend{t: t, name: name}
	for _, o := range opts {
		o(b)
	}
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
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		b.probes.Add(1)
		if s := b.status.Load(); s >= 500 {
			w.WriteHeader(int(s))
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if b.handler != nil {
			b.hits.Add(1)
			b.handler.ServeHTTP(w, r)
			return
		}
		if b.slots != nil {
			select {
			case b.slots <- struct{}{}:
				defer func() { <-b.slots }()
			case <-r.Context().Done():
				return
			}
		}
		b.hits.Add(1)
		if d := time.Duration(b.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", b.name)
		if b.overld.Load() {
			w.Header().Set(HeaderOverload, "1")
		}
		if s := b.status.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		fmt.Fprintf(w, "%s %s %s\n", b.name, r.Method, r.URL.Path)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	b.mu.Lock()
	b.srv, b.ln = srv, ln
	b.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// kill closes the listener and every connection: the host is dead (connection refused).
func (b *backend) kill() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// revive serves again on the same address.
func (b *backend) revive() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("revive %s: %v", b.addr, err)
	}
	b.serve(ln)
}

// listen opens a loopback listener for a gateway, so that its address is known before the
// configs that name it are written.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// testConfig is a minimal valid config for center `center` among sz (primary) and sh.
func testConfig(center string, gw map[string]string) *config.Config {
	tr := true
	return &config.Config{
		Center:   center,
		Instance: center + "-1",
		Listen:   gw[center],
		Admin:    config.Admin{Listen: "127.0.0.1:0"},
		Centers: map[string]*config.Center{
			"sz": {Gateway: "http://" + gw["sz"], Primary: true},
			"sh": {Gateway: "http://" + gw["sh"]},
		},
		Retry:    config.Retry{Enabled: &tr},
		Services: map[string]*config.Service{},
	}
}

// addService adds a service with the given hosts per center and a route /api/<name>.
func addService(cfg *config.Config, name string, level int, hosts map[string][]string, write bool) *config.Service {
	// Generous timeouts: these tests judge failover and shedding, and a race-enabled build on
	// a busy 2-core machine must not turn into upstream timeouts.
	s := &config.Service{Level: level, Upstreams: hosts,
		Timeout: config.Timeout{Tavg: config.Duration(200 * time.Millisecond), Thwm: config.Duration(time.Second), Tmax: config.Duration(2 * time.Second)}}
	cfg.Services[name] = s
	methods := []string{"GET", "HEAD"}
	if write {
		methods = []string{"POST"}
	}
	cfg.Routes = append(cfg.Routes, &config.Route{Path: "/api/" + name, Methods: methods, Service: name, Write: write})
	return s
}

// startGateway validates cfg and starts a gateway on ln. Logs go to the test log only on failure.
func startGateway(t testing.TB, cfg *config.Config, ln net.Listener, opts ...Option) (*Gateway, *logBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	opts = append([]Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), WithListeners(ln, nil), WithCPU(pinnedCPU(100))}, opts...)
	g, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := g.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			t.Logf("last log lines of %s:\n%s", cfg.Center, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
	return g, logs
}

// logBuffer collects log lines safely.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// result is one request's result in a load run.
type result struct {
	at     time.Duration // intended send time since the start
	status int           // 0 = transport error
	header http.Header
	err    error
}

// drive sends GETs (or the request newReq makes) to url at rate per second for dur, without
// waiting for answers before sending the next (an open model), and returns every result. It
// is bounded by dur and by rate×dur requests.
func drive(t testing.TB, rate int, dur time.Duration, newReq func() *http.Request) []result {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	n := int(float64(rate) * dur.Seconds())
	results := make([]result, n)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		at := time.Duration(i) * interval
		if d := time.Until(start.Add(at)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := newReq()
			resp, err := client.Do(req)
			r := result{at: at, err: err}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				r.status, r.header = resp.StatusCode, resp.Header
			}
			results[i] = r
		}(i)
	}
	wg.Wait()
	return results
}

func get(url string) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return req
	}
}

// summarize counts results by status (and transport error text), for test logs.
func summarize(rs []result) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		if r.err != nil {
			m[r.err.Error()]++
		} else {
			m[strconv.Itoa(r.status)+" "+r.header.Get(HeaderReject)]++
		}
	}
	return m
}

// successRate is the share of results with a status below 500 (and not 429).
func successRate(rs []result) float64 {
	if len(rs) == 0 {
		return 0
	}
	ok := 0
	for _, r := range rs {
		if r.status > 0 && r.status < 400 {
			ok++
		}
	}
	return float64(ok) / float64(len(rs))
}

// perSecond splits results by the second of their intended send time.
func perSecond(rs []result) [][]result {
	var out [][]result
	for _, r := range rs {
		s := int(r.at / time.Second)
		for len(out) <= s {
			out = append(out, nil)
		}
		out[s] = append(out[s], r)
	}
	return out
}

// eventually polls cond every 10 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
