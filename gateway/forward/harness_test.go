package forward

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitLimit bounds every wait for a condition in these tests.
const waitLimit = 5 * time.Second

// proxyConfig shapes the handler that a test proxy runs around an Engine.
type proxyConfig struct {
	scheme    string
	timeout   time.Duration
	setReq    [][2]string // SetHeader
	setResp   [][2]string // WriteResponse set
	delResp   []string    // WriteResponse del
	useBody   bool        // wrap In.Body with NewBody
	replay    int64       // replay limit for useBody
	maxBytes  int64
	abortOnUp bool // panic(http.ErrAbortHandler) on ErrUpstreamBody, as the gateway should
}

// proxy is a real loopback HTTP server whose handler forwards every request to target through
// eng, and reports each attempt's outcome on results.
type proxy struct {
	*httptest.Server
	eng     *Engine
	results chan error // RoundTrip error, or the WriteResponse error (nil on success)
	handled atomic.Int64
	failed  atomic.Int64
}

func newProxy(t *testing.T, eng *Engine, target string, cfg proxyConfig) *proxy {
	t.Helper()
	p := &proxy{eng: eng, results: make(chan error, 64)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &Request{In: r, Scheme: cfg.scheme, Target: target, SetHeader: cfg.setReq, Timeout: cfg.timeout}
		if cfg.useBody {
			b, err := NewBody(r.Body, r.ContentLength, cfg.replay, cfg.maxBytes)
			if err != nil {
				p.report(err)
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			defer b.Release()
			req.Body = b
		}
		resp, err := eng.RoundTrip(req)
		if err != nil {
			p.report(err)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		err = eng.WriteResponse(w, resp, cfg.setResp, cfg.delResp)
		p.report(err)
		if errors.Is(err, ErrBadUpgrade) {
			w.WriteHeader(http.StatusBadGateway) // nothing was written yet
		}
		if cfg.abortOnUp && errors.Is(err, ErrUpstreamBody) {
			panic(http.ErrAbortHandler)
		}
	}))
	p.Server.Config.ErrorLog = quietLog()
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) report(err error) {
	p.handled.Add(1)
	if err != nil {
		p.failed.Add(1)
	}
	select {
	case p.results <- err:
	default:
	}
}

// result waits for the next attempt outcome.
func (p *proxy) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.results:
		return err
	case <-time.After(waitLimit):
		t.Fatal("no result from the proxy handler")
		return nil
	}
}

// newEngine returns an Engine closed at the end of the test.
func newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	e := New(o)
	t.Cleanup(e.Close)
	return e
}

// newBackend starts a loopback upstream.
func newBackend(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	s.Config.ErrorLog = quietLog()
	t.Cleanup(s.Close)
	return s
}

// hostOf returns the host:port of a test server.
func hostOf(s *httptest.Server) string { return s.Listener.Addr().String() }

// newClient returns a keep-alive client that is closed at the end of the test.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// rawExchange sends raw request bytes to addr and parses the response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// signal is a one-shot event between a backend handler and the test.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }
func (s *signal) fire()  { s.once.Do(func() { close(s.ch) }) }

// wait blocks until the signal fires or waitLimit passes; it reports whether it fired.
func (s *signal) wait() bool {
	select {
	case <-s.ch:
		return true
	case <-time.After(waitLimit):
		return false
	}
}

// waitCtx blocks until the signal fires, ctx ends or waitLimit passes.
func (s *signal) waitCtx(ctx context.Context) {
	select {
	case <-s.ch:
	case <-ctx.Done():
	case <-time.After(waitLimit):
	}
}

// checkGoroutines fails the test if the number of goroutines does not fall back to base within
// waitLimit after the test's cleanups (servers, engines and clients closed).
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitLimit)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines: %d, want ≤ %d\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// headerLines renders h for failure messages.
func headerLines(h http.Header) string {
	var b strings.Builder
	h.Write(&b)
	return b.String()
}

// quietLog keeps expected server-side errors (aborted handlers, broken connections) out of the
// test output.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
