package httpmw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/overload"
	"github.com/bulwark-go/bulwark/shed"
)

// serve runs h on a loopback server for the test's lifetime.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func protect(t *testing.T, next http.Handler, opts ...httpmw.Option) *httpmw.Handler {
	t.Helper()
	h, err := httpmw.Protect(next, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get sends a GET with the given headers and returns the response with its body read.
func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
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

// gate is a handler whose requests to /slow block until released; others answer at once.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// newGate returns a gate that the test's cleanup opens, so a failing test does not hang.
func newGate(t *testing.T) *gate {
	g := &gate{entered: make(chan struct{}, 100), release: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		g.entered <- struct{}{}
		<-g.release
	}
	_, _ = io.WriteString(w, "ok")
}

// wait blocks until n requests entered the slow path.
func (g *gate) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("a slow request never reached the handler")
		}
	}
}

// background sends n GET /slow requests and returns a function that waits for their statuses.
func background(t *testing.T, url string, n int) func() []int {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url + "/slow")
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	return func() []int { wg.Wait(); return codes }
}

func TestOverloadReportedAndCleared(t *testing.T) {
	clk := clock.NewFake(time.Now())
	det, err := overload.New(overload.WithWorkers(4))
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(t)
	h := protect(t, g, httpmw.WithClock(clk), httpmw.WithOverload(det, 100*time.Millisecond))
	srv := serve(t, h)

	done := background(t, srv.URL, 4) // all four workers busy: ratio 1 > 0.9
	g.wait(t, 4)
	clk.Advance(100 * time.Millisecond) // the slow arrivals took the first sample, at ratio 0
	// Three samples above the enter threshold, one per interval, taken on arrivals.
	for i := range 2 {
		resp, _ := get(t, srv.URL+"/fast", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get(httpmw.HeaderOverload) != "" {
			t.Fatalf("sample %d: %d overload=%q before the detector entered overload", i+1, resp.StatusCode, resp.Header.Get(httpmw.HeaderOverload))
		}
		clk.Advance(100 * time.Millisecond)
	}
	resp, body := get(t, srv.URL+"/fast", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(httpmw.HeaderOverload) != "1" ||
		resp.Header.Get(httpmw.HeaderReject) != httpmw.ReasonOverloaded || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("third sample: %d %v %q; want a 503 overloaded with the overload report", resp.StatusCode, resp.Header, body)
	}
	if !h.Stats().Overloaded {
		t.Fatal("Stats().Overloaded = false while overloaded")
	}

	g.open() // recovery: the slow requests finish; the ones that ran got the report too
	for _, c := range done() {
		if c != http.StatusOK {
			t.Fatalf("a slow request got %d", c)
		}
	}
	// Five samples below the exit threshold; the report stays until the last one.
	for i := range overload.DefaultExitSamples {
		clk.Advance(100 * time.Millisecond)
		resp, _ := get(t, srv.URL+"/fast", nil)
		want := "1"
		if i == overload.DefaultExitSamples-1 {
			want = ""
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get(httpmw.HeaderOverload) != want {
			t.Fatalf("exit sample %d: %d overload=%q, want 200 overload=%q", i+1, resp.StatusCode, resp.Header.Get(httpmw.HeaderOverload), want)
		}
	}
	st := h.Stats()
	if st.Overloaded || st.Rejected[httpmw.ReasonOverloaded] != 1 || st.Reports < 5 || st.Inflight != 0 {
		t.Fatalf("stats after recovery: %+v", st)
	}
}

func TestQueueWaitDropAtThreshold(t *testing.T) {
	clk := clock.NewFake(time.Now())
	g := newGate(t)
	h := protect(t, g, httpmw.WithClock(clk), httpmw.WithWorkers(1, 0, 0)) // default wait: 500 ms
	srv := serve(t, h)

	holder := background(t, srv.URL, 1)
	g.wait(t, 1)
	waiting := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/fast")
		if err != nil {
			t.Error(err)
			waiting <- nil
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		waiting <- resp
	}()
	clk.BlockUntil(1) // the waiter armed its queue timer
	clk.Advance(httpmw.DefaultQueueWait - time.Millisecond)
	select {
	case <-waiting:
		t.Fatal("dropped before the threshold")
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Millisecond)
	resp := <-waiting
	if resp == nil {
		return
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(httpmw.HeaderReject) != httpmw.ReasonQueueTimeout ||
		resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("at the threshold: %d %v; want 503 queue_timeout", resp.StatusCode, resp.Header)
	}
	g.open()
	if c := holder()[0]; c != http.StatusOK {
		t.Fatalf("the holder got %d", c)
	}
	if got := h.Stats().Rejected[httpmw.ReasonQueueTimeout]; got != 1 {
		t.Fatalf("queue_timeout count = %d, want 1", got)
	}
}

func TestPanicRecovered(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	mux.HandleFunc("/half", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("after the header")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fine") })
	rep := &panicRecorder{}
	h := protect(t, mux, httpmw.WithLogger(logger), httpmw.WithPanicReporter(rep))
	srv := serve(t, h)

	resp, body := get(t, srv.URL+"/boom", nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "internal server error") {
		t.Fatalf("panic answered %d %q, want 500", resp.StatusCode, body)
	}
	if resp, body := get(t, srv.URL+"/ok", nil); resp.StatusCode != http.StatusOK || body != "fine" {
		t.Fatalf("after the panic: %d %q", resp.StatusCode, body)
	}
	// A panic after the response began cuts the connection instead of faking a whole body.
	if r, err := http.Get(srv.URL + "/half"); err == nil {
		_, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err == nil {
			t.Fatal("a response cut by a panic read as complete")
		}
	}
	if got := h.Stats().Panics; got != 2 {
		t.Fatalf("panics = %d, want 2", got)
	}
	if got := rep.seen(); len(got) != 2 || got[0] != "kaboom" || got[1] != "after the header" {
		t.Fatalf("the reporter saw %q", got)
	}
	out := logs.String()
	for _, want := range []string{"panic recovered", "kaboom", "path=/boom", "goroutine", "server_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// panicRecorder is a PanicReporter that keeps what it was given.
type panicRecorder struct {
	mu     sync.Mutex
	values []string
}

func (p *panicRecorder) ReportPanic(_ context.Context, v any, stack []byte, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(stack) > 0 && r != nil {
		p.values = append(p.values, fmt.Sprint(v))
	}
}

func (p *panicRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.values...)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestRejectionsCarryTheContract(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	limited := protect(t, ok, httpmw.WithClock(clk), httpmw.WithRateLimit(1, 5*time.Second, nil))
	plain := protect(t, ok, httpmw.WithClock(clk))
	past := httpmw.FormatDeadline(clk.Now().Add(-time.Millisecond))
	future := httpmw.FormatDeadline(clk.Now().Add(time.Minute))

	tests := []struct {
		name         string
		h            http.Handler
		hdr          map[string]string
		status       int
		reason, wait string
	}{
		{"deadline passed", plain, map[string]string{httpmw.HeaderDeadline: past}, 503, httpmw.ReasonDeadline, "1"},
		{"bad deadline", plain, map[string]string{httpmw.HeaderDeadline: "soon"}, 400, httpmw.ReasonBadDeadline, ""},
		{"deadline ahead", plain, map[string]string{httpmw.HeaderDeadline: future}, 200, "", ""},
		{"first within the limit", limited, nil, 200, "", ""},
		{"over the limit", limited, nil, 429, httpmw.ReasonRateLimited, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, tt.h)
			resp, _ := get(t, srv.URL+"/x", tt.hdr)
			if resp.StatusCode != tt.status || resp.Header.Get(httpmw.HeaderReject) != tt.reason ||
				resp.Header.Get("Retry-After") != tt.wait {
				t.Fatalf("got %d reject=%q retry-after=%q, want %d %q %q", resp.StatusCode,
					resp.Header.Get(httpmw.HeaderReject), resp.Header.Get("Retry-After"), tt.status, tt.reason, tt.wait)
			}
		})
	}
}

// bbrAtOne returns a limiter whose estimate is one request in flight: one request of 100 ms
// completed in a 100 ms bucket, with no CPU source (so the inflight check always applies).
func bbrAtOne(t *testing.T, clk *clock.Fake) *adaptive.Limiter {
	t.Helper()
	l, err := adaptive.New(adaptive.WithClock(clk), adaptive.WithWindow(time.Second), adaptive.WithBuckets(10))
	if err != nil {
		t.Fatal(err)
	}
	tok := l.Start()
	clk.Advance(100 * time.Millisecond)
	tok.Done()
	clk.Advance(100 * time.Millisecond)
	if limit, limited := l.Capacity(); limit != 1 || !limited {
		t.Fatalf("capacity = %d %v, want 1 true", limit, limited)
	}
	return l
}

func TestLevelAwareShedding(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	levels := map[string]int{"/pay/": 1, "/badges/": 4, "/pay/promo": 3}
	tests := []struct {
		name   string
		trust  bool
		path   string
		level  string // Bulwark-Level sent
		status int
	}{
		{"level 1 route", false, "/pay/42", "", 200},
		{"level 4 route", false, "/badges/red", "", 503},
		{"longest pattern wins", false, "/pay/promo", "", 503},
		{"exact pattern only", false, "/pay/promo/x", "", 200},
		{"default level is 1", false, "/other", "", 200},
		{"untrusted header ignored", false, "/badges/red", "1", 503},
		{"trusted header lowers", true, "/pay/42", "4", 503},
		{"trusted header raises", true, "/badges/red", "1", 200},
		{"bad trusted header ignored", true, "/badges/red", "0", 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			opts := []httpmw.Option{httpmw.WithClock(clk), httpmw.WithLimiter(bbrAtOne(t, clk), shed.WithQueue(0)), httpmw.WithLevels(levels)}
			if tt.trust {
				opts = append(opts, httpmw.TrustLevelHeader())
			}
			srv := serve(t, protect(t, ok, opts...))
			hdr := map[string]string{}
			if tt.level != "" {
				hdr[httpmw.HeaderLevel] = tt.level
			}
			resp, _ := get(t, srv.URL+tt.path, hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s: %d, want %d", tt.path, resp.StatusCode, tt.status)
			}
			if tt.status == 503 && (resp.Header.Get(httpmw.HeaderReject) != httpmw.ReasonShed || resp.Header.Get("Retry-After") != "1") {
				t.Fatalf("shed answer lacks the contract: %v", resp.Header)
			}
		})
	}
}

func TestContextCarriesColorAndTrace(t *testing.T) {
	type seen struct{ color, traceparent string }
	got := make(chan seen, 1)
	h := protect(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := http.Header{}
		httpmw.TraceHeaders{}.Inject(r.Context(), out)
		got <- seen{color.From(r.Context()), out.Get("Traceparent")}
	}))
	srv := serve(t, h)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name string
		hdr  map[string]string
		want seen
	}{
		{"none", nil, seen{}},
		{"color", map[string]string{color.Header: "stress"}, seen{color: "stress"}},
		{"invalid color dropped", map[string]string{color.Header: "no good"}, seen{}},
		{"trace", map[string]string{"Traceparent": tp}, seen{traceparent: tp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get(t, srv.URL+"/", tt.hdr)
			if s := <-got; s != tt.want {
				t.Fatalf("handler saw %+v, want %+v", s, tt.want)
			}
		})
	}
}

func TestOptionsOnTheWrongSide(t *testing.T) {
	ok := http.NotFoundHandler()
	tests := []struct {
		name string
		opt  httpmw.Option
		want string
	}{
		{"transport option", httpmw.WithoutBreaker(), "WithoutBreaker applies to Transport"},
		{"bad workers", httpmw.WithWorkers(0, 0, 0), "WithWorkers"},
		{"bad level", httpmw.WithLevels(map[string]int{"/a": 5}), "level 5"},
		{"pattern without slash", httpmw.WithLevels(map[string]int{"a": 1}), "must start with /"},
		{"bad rate", httpmw.WithRateLimit(0, time.Second, nil), "WithRateLimit"},
		{"nil detector", httpmw.WithOverload(nil, 0), "nil detector"},
		{"bad default level", httpmw.WithDefaultLevel(9), "WithDefaultLevel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpmw.Protect(ok, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := httpmw.Protect(nil); err == nil {
		t.Fatal("Protect(nil) succeeded")
	}
}

func TestProtectConcurrentTotals(t *testing.T) {
	det, err := overload.New(overload.WithWorkers(8))
	if err != nil {
		t.Fatal(err)
	}
	bbr, err := adaptive.New()
	if err != nil {
		t.Fatal(err)
	}
	h := protect(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok")
	}), httpmw.WithLogger(slog.New(slog.DiscardHandler)), httpmw.WithOverload(det, time.Millisecond),
		httpmw.WithLimiter(bbr), httpmw.WithWorkers(4, 8, 50*time.Millisecond), httpmw.WithRateLimit(1000, time.Hour, nil))
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[int]int{}
			for i := range each {
				path := "/ok"
				if (g+i)%50 == 0 {
					path = "/boom"
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				local[rec.Code]++
			}
			mu.Lock()
			for c, n := range local {
				codes[c] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := h.Stats()
	var rejected uint64
	for _, n := range st.Rejected {
		rejected += n
	}
	total := uint64(goroutines * each)
	if st.Served+st.Panics+rejected != total || st.Inflight != 0 {
		t.Fatalf("served %d + panics %d + rejected %d != %d (inflight %d)", st.Served, st.Panics, rejected, total, st.Inflight)
	}
	if uint64(codes[http.StatusOK]) != st.Served || uint64(codes[http.StatusInternalServerError]) != st.Panics ||
		uint64(codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable]) != rejected {
		t.Fatalf("codes %v disagree with stats %+v", codes, st)
	}
	if st.Rejected[httpmw.ReasonRateLimited] != total-1000 {
		t.Fatalf("rate limited %d, want %d", st.Rejected[httpmw.ReasonRateLimited], total-1000)
	}
	if bbr.Inflight() != 0 || det.Inflight() != 0 {
		t.Fatalf("tokens leaked: bbr %d detector %d", bbr.Inflight(), det.Inflight())
	}
}

func TestAdmitPathAllocs(t *testing.T) {
	if raceOn {
		t.Skip("sync.Pool drops items under the race detector")
	}
	det, _ := overload.New(overload.WithWorkers(64))
	bbr, _ := adaptive.New()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name string
		opts []httpmw.Option
		max  float64
	}{
		{"bare", nil, 0},
		{"everything", []httpmw.Option{httpmw.WithOverload(det, 0), httpmw.WithLimiter(bbr),
			httpmw.WithWorkers(64, 0, 0), httpmw.WithLevels(map[string]int{"/a/": 1})}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := protect(t, ok, tt.opts...)
			w := newDiscardWriter()
			r := httptest.NewRequest(http.MethodGet, "/a/b", nil)
			if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) }); n > tt.max {
				t.Fatalf("%v allocations per request, want ≤ %v", n, tt.max)
			}
		})
	}
}

// discardWriter is a ResponseWriter without I/O, for allocation counts and benchmarks.
type discardWriter struct {
	h    http.Header
	code int
}

func newDiscardWriter() *discardWriter { return &discardWriter{h: http.Header{}} }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

func FuzzParseDeadline(f *testing.F) {
	for _, s := range []string{"", "0", "1700000000000", "-5", "+5", "1e3", "99999999999999999999", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dl, err := httpmw.ParseDeadline(s)
		if err != nil {
			if !errors.Is(err, httpmw.ErrBadDeadline) {
				t.Fatalf("error %v is not ErrBadDeadline", err)
			}
			return
		}
		if got := httpmw.FormatDeadline(dl); got != strings.TrimLeft(s, "0") && !(got == "0" && strings.Trim(s, "0") == "") {
			t.Fatalf("ParseDeadline(%q) round-trips to %q", s, got)
		}
	})
}

// TestClientLeftWhileWaiting: a client that gives up while waiting for a worker is counted as
// client_closed, not as a refusal of the server's own.
func TestClientLeftWhileWaiting(t *testing.T) {
	clk := clock.NewFake(time.Now())
	g := newGate(t)
	h := protect(t, g, httpmw.WithClock(clk), httpmw.WithWorkers(1, 0, 0))
	srv := serve(t, h)
	holder := background(t, srv.URL, 1)
	g.wait(t, 1)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/fast", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	clk.BlockUntil(1) // it waits for the worker
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want canceled", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Rejected[httpmw.ReasonCanceled] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the left client was not counted as %s", h.Stats(), httpmw.ReasonCanceled)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := h.Stats(); st.Rejected[httpmw.ReasonQueueTimeout] != 0 {
		t.Fatalf("counted as queue_timeout too: %+v", st)
	}
	g.open()
	holder()
}
