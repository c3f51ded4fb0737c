package httpmw_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/timeout"
)

// trBackend is a loopback server whose answer the test controls: a status, Bulwark-Overload,
// and, while hold is set, a wait at the handler until the test releases the request.
type trBackend struct {
	srv     *httptest.Server
	hits    atomic.Int64
	status  atomic.Int64
	hold    atomic.Bool
	arrived chan struct{}    // a held request reached the handler
	release chan struct{}    // one send lets one held request answer
	headers chan http.Header // the headers of every request, if the test asked for them
}

func trNewBackend(t *testing.T) *trBackend {
	t.Helper()
	b := &trBackend{arrived: make(chan struct{}, 64), release: make(chan struct{})}
	b.status.Store(http.StatusOK)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if b.headers != nil {
			b.headers <- r.Header.Clone()
		}
		if b.hold.Load() {
			b.arrived <- struct{}{}
			select {
			case <-b.release:
			case <-r.Context().Done(): // the client gave up
				return
			}
		}
		if r.URL.Path == "/overload" {
			w.Header().Set(httpmw.HeaderOverload, "1")
		}
		w.WriteHeader(int(b.status.Load()))
		_, _ = io.WriteString(w, "backend")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *trBackend) host() string { return strings.TrimPrefix(b.srv.URL, "http://") }

// waitArrived blocks until a held request reached the handler.
func (b *trBackend) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-b.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the backend")
	}
}

// trBase is a fresh http.Transport whose connections are closed when the test ends.
func trBase(t *testing.T) *http.Transport {
	t.Helper()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(base.CloseIdleConnections)
	return base
}

func trTransport(t *testing.T, opts ...httpmw.Option) *httpmw.RoundTripper {
	t.Helper()
	rt, err := httpmw.Transport(trBase(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// trGet is trCall with the background context.
func trGet(rt http.RoundTripper, target string) (int, error) {
	return trCall(context.Background(), rt, target)
}

// trCall makes one GET through rt with ctx and returns the status (0 on an error) and the
// error; the body is read and closed.
func trCall(ctx context.Context, rt http.RoundTripper, target string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// trMetric returns the value of the metric name with the given labels (client, host and, for
// the requests counter, outcome), and whether it exists.
func trMetric(t *testing.T, c prometheus.Collector, name string, labels ...string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i >= len(labels) || lp.GetValue() != labels[i] {
					continue metrics
				}
			}
			return trValue(m), true
		}
	}
	return 0, false
}

func trValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// trOutcome is the requests counter of one outcome for host.
func trOutcome(t *testing.T, rt *httpmw.RoundTripper, host, outcome string) float64 {
	t.Helper()
	v, _ := trMetric(t, rt, "bulwark_httpmw_client_requests_total", httpmw.DefaultName, host, outcome)
	return v
}

// trNoLeak fails the test unless the goroutine count is back to before within 5 s (bounded
// poll: goroutines of closed connections exit asynchronously).
func trNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, before: %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTransportOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  httpmw.Option
		want string // "" = Transport accepts it
	}{
		{"server-only WithWorkers", httpmw.WithWorkers(4, 0, 0), "WithWorkers applies to Protect, not Transport"},
		{"server-only TrustLevelHeader", httpmw.TrustLevelHeader(), "TrustLevelHeader applies to Protect"},
		{"server-only WithLevels", httpmw.WithLevels(map[string]int{"/a/": 2}), "WithLevels applies to Protect"},
		{"bad breaker kind", httpmw.WithBreaker(breaker.Kind(9)), "unknown kind"},
		{"classic option on SRE", httpmw.WithBreaker(breaker.KindSRE, breaker.WithFailureCount(3)), "WithBreaker"},
		{"bad K", httpmw.WithBreaker(breaker.KindSRE, breaker.WithK(0.5)), "WithK"},
		{"bad timeout", httpmw.WithTimeout(timeout.WithThwm(time.Millisecond)), "WithTimeout"},
		{"empty degrade", httpmw.WithDegrade(nil, nil), "WithDegrade"},
		{"bad rate", httpmw.WithRateLimit(0, time.Second, nil), "WithRateLimit"},
		{"classic breaker", httpmw.WithBreaker(breaker.KindClassic, breaker.WithFailureCount(3)), ""},
		{"no breaker", httpmw.WithoutBreaker(), ""},
		{"no timeout", httpmw.WithoutTimeout(), ""},
		{"shared WithName", httpmw.WithName("payments"), ""},
		{"shared WithRateLimit", httpmw.WithRateLimit(10, time.Second, nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := httpmw.Transport(nil, tt.opt)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Transport: %v", err)
			case tt.want == "" && rt == nil:
				t.Fatal("Transport returned nil and no error")
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestTransportBreaker: the breaker opens against a host that answers 500s and lets traffic
// through again once the host heals and the fake clock has moved past the breaker's window.
func TestTransportBreaker(t *testing.T) {
	tests := []struct {
		name     string
		opt      httpmw.Option
		wantHits int64 // calls that reach the failing host before the breaker refuses
	}{
		// SRE: p = (requests − K·accepts)/(requests+1) > 0 from the 20th failure (the minimum);
		// a random source of 0 then drops every call.
		{"sre", httpmw.WithBreaker(breaker.KindSRE, breaker.WithRand(func() float64 { return 0 })),
			breaker.DefaultMinRequests},
		{"classic", httpmw.WithBreaker(breaker.KindClassic), breaker.DefaultFailureCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Time{})
			be := trNewBackend(t)
			be.status.Store(http.StatusInternalServerError)
			rt := trTransport(t, httpmw.WithClock(clk), tt.opt)

			var refused error
			for range 100 {
				code, err := trGet(rt, be.srv.URL)
				if err != nil {
					refused = err
					break
				}
				if code != http.StatusInternalServerError {
					t.Fatalf("status %d, want 500", code)
				}
			}
			if !errors.Is(refused, breaker.ErrOpen) {
				t.Fatalf("after %d failures: err = %v, want breaker.ErrOpen", be.hits.Load(), refused)
			}
			if want := "httpmw: call to " + be.host() + ": breaker: open"; !strings.HasPrefix(refused.Error(), want) {
				t.Fatalf("err = %q, want it to start with %q", refused, want)
			}
			if got := be.hits.Load(); got != tt.wantHits {
				t.Fatalf("%d calls reached the host before the breaker refused, want %d", got, tt.wantHits)
			}
			if v, _ := trMetric(t, rt, "bulwark_httpmw_client_breaker_open", httpmw.DefaultName, be.host()); v != 1 {
				t.Fatalf("breaker_open = %v, want 1", v)
			}
			if got := trOutcome(t, rt, be.host(), "error_5xx"); got != float64(tt.wantHits) {
				t.Fatalf("error_5xx = %v, want %d", got, tt.wantHits)
			}
			if got := trOutcome(t, rt, be.host(), "breaker_open"); got != 1 {
				t.Fatalf("breaker_open outcome = %v, want 1", got)
			}

			be.status.Store(http.StatusOK) // the host heals ...
			clk.Advance(breaker.DefaultWindow + time.Second)
			for i := range 5 { // ... and once the window has passed, traffic flows again
				if code, err := trGet(rt, be.srv.URL); err != nil || code != http.StatusOK {
					t.Fatalf("call %d after healing: %d, %v", i, code, err)
				}
			}
			if v, _ := trMetric(t, rt, "bulwark_httpmw_client_breaker_open", httpmw.DefaultName, be.host()); v != 0 {
				t.Fatalf("breaker_open = %v after healing, want 0", v)
			}
		})
	}
}

// TestTransportBreakerOnOverload: a response with Bulwark-Overload: 1 counts against the host
// even when its status is 200.
func TestTransportBreakerOnOverload(t *testing.T) {
	be := trNewBackend(t)
	rt := trTransport(t, httpmw.WithClock(clock.NewFake(time.Time{})),
		httpmw.WithBreaker(breaker.KindClassic, breaker.WithFailureCount(2)))
	for range 2 {
		if code, err := trGet(rt, be.srv.URL+"/overload"); err != nil || code != http.StatusOK {
			t.Fatalf("%d, %v", code, err)
		}
	}
	if _, err := trGet(rt, be.srv.URL); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err = %v, want breaker.ErrOpen after two overloaded answers", err)
	}
	if got := trOutcome(t, rt, be.host(), "overloaded"); got != 2 {
		t.Fatalf("overloaded = %v, want 2", got)
	}
}

// TestTransportCallerEnds: the caller's cancellation is reported to neither the breaker nor the
// EMA; the caller's deadline counts against the host like a timeout.
func TestTransportCallerEnds(t *testing.T) {
	tests := []struct {
		name        string
		deadline    bool // the caller's deadline ends the call, else a cancel
		wantOutcome string
		wantErr     error
		wantOpen    bool // a single failure opens this breaker
	}{
		{"cancel", false, "canceled", context.Canceled, false},
		{"deadline", true, "deadline", context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			be := trNewBackend(t)
			be.hold.Store(true)
			var fallbacks atomic.Int64
			rt := trTransport(t, httpmw.WithBreaker(breaker.KindClassic, breaker.WithFailureCount(1)),
				httpmw.WithDegrade(nil, func(_ *http.Request, err error) (*http.Response, error) {
					fallbacks.Add(1)
					return nil, err
				}))
			ctx, cancel := context.WithCancel(context.Background())
			if tt.deadline { // earlier than the dynamic timeout (Tmax 500 ms), so it bounds the call
				ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
			}
			defer cancel()
			errc := make(chan error, 1)
			go func() { _, err := trCall(ctx, rt, be.srv.URL); errc <- err }()
			be.waitArrived(t)
			if !tt.deadline {
				cancel()
			}
			err := <-errc
			if !errors.Is(err, tt.wantErr) || errors.Is(err, httpmw.ErrTimeout) {
				t.Fatalf("err = %v, want %v and not ErrTimeout", err, tt.wantErr)
			}
			if got := trOutcome(t, rt, be.host(), tt.wantOutcome); got != 1 {
				t.Fatalf("%s = %v, want 1", tt.wantOutcome, got)
			}
			if fallbacks.Load() != 0 {
				t.Fatal("the fallback answered a call whose caller had left")
			}
			be.hold.Store(false)
			_, err = trGet(rt, be.srv.URL)
			if open := errors.Is(err, breaker.ErrOpen); open != tt.wantOpen {
				t.Fatalf("next call: err = %v, want the breaker open: %v", err, tt.wantOpen)
			}
			tmax, _ := trMetric(t, rt, "bulwark_httpmw_client_timeout_seconds", httpmw.DefaultName, be.host())
			if tmax < timeout.DefaultThwm.Seconds() || tmax > timeout.DefaultTmax.Seconds() {
				t.Fatalf("timeout = %vs, outside [Thwm, Tmax]", tmax)
			}
			if !tt.deadline && tmax != timeout.DefaultTmax.Seconds() {
				t.Fatalf("timeout = %vs after a cancellation, want Tmax: the EMA was fed", tmax)
			}
			rt.CloseIdleConnections()
			be.srv.Close()
			trNoLeak(t, before)
		})
	}
	t.Run("already done", func(t *testing.T) {
		be := trNewBackend(t)
		rt := trTransport(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := trCall(ctx, rt, be.srv.URL); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if be.hits.Load() != 0 || trOutcome(t, rt, be.host(), "canceled") != 1 {
			t.Fatalf("hits %d, canceled %v: want 0 and 1", be.hits.Load(), trOutcome(t, rt, be.host(), "canceled"))
		}
	})
}

// TestTransportFailedHost: a host that refuses connections fails the call with "failed".
func TestTransportFailedHost(t *testing.T) {
	be := trNewBackend(t)
	be.srv.Close()
	rt := trTransport(t)
	_, err := trGet(rt, be.srv.URL)
	if err == nil || !strings.HasPrefix(err.Error(), "httpmw: call to "+be.host()+": ") {
		t.Fatalf("err = %v, want a wrapped connection error", err)
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		t.Fatalf("a refused connection reports Timeout")
	}
	if got := trOutcome(t, rt, be.host(), "failed"); got != 1 {
		t.Fatalf("failed = %v, want 1", got)
	}
}
