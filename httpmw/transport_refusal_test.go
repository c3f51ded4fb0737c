package httpmw_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// trBody is a request body that records whether it was closed.
type trBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trBody) Close() error { b.closed.Store(true); return nil }

func TestTransportDegrade(t *testing.T) {
	type fallbackCall struct {
		called bool
		err    error
	}
	tests := []struct {
		name         string
		pass         float64 // -1: no switch
		fallback     bool
		deadHost     bool
		wantHits     int64
		wantStatus   int
		wantFallback bool
		wantErr      error // of the call (without a fallback) or given to the fallback
		wantOutcome  string
	}{
		{"pass 0 with fallback", 0, true, false, 0, http.StatusOK, true, degrade.ErrDegraded, "degraded"},
		{"pass 0 without fallback", 0, false, false, 0, 0, false, degrade.ErrDegraded, "degraded"},
		{"pass 1", 1, true, false, 1, http.StatusTeapot, false, nil, "ok"},
		{"failed host with fallback", -1, true, true, 0, http.StatusOK, true, nil, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := trNewBackend(t)
			be.status.Store(http.StatusTeapot)
			if tt.deadHost {
				be.srv.Close()
			}
			var sw *degrade.Switch
			if tt.pass >= 0 {
				var err error
				if sw, err = degrade.New(degrade.WithPass(tt.pass)); err != nil {
					t.Fatal(err)
				}
			}
			var fc fallbackCall
			var fallback func(*http.Request, error) (*http.Response, error)
			if tt.fallback {
				fallback = func(r *http.Request, err error) (*http.Response, error) {
					fc = fallbackCall{true, err}
					return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"X-Fallback": {"1"}},
						Body: io.NopCloser(strings.NewReader("cached")), Request: r}, nil
				}
			}
			rt := trTransport(t, httpmw.WithDegrade(sw, fallback))
			body := &trBody{Reader: strings.NewReader("payload")}
			req, _ := http.NewRequest(http.MethodPost, be.srv.URL, body)
			resp, err := rt.RoundTrip(req)
			if resp != nil {
				defer resp.Body.Close()
			}
			switch {
			case tt.wantStatus == 0:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case resp.StatusCode != tt.wantStatus:
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			case tt.wantFallback && resp.Header.Get("X-Fallback") != "1":
				t.Fatal("the answer is not the fallback's")
			}
			if fc.called != tt.wantFallback {
				t.Fatalf("fallback called: %v, want %v", fc.called, tt.wantFallback)
			}
			if fc.called && tt.wantErr != nil && !errors.Is(fc.err, tt.wantErr) {
				t.Fatalf("the fallback got %v, want %v", fc.err, tt.wantErr)
			}
			if fc.called && !strings.HasPrefix(fc.err.Error(), "httpmw: call to "+be.host()+": ") {
				t.Fatalf("the fallback got %q, want the host in it", fc.err)
			}
			if got := be.hits.Load(); got != tt.wantHits {
				t.Fatalf("%d requests reached the server, want %d", got, tt.wantHits)
			}
			if !body.closed.Load() {
				t.Fatal("the request body was not closed")
			}
			if got := trOutcome(t, rt, be.host(), tt.wantOutcome); got != 1 {
				t.Fatalf("%s = %v, want 1", tt.wantOutcome, got)
			}
			wantFallbacks := 0.0
			if tt.wantFallback {
				wantFallbacks = 1
			}
			if got, _ := trMetric(t, rt, "bulwark_httpmw_client_fallbacks_total", httpmw.DefaultName, be.host()); got != wantFallbacks {
				t.Fatalf("fallbacks = %v, want %v", got, wantFallbacks)
			}
		})
	}
}

func TestTransportRateLimit(t *testing.T) {
	t.Run("per key", func(t *testing.T) {
		clk := clock.NewFake(time.Time{})
		be := trNewBackend(t)
		rt := trTransport(t, httpmw.WithClock(clk),
			httpmw.WithRateLimit(2, time.Minute, func(r *http.Request) string { return r.Header.Get("X-User") }))
		call := func(user string) error {
			req, _ := http.NewRequest(http.MethodGet, be.srv.URL, nil)
			req.Header.Set("X-User", user)
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}
		steps := []struct {
			user    string
			advance time.Duration
			limited bool
		}{
			{"ann", 0, false}, {"ann", 0, false}, {"ann", 0, true}, // ann's two calls per minute
			{"bob", 0, false}, {"bob", 0, false}, {"bob", 0, true}, // bob has his own two
			{"ann", 2 * time.Minute, false}, // the window has moved on
		}
		for i, s := range steps {
			clk.Advance(s.advance)
			err := call(s.user)
			if errors.Is(err, ratelimit.ErrLimited) != s.limited || (!s.limited && err != nil) {
				t.Fatalf("step %d (%s): err = %v, want limited: %v", i, s.user, err, s.limited)
			}
		}
		if got := be.hits.Load(); got != 5 {
			t.Fatalf("%d calls reached the server, want 5", got)
		}
		if got := trOutcome(t, rt, be.host(), "rate_limited"); got != 2 {
			t.Fatalf("rate_limited = %v, want 2", got)
		}
	})
	t.Run("per host by default", func(t *testing.T) {
		a, b := trNewBackend(t), trNewBackend(t)
		rt := trTransport(t, httpmw.WithClock(clock.NewFake(time.Time{})), httpmw.WithRateLimit(1, time.Minute, nil))
		for _, be := range []*trBackend{a, b} {
			if _, err := trGet(rt, be.srv.URL); err != nil {
				t.Fatalf("%s: first call: %v", be.host(), err)
			}
			_, err := trGet(rt, be.srv.URL)
			if !errors.Is(err, ratelimit.ErrLimited) {
				t.Fatalf("%s: second call: err = %v, want ratelimit.ErrLimited", be.host(), err)
			}
			if want := "httpmw: call to " + be.host() + ": ratelimit: limited"; err.Error() != want {
				t.Fatalf("err = %q, want %q", err, want)
			}
		}
	})
}
