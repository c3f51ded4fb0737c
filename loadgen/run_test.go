package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// noLeaks fails the test if goroutines started during it are still running after a bounded
// wait (HTTP transports close their connections asynchronously).
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// server starts a loopback HTTP server that closes with the test.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestRunAccountsForEverySend(t *testing.T) {
	var hits, a, b, colored atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get(ColorHeader) == "stress" {
			colored.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/a":
			a.Add(1)
		case "/b":
			if string(body) == "payload" && r.Header.Get("X-K") == "v" {
				b.Add(1)
			}
		}
		io.WriteString(w, "ok")
	})
	noLeaks(t)
	var ticks atomic.Int64
	rep, err := Run(context.Background(), Config{
		Targets: []Target{
			{URL: srv.URL + "/a", Weight: 1},
			{Method: "POST", URL: srv.URL + "/b", Header: http.Header{"X-K": {"v"}}, Body: []byte("payload"), Weight: 3},
		},
		Schedule: Constant(400), Duration: 1500 * time.Millisecond, Warmup: 250 * time.Millisecond,
		Color: "stress", OnTick: func(Snapshot) { ticks.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheduled != 500 || rep.Sent != rep.Scheduled || rep.Completed != rep.Sent || rep.Status[200] != rep.Completed || rep.Dropped != 0 || rep.Errors != 0 {
		t.Fatalf("accounting: %+v", rep)
	}
	if rep.WarmupRequests != 100 || hits.Load() != 600 || colored.Load() != 600 || a.Load()+b.Load() != 600 {
		t.Fatalf("warm-up %d, server saw %d (colored %d, a %d, b %d), want 100 and 600", rep.WarmupRequests, hits.Load(), colored.Load(), a.Load(), b.Load())
	}
	if share := float64(b.Load()) / 600; share < 0.68 || share > 0.82 {
		t.Fatalf("weight 3 of 4 got share %.2f", share)
	}
	if rep.Latency.TotalCount() != rep.Completed || rep.Duration != 1250*time.Millisecond || ticks.Load() < 1 {
		t.Fatalf("histogram %d, duration %v, ticks %d", rep.Latency.TotalCount(), rep.Duration, ticks.Load())
	}
}

func TestStopRuleEndsRun(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RejectHeader, "shed")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	noLeaks(t)
	rule, err := ParseRule("error_rate>5% over 1s")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Run(context.Background(), Config{
		Targets: []Target{{URL: srv.URL}}, Schedule: Constant(200), Duration: 20 * time.Second,
		Warmup: 500 * time.Millisecond, StopIf: []Rule{rule},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != "error_rate>5% over 1s" || rep.StopValue != "100.00%" {
		t.Fatalf("stopped by %q (%q)", rep.StoppedBy, rep.StopValue)
	}
	if took := time.Since(start); took > 5*time.Second || rep.Duration > 2*time.Second {
		t.Fatalf("took %v, report duration %v; the rule should stop it after ~1 s", took, rep.Duration)
	}
	if rep.Rejects["shed"] != rep.Completed || rep.Status[503] != rep.Completed || rep.Completed == 0 {
		t.Fatalf("rejects %v status %v", rep.Rejects, rep.Status)
	}
}

func TestDropsAndLateSendsAreCounted(t *testing.T) {
	release := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
	})
	noLeaks(t)
	go func() { time.Sleep(600 * time.Millisecond); close(release) }()
	rep, err := Run(context.Background(), Config{
		Targets: []Target{{URL: srv.URL}}, Schedule: Constant(500), Duration: time.Second,
		MaxWorkers: 2, Backlog: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheduled != 500 || rep.Sent+rep.Dropped+rep.Cancelled != rep.Scheduled || rep.Completed+rep.Errors != rep.Sent {
		t.Fatalf("lost a send: %+v", rep)
	}
	// 2 workers hold the first 2 requests for 0.6 s while 300 more are due: the backlog takes
	// 50 and the rest are dropped; those 50 go out late.
	if rep.Dropped < 200 || rep.Late < 50 {
		t.Fatalf("dropped %d late %d", rep.Dropped, rep.Late)
	}
	if rep.Percentile(100) < 500*time.Millisecond {
		t.Fatalf("max latency %v hides the wait", rep.Percentile(100))
	}
}

func TestCancelInterruptsRun(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {})
	noLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	rep, err := Run(ctx, Config{
		Targets: []Target{{URL: srv.URL}}, Schedule: Constant(100), Duration: 30 * time.Second,
		OnTick: func(Snapshot) { once.Do(cancel) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != "interrupted" || rep.Duration > 3*time.Second || rep.Sent < 90 {
		t.Fatalf("stopped by %q after %v with %d sent", rep.StoppedBy, rep.Duration, rep.Sent)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	ok := []Target{{URL: "http://127.0.0.1:1/"}}
	for name, cfg := range map[string]Config{
		"no targets":     {Schedule: Constant(1)},
		"no schedule":    {Targets: ok},
		"warm-up ≥ run":  {Targets: ok, Schedule: Constant(1), Duration: time.Second, Warmup: time.Second},
		"negative":       {Targets: ok, Schedule: Constant(1), Duration: -time.Second},
		"relative URL":   {Targets: []Target{{URL: "/x"}}, Schedule: Constant(1)},
		"not http":       {Targets: []Target{{URL: "ftp://h/x"}}, Schedule: Constant(1)},
		"method w/ a sp": {Targets: []Target{{Method: "G T", URL: "http://h/"}}, Schedule: Constant(1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrConfig) && !errors.Is(err, ErrTarget) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestRecorderHammer records from many goroutines while the tick drains the per-second data,
// and checks that no count is lost.
func TestRecorderHammer(t *testing.T) {
	r := newRecorder()
	const g, n = 8, 2000
	var wg sync.WaitGroup
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range n {
				o := outcome{measured: k%2 == 0, start: time.Unix(int64(k), 0), latency: time.Millisecond, status: 200 + i%2*300}
				if k%10 == 0 {
					o.errKind, o.status = kindTimeout, 0
				}
				r.record(&o)
			}
		}()
	}
	sec := second{latency: newIvHist()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			r.drainInterval(&sec)
		}
	}()
	wg.Wait()
	<-done
	r.drainInterval(&sec)
	if sec.c.sent != g*n || sec.c.errors != g*n/10 || sec.c.completed != g*n*9/10 || sec.latency.TotalCount() != g*n*9/10 {
		t.Fatalf("interval totals %+v, hist %d", sec.c, sec.latency.TotalCount())
	}
	if r.total.sent != g*n/2 || r.warmup != g*n/2 || r.status[200]+r.status[500] != r.total.completed || r.total.status5xx != r.status[500] {
		t.Fatalf("totals %+v warmup %d status %v", r.total, r.warmup, r.status)
	}
}

func TestRecordAllocs(t *testing.T) {
	r := newRecorder()
	o := outcome{measured: true, start: time.Now(), latency: time.Millisecond, service: time.Millisecond, status: 200}
	r.record(&o)
	if a := testing.AllocsPerRun(1000, func() { r.record(&o) }); a != 0 {
		t.Fatalf("record allocates %v", a)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := newRecorder()
	o := outcome{measured: true, start: time.Now(), latency: time.Millisecond, service: time.Millisecond, status: 200}
	b.ReportAllocs()
	for b.Loop() {
		r.record(&o)
	}
}

// TestRulesIgnoreTheWarmup is the regression test for a rule that judged the last warm-up
// second: errors during the warm-up must not stop the run.
func TestRulesIgnoreTheWarmup(t *testing.T) {
	start := time.Now()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < 900*time.Millisecond {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	noLeaks(t)
	rule, _ := ParseRule("error_rate>5%")
	rep, err := Run(context.Background(), Config{
		Targets: []Target{{URL: srv.URL}}, Schedule: Constant(100), Duration: 2500 * time.Millisecond,
		Warmup: time.Second, StopIf: []Rule{rule},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != "" || rep.Status[200] != 150 || rep.WarmupRequests != 100 {
		t.Fatalf("stopped by %q (%s); status %v, warm-up %d", rep.StoppedBy, rep.StopValue, rep.Status, rep.WarmupRequests)
	}
}
