package httpmw_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/timeout"
)

// trTimeout is the host's current dynamic timeout, read from the metrics.
func trTimeout(t *testing.T, rt *httpmw.RoundTripper, host string) time.Duration {
	t.Helper()
	v, ok := trMetric(t, rt, "bulwark_httpmw_client_timeout_seconds", httpmw.DefaultName, host)
	if !ok {
		t.Fatalf("no timeout metric for %s", host)
	}
	return time.Duration(math.Round(v * 1e9))
}

// trTimedCall makes one call to a held backend whose latency, on the fake clock, is latency:
// the test advances the clock while the backend waits, then lets it answer, unless latency
// reaches the current timeout.
func trTimedCall(t *testing.T, clk *clock.Fake, rt *httpmw.RoundTripper, be *trBackend, latency time.Duration) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := trGet(rt, be.srv.URL); errc <- err }()
	be.waitArrived(t)
	clk.Advance(latency)
	if latency < trTimeout(t, rt, be.host()) {
		be.release <- struct{}{}
	} // else the timer has fired: its goroutine cancels the call, and the backend gives up
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the call never returned")
		return nil
	}
}

// TestTransportTimeoutAdapts: the EMA dynamic timeout falls toward Thwm while calls are slow,
// rises back to Tmax when they are fast, and a call that outlasts it fails with ErrTimeout.
func TestTransportTimeoutAdapts(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewFake(time.Time{})
	be := trNewBackend(t)
	be.hold.Store(true)
	// N = 3 (r = 1/2) so that a handful of calls shows the trend. Defaults otherwise: Tavg
	// 60 ms, Thwm 250 ms, Tmax 500 ms.
	rt := trTransport(t, httpmw.WithClock(clk), httpmw.WithoutBreaker(), httpmw.WithTimeout(timeout.WithN(3)))
	host := be.host()

	if err := trTimedCall(t, clk, rt, be, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	prev := trTimeout(t, rt, host)
	if prev != timeout.DefaultTmax {
		t.Fatalf("timeout after a fast call = %v, want Tmax", prev)
	}

	const slow = 240 * time.Millisecond // under Thwm, so no call times out, but a bad average
	for i := range 6 {
		if err := trTimedCall(t, clk, rt, be, slow); err != nil {
			t.Fatalf("slow call %d: %v", i, err)
		}
		cur := trTimeout(t, rt, host)
		if cur >= prev || cur < timeout.DefaultThwm {
			t.Fatalf("slow call %d: timeout %v after %v, want it falling toward Thwm", i, cur, prev)
		}
		prev = cur
	}
	if prev > timeout.DefaultThwm+30*time.Millisecond {
		t.Fatalf("timeout after slow calls = %v, want near Thwm (%v)", prev, timeout.DefaultThwm)
	}

	for i := range 6 {
		if err := trTimedCall(t, clk, rt, be, 10*time.Millisecond); err != nil {
			t.Fatalf("fast call %d: %v", i, err)
		}
		cur := trTimeout(t, rt, host)
		if cur < prev {
			t.Fatalf("fast call %d: timeout %v after %v, want it rising", i, cur, prev)
		}
		prev = cur
	}
	if prev != timeout.DefaultTmax {
		t.Fatalf("timeout after fast calls = %v, want Tmax", prev)
	}

	// A call that outlasts the current timeout: the fake timer fires while the backend hangs.
	err := trTimedCall(t, clk, rt, be, prev)
	if !errors.Is(err, httpmw.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	if want := "httpmw: call to " + host + ": dynamic timeout of 500ms passed before the response headers"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	if got := trOutcome(t, rt, host, "timeout"); got != 1 {
		t.Fatalf("timeout outcome = %v, want 1", got)
	}
	// The failure is fed as Tmax, which lifts the average over Thwm: the timeout is Thwm.
	if got := trTimeout(t, rt, host); got != timeout.DefaultThwm {
		t.Fatalf("timeout after a timed-out call = %v, want Thwm", got)
	}
	if got := trOutcome(t, rt, host, "ok"); got != 13 {
		t.Fatalf("ok = %v, want 13", got)
	}
	rt.CloseIdleConnections()
	be.srv.Close()
	trNoLeak(t, before)
}

// TestTransportTimeoutBoundsHeadersOnly: once the headers are in, the dynamic timeout no longer
// applies, so a slow body is read in full, and its context ends with the body.
func TestTransportTimeoutBoundsHeadersOnly(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clock.NewFake(time.Time{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "late body")
	}))
	base := trBase(t)
	var sent context.Context
	rt, err := httpmw.Transport(trRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Context()
		return base.RoundTrip(r)
	}), httpmw.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * timeout.DefaultTmax) // long past the timeout: nothing fires
	close(release)
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "late body" {
		t.Fatalf("body %q, %v", body, err)
	}
	select {
	case <-sent.Done():
	default:
		t.Fatal("the attempt's context lives on after the body was read to EOF")
	}
	resp.Body.Close()
	base.CloseIdleConnections()
	srv.Close()
	trNoLeak(t, before)
}

// TestTransportTimeoutRealClock: under the real clock the timer is a runtime timer; the call
// still fails with ErrTimeout, and http.Client reports it as a timeout.
func TestTransportTimeoutRealClock(t *testing.T) {
	before := runtime.NumGoroutine()
	be := trNewBackend(t)
	be.hold.Store(true)
	rt := trTransport(t, httpmw.WithTimeout(timeout.WithTavg(time.Millisecond),
		timeout.WithThwm(20*time.Millisecond), timeout.WithTmax(20*time.Millisecond)))
	start := time.Now()
	_, err := (&http.Client{Transport: rt}).Get(be.srv.URL)
	var ue *url.Error
	if !errors.Is(err, httpmw.ErrTimeout) || !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want ErrTimeout in a url.Error that reports Timeout", err)
	}
	if elapsed := time.Since(start); elapsed < 20*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("the call took %v, want about 20ms", elapsed)
	}
	rt.CloseIdleConnections()
	be.srv.Close()
	trNoLeak(t, before)
}

// TestTransportBodyReleasesContext: the attempt's context lives until the body is closed or
// read to EOF, and a response without a body releases it at once.
func TestTransportBodyReleasesContext(t *testing.T) {
	tests := []struct {
		name   string
		method string
		end    func(io.ReadCloser) // nil: the context must be released without it
	}{
		{"close", http.MethodGet, func(b io.ReadCloser) { b.Close() }},
		{"read to EOF", http.MethodGet, func(b io.ReadCloser) { _, _ = io.ReadAll(b) }},
		{"no body", http.MethodHead, nil},
		{"failed call", "", nil}, // the host is down: RoundTrip fails
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := trNewBackend(t)
			failing := tt.method == ""
			if failing {
				be.srv.Close()
			}
			base := trBase(t)
			var sent context.Context
			rt, err := httpmw.Transport(trRoundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r.Context()
				return base.RoundTrip(r)
			}), httpmw.WithClock(clock.NewFake(time.Time{})))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(tt.method, be.srv.URL, nil)
			resp, err := rt.RoundTrip(req)
			if sent == req.Context() {
				t.Fatal("the base got the caller's context, not the attempt's")
			}
			done := func() bool {
				select {
				case <-sent.Done():
					return true
				default:
					return false
				}
			}
			if failing {
				if err == nil || !done() {
					t.Fatalf("err = %v, context done: %v; want an error and the context released", err, done())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tt.end == nil {
				if !done() {
					t.Fatal("a response without a body kept its context")
				}
				return
			}
			if done() {
				t.Fatal("the context ended before the body")
			}
			tt.end(resp.Body)
			if !done() {
				t.Fatal("the context lives on after the body ended")
			}
		})
	}
}

// trRoundTripFunc adapts a function to http.RoundTripper, to watch what the transport sends
// to a real http.Transport.
type trRoundTripFunc func(*http.Request) (*http.Response, error)

func (f trRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTransportUpgradeBodyWrites: the body of a 101 Switching Protocols response is the
// upgraded connection; the wrapper keeps its Write.
func TestTransportUpgradeBodyWrites(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err == nil {
			_, _ = conn.Write(buf)
		}
	}))
	defer srv.Close()
	rt := trTransport(t, httpmw.WithClock(clock.NewFake(time.Time{})))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriter)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("status %d, body %T: want 101 and a writable body", resp.StatusCode, resp.Body)
	}
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
}
