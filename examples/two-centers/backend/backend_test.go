package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve starts b on a loopback port for the test's duration.
func serve(t *testing.T, b *backend) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv
}

func mustBackend(t testing.TB, name string, latency time.Duration, workers int, failRate float64) *backend {
	t.Helper()
	b, err := newBackend(name, latency, workers, failRate)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEndpoints(t *testing.T) {
	srv := serve(t, mustBackend(t, "sz-a", 0, 0, 0))
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     []string // substrings of the body
	}{
		{"healthz", "GET", "/healthz", "", 200, []string{"ok"}},
		{"songs", "GET", "/api/songs", "", 200, []string{`"backend":"sz-a"`, `"Naima"`}},
		{"songs wrong method", "DELETE", "/api/songs", "", 405, []string{"method not allowed"}},
		{"order", "POST", "/api/orders", `{"song":2}`, 201, []string{`"received":10`, `"orders":1`}},
		{"orders total", "GET", "/api/orders", "", 200, []string{`"orders":1`, `"bytes":10`}},
		{"orders wrong method", "PATCH", "/api/orders", "", 405, nil},
		{"anything else", "PUT", "/x/y?z=1", "", 200, []string{`"method":"PUT"`, `"path":"/x/y"`, `"backend":"sz-a"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("X-Backend"); got != "sz-a" {
				t.Errorf("X-Backend %q, want sz-a", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body %s does not contain %s", body, w)
				}
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && !json.Valid(body) {
				t.Errorf("body is not valid JSON: %s", body)
			}
		})
	}
}

func TestNewBackendRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name     string
		bname    string
		latency  time.Duration
		workers  int
		failRate float64
		want     string
	}{
		{"empty name", "", 0, 0, 0, "-name"},
		{"negative latency", "a", -time.Millisecond, 0, 0, "-latency"},
		{"negative workers", "a", 0, -1, 0, "-workers"},
		{"fail rate above 1", "a", 0, 0, 1.5, "-fail-rate"},
		{"fail rate negative", "a", 0, 0, -0.1, "-fail-rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newBackend(tc.bname, tc.latency, tc.workers, tc.failRate)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-workers", "x"}, {"extra"}, {"-fail-rate", "2"}, {"-listen", "256.0.0.1:0"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := run(args); err == nil {
				t.Fatal("run accepted bad flags")
			}
		})
	}
}

func TestFailRateOneFailsEverythingButHealthz(t *testing.T) {
	srv := serve(t, mustBackend(t, "f", 0, 0, 1))
	for path, want := range map[string]int{"/api/songs": 500, "/other": 500, "/healthz": 200} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestWorkersBoundConcurrency: with 2 workers and 40 ms of service time, 6 requests need at
// least three service times. (Only the lower bound is checked: it holds on any machine.)
func TestWorkersBoundConcurrency(t *testing.T) {
	const latency = 40 * time.Millisecond
	srv := serve(t, mustBackend(t, "w", latency, 2, 0))
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/api/songs")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if took := time.Since(start); took < 3*latency {
		t.Fatalf("6 requests on 2 workers took %v, less than 3 × %v: the bound does not hold", took, latency)
	}
}

// TestQueuedRequestThatGivesUpFreesNothing: a request that leaves while waiting for a slot
// does not take or release one.
func TestQueuedRequestThatGivesUpFreesNothing(t *testing.T) {
	b := mustBackend(t, "q", 0, 1, 0)
	b.slots <- struct{}{} // the only worker is busy
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/api/songs", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { b.ServeHTTP(rec, req); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled request stayed queued")
	}
	if len(b.slots) != 1 {
		t.Fatalf("slots in use %d, want 1 (the one the test holds)", len(b.slots))
	}
}

// TestOrdersConcurrent hammers POST /api/orders and checks that no order is lost.
func TestOrdersConcurrent(t *testing.T) {
	b := mustBackend(t, "o", 0, 4, 0)
	srv := serve(t, b)
	const goroutines, each = 16, 25
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				resp, err := srv.Client().Post(srv.URL+"/api/orders", "application/json", strings.NewReader("12345"))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	if got, want := b.orders.Load(), int64(goroutines*each); got != want {
		t.Errorf("orders %d, want %d", got, want)
	}
	if got, want := b.orderBytes.Load(), int64(goroutines*each*5); got != want {
		t.Errorf("bytes %d, want %d", got, want)
	}
}

// discardWriter is a reusable ResponseWriter, so that allocation counts measure the handler.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func TestSongsPathDoesNotAllocate(t *testing.T) {
	b := mustBackend(t, "bench", 0, 0, 0)
	w := &discardWriter{h: http.Header{}}
	req := httptest.NewRequest("GET", "/api/songs", nil)
	if n := testing.AllocsPerRun(1000, func() { b.ServeHTTP(w, req) }); n != 0 {
		t.Fatalf("GET /api/songs allocates %v times per request, want 0", n)
	}
}

func BenchmarkSongs(b *testing.B) {
	be := mustBackend(b, "bench", 0, 0, 0)
	w := &discardWriter{h: http.Header{}}
	req := httptest.NewRequest("GET", "/api/songs", nil)
	b.ReportAllocs()
	for b.Loop() {
		be.ServeHTTP(w, req)
	}
}

// Compile-time check that the handler is an http.Handler.
var _ http.Handler = (*backend)(nil)
