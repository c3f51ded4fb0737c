package upstream

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/shed"
)

var _ shed.Capacity = (*Pool)(nil)

// TestPressureFromLatencyInflation: on a fake clock, attempts of 10 ms teach
// the limiter minRt = 10 ms; recent attempts of 30 ms read as pressure
// 1000 × (1 − 10/30) = 666 ‰, at or above 500 ‰, which limits the pool once it
// holds more attempts than its estimate. Back at 10 ms the pressure falls to 0
// within the recent window.
func TestPressureFromLatencyInflation(t *testing.T) {
	p, clk, _ := fakePool(t, Options{Hosts: addrs(1)})
	run := func(rt time.Duration, d time.Duration) {
		for end := clk.Now().Add(d); clk.Now().Before(end); {
			a, err := p.Acquire(nil)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(rt)
			a.Done(Outcome{Latency: rt})
			p.Capacity() // the gate recomputes at most every 100 ms
		}
	}
	if limit, limited := p.Capacity(); limit != adaptive.Unlimited || limited {
		t.Fatalf("cold start: %d %v, want Unlimited, not limited", limit, limited)
	}
	run(10*time.Millisecond, 2*time.Second)
	ps := p.Pressure()
	if ps.Limited || ps.PerMille != 0 || ps.MinRt != 10*time.Millisecond || ps.RecentRt != 10*time.Millisecond {
		t.Fatalf("steady 10 ms: %+v, want pressure 0, not limited", ps)
	}
	run(30*time.Millisecond, 1500*time.Millisecond)
	ps = p.Pressure()
	if ps.Limited || ps.PerMille != 666 || ps.RecentRt != 30*time.Millisecond {
		t.Fatalf("30 ms against minRt 10 ms, nothing in flight: %+v, want 666 ‰, not limited", ps)
	}
	// maxPass 10 per 100 ms bucket × minRt 10 ms / 100 ms = 1 in flight, raised
	// to the floor of MinPerHost per host: 2. A third attempt in flight is beyond it.
	var held []Attempt
	for i := 1; i <= 3; i++ {
		a, _ := p.Acquire(nil)
		held = append(held, a)
		limit, limited := p.Capacity()
		if want := i > 2; limit != 2 || limited != want {
			t.Fatalf("%d in flight: Capacity = %d, %v; want 2, %v", i, limit, limited, want)
		}
	}
	clk.Advance(30 * time.Millisecond)
	for _, a := range held {
		a.Done(Outcome{Latency: 30 * time.Millisecond})
	}
	run(10*time.Millisecond, 1500*time.Millisecond)
	if ps = p.Pressure(); ps.Limited || ps.PerMille != 0 {
		t.Fatalf("back to 10 ms: %+v, want not limited", ps)
	}
}

// TestPressureFromOverload: any overload report makes the pool limited for
// OverloadFor, whatever the latency says.
func TestPressureFromOverload(t *testing.T) {
	hosts := addrs(2)
	p, clk, _ := fakePool(t, Options{Hosts: hosts})
	report(t, p, hosts[1], 1, overOK)
	ps := p.Pressure()
	if !ps.Limited || ps.PerMille != 1000 || len(ps.OverloadedHosts) != 1 || ps.OverloadedHosts[0] != hosts[1] {
		t.Fatalf("after an overload report: %+v", ps)
	}
	clk.Advance(999 * time.Millisecond)
	if _, limited := p.Capacity(); !limited {
		t.Fatal("not limited before OverloadFor passed")
	}
	clk.Advance(time.Millisecond)
	if ps = p.Pressure(); ps.Limited || ps.PerMille != 0 || ps.OverloadedHosts != nil {
		t.Fatalf("after OverloadFor: %+v", ps)
	}
}

// TestPressureNeedsVolume: a handful of slow attempts is not evidence of
// queueing.
func TestPressureNeedsVolume(t *testing.T) {
	p, clk, _ := fakePool(t, Options{Hosts: addrs(1)})
	for range 5 {
		a, _ := p.Acquire(nil)
		clk.Advance(10 * time.Millisecond)
		a.Done(ok)
	}
	clk.Advance(2 * time.Second)
	for range PressureMinSamples - 1 {
		a, _ := p.Acquire(nil)
		clk.Advance(100 * time.Millisecond)
		a.Done(ok)
	}
	if ps := p.Pressure(); ps.Limited || ps.PerMille != 0 || ps.MinRt != 10*time.Millisecond {
		t.Fatalf("%d slow attempts: %+v, want no pressure", PressureMinSamples-1, ps)
	}
}

// TestPressureSimulatedBackend: a real HTTP backend with W = 4 worker slots
// and a fixed service time S = 20 ms (capacity 200 req/s). At 0.3× capacity
// the pool is not limited; with 3× W clients in a closed loop (requests queue
// for slots: latency ≈ 3 S) it is limited, with a limit near W. Real time,
// bounded to about 2.5 s; coarse assertions only.
func TestPressureSimulatedBackend(t *testing.T) {
	const (
		workers = 4
		service = 20 * time.Millisecond
	)
	slots := make(chan struct{}, workers)
	b := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slots <- struct{}{}
		time.Sleep(service)
		<-slots
	}))
	p, err := New(Options{Hosts: []string{b.addr}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	do := func() {
		_, _, _ = send(p, client, nil, func(string) {})
	}

	// Phase 1: 0.3× capacity, 60 req/s open loop, for 1 s.
	var wg sync.WaitGroup
	var limitedLight atomic.Int32
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for sent := 0; sent < 60; {
		<-tick.C
		for due := min(int(time.Since(start)*60/time.Second), 60); sent < due; sent++ {
			wg.Go(do)
		}
		if _, limited := p.Capacity(); limited {
			limitedLight.Add(1)
		}
	}
	tick.Stop()
	wg.Wait()
	light := p.Pressure()
	t.Logf("0.3×: %+v", light)
	if light.Limited || limitedLight.Load() > 0 {
		t.Fatalf("limited at 0.3× capacity (%d times): %+v", limitedLight.Load(), light)
	}

	// Phase 2: 3× — 3W clients in a closed loop for at most 1.5 s.
	var heavy PressureStatus
	stop := make(chan struct{})
	for range 3 * workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					do()
				}
			}
		})
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
		if heavy = p.Pressure(); heavy.Limited && time.Until(deadline) < time.Second {
			break // limited, after at least 0.5 s of load
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("3×: %+v", heavy)
	if !heavy.Limited {
		t.Fatalf("not limited at 3× capacity: %+v", heavy)
	}
	if heavy.Limit < workers/2 || heavy.Limit > workers*2 {
		t.Fatalf("limit %d, want within a factor 2 of W = %d", heavy.Limit, workers)
	}
}

// TestFailing: a pool is failing while a host it has not drained is out of the healthy
// state; a drained host does not count.
func TestFailing(t *testing.T) {
	hosts := addrs(2)
	p, _, _ := fakePool(t, Options{Hosts: hosts})
	if p.Failing() {
		t.Fatal("a fresh pool is failing")
	}
	if err := p.Drain(hosts[0]); err != nil {
		t.Fatal(err)
	}
	if p.Failing() {
		t.Fatal("a drained host made the pool failing")
	}
	report(t, p, hosts[1], 1, overOK) // an overload report
	if !p.Failing() {
		t.Fatal("an overloaded host did not make the pool failing")
	}
}
