package upstream

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/gateway/config"
)

// TestP2CPrefersTheFastHost: with simulated latencies of 5 ms and 50 ms, P2C
// sends the fast host every pick it is a candidate for.
func TestP2CPrefersTheFastHost(t *testing.T) {
	tests := []struct {
		name     string
		hosts    int
		minShare float64 // of the picks going to the fast host
	}{
		{"two hosts", 2, 0.99},  // always a candidate
		{"three hosts", 3, 0.6}, // a candidate in 2/3 of the draws
		{"five hosts", 5, 0.35}, // 2/5
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := addrs(tt.hosts)
			p, clk, _ := fakePool(t, Options{Hosts: hosts})
			latency := func(addr string) time.Duration {
				if addr == hosts[0] {
					return 5 * time.Millisecond
				}
				return 50 * time.Millisecond
			}
			const n = 3000
			got := map[string]int{}
			for range n {
				a, err := p.Acquire(nil)
				if err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Millisecond)
				got[a.Host().Addr()]++
				a.Done(Outcome{Latency: latency(a.Host().Addr())})
			}
			if share := float64(got[hosts[0]]) / n; share < tt.minShare {
				t.Fatalf("fast host got %.2f of the picks (%v), want ≥ %.2f", share, got, tt.minShare)
			}
		})
	}
}

// TestP2CWeighsInflight: a fast host with many attempts in flight loses to an
// idle slower one (cost = EWMA × (inflight+1)).
func TestP2CWeighsInflight(t *testing.T) {
	hosts := addrs(2)
	p, _, _ := fakePool(t, Options{Hosts: hosts})
	on(t, p, hosts[0]).Done(Outcome{Latency: 5 * time.Millisecond})
	on(t, p, hosts[1]).Done(Outcome{Latency: 20 * time.Millisecond})
	var held []Attempt
	for range 4 { // 5 ms × 5 = 25 ms > 20 ms × 1
		held = append(held, on(t, p, hosts[0]))
	}
	a, err := p.Acquire(nil)
	if err != nil || a.Host().Addr() != hosts[1] {
		t.Fatalf("picked %v (%v), want the idle slower host", a.Host(), err)
	}
	a.Done(ok)
	for _, h := range held {
		h.Done(ok)
	}
}

// TestNewHostPenalty: a host with no latency sample is tried while idle, and
// avoided while its first attempt is in flight.
func TestNewHostPenalty(t *testing.T) {
	hosts := addrs(2)
	p, _, _ := fakePool(t, Options{Hosts: hosts})
	on(t, p, hosts[0]).Done(Outcome{Latency: 50 * time.Millisecond})
	first, _ := p.Acquire(nil)
	if first.Host().Addr() != hosts[1] {
		t.Fatalf("idle new host not preferred: %s", first.Host().Addr())
	}
	if got := picks(t, p, 20, nil); got[hosts[1]] != 0 {
		t.Fatalf("new host with an attempt in flight picked: %v", got)
	}
	first.Done(ok)
}

// TestSlowHostIsRetriedAfterDecay: the EWMA decays toward 0 between samples
// (τ = 10 s), so a host that answered in 50 ms once, next to one that answers
// in 5 ms, is tried again once its sample is τ·ln 10 ≈ 23 s older than the
// fast host's: with one pick a second, the fast one last sampled a second
// before each pick, at the 25th second.
func TestSlowHostIsRetriedAfterDecay(t *testing.T) {
	hosts := addrs(2)
	p, clk, _ := fakePool(t, Options{Hosts: hosts})
	on(t, p, hosts[0]).Done(Outcome{Latency: 50 * time.Millisecond})
	for sec := 1; sec <= 30; sec++ {
		clk.Advance(time.Second)
		a, err := p.Acquire(nil)
		if err != nil {
			t.Fatal(err)
		}
		slow := a.Host().Addr() == hosts[0]
		a.Done(Outcome{Latency: 5 * time.Millisecond})
		if slow {
			if sec != 25 {
				t.Fatalf("slow host retried after %d s, want 25 s", sec)
			}
			return
		}
	}
	t.Fatal("slow host never retried in 30 s")
}

func TestRoundRobin(t *testing.T) {
	hosts := addrs(3)
	p, _, _ := fakePool(t, Options{Hosts: hosts, Policy: PolicyRoundRobin})
	got := picks(t, p, 300, nil)
	for _, h := range hosts {
		if got[h] != 100 {
			t.Fatalf("round robin picks %v, want 100 each", got)
		}
	}
	got = picks(t, p, 100, p.Host(hosts[1]))
	if got[hosts[1]] != 0 || got[hosts[0]] != 50 || got[hosts[2]] != 50 {
		t.Fatalf("round robin excluding %s: %v", hosts[1], got)
	}
}

func TestExclude(t *testing.T) {
	for _, policy := range []string{PolicyP2CEWMA, PolicyRoundRobin} {
		t.Run(policy, func(t *testing.T) {
			hosts := addrs(3)
			p, _, _ := fakePool(t, Options{Hosts: hosts, Policy: policy})
			for _, ex := range hosts {
				got := picks(t, p, 200, p.Host(ex))
				if got[ex] != 0 || len(got) != 2 {
					t.Fatalf("excluding %s: %v", ex, got)
				}
			}
			single, _, _ := fakePool(t, Options{Hosts: hosts[:1], Policy: policy})
			if _, err := single.Acquire(single.Host(hosts[0])); !errors.Is(err, ErrNoHost) {
				t.Fatalf("excluding the only host: %v", err)
			}
			other, _, _ := fakePool(t, Options{Hosts: addrs(1)})
			if got := picks(t, p, 10, other.Host(hosts[0])); len(got) < 2 {
				t.Fatalf("a host of another pool as exclude changed the picks: %v", got)
			}
		})
	}
}

// TestOverloadedHostIsDePreferred: an overloaded host takes traffic only when
// no other host can.
func TestOverloadedHostIsDePreferred(t *testing.T) {
	hosts := addrs(2)
	p, clk, _ := fakePool(t, Options{Hosts: hosts})
	report(t, p, hosts[0], 1, Outcome{Latency: time.Millisecond, Overload: true}) // as fast as picks reports
	if got := picks(t, p, 100, nil); got[hosts[0]] != 0 {
		t.Fatalf("overloaded host picked with a healthy one available: %v", got)
	}
	if got := picks(t, p, 10, p.Host(hosts[1])); got[hosts[0]] != 10 {
		t.Fatalf("overloaded host not used as the fallback: %v", got)
	}
	clk.Advance(time.Second)
	if got := picks(t, p, 100, nil); got[hosts[0]] == 0 {
		t.Fatalf("host not back in rotation after OverloadFor: %v", got)
	}
}

// TestBreakerFallback: a host whose breaker refuses is passed over; when every
// breaker refuses, Acquire says so with an error matching breaker.ErrOpen.
func TestBreakerFallback(t *testing.T) {
	hosts := addrs(3)
	p, _, _ := fakePool(t, Options{
		Hosts:   hosts,
		Breaker: config.Breaker{Kind: "classic", OpenTimeout: config.Duration(time.Minute)},
		Passive: config.PassiveCheck{ConsecutiveFailures: 1000, MinRequests: 1000},
	})
	report(t, p, hosts[0], 5, fail5xx) // the classic breaker opens after 5 failures in a row
	if got := picks(t, p, 300, nil); got[hosts[0]] != 0 || got[hosts[1]] == 0 || got[hosts[2]] == 0 {
		t.Fatalf("picks with one breaker open: %v", got)
	}
	report(t, p, hosts[1], 5, fail5xx)
	if got := picks(t, p, 100, nil); got[hosts[2]] != 100 {
		t.Fatalf("picks with two breakers open: %v", got)
	}
	report(t, p, hosts[2], 5, fail5xx)
	_, err := p.Acquire(nil)
	if !errors.Is(err, ErrBreakersOpen) || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("every breaker open: %v, want ErrBreakersOpen matching breaker.ErrOpen", err)
	}
	for i, st := range p.Hosts() {
		if st.State != Healthy || st.Breaker != "open" {
			t.Fatalf("host %d: %v breaker %s, want healthy with an open breaker", i, st.State, st.Breaker)
		}
	}
}

// TestCanceledIsNotABreakerFailure: cancels never open a classic breaker.
func TestCanceledIsNotABreakerFailure(t *testing.T) {
	p, _, _ := fakePool(t, Options{Hosts: addrs(1), Breaker: config.Breaker{Kind: "classic"}})
	report(t, p, "10.0.0.1:80", 50, canceled)
	if st := p.Hosts()[0]; st.Breaker != "closed" || st.State != Healthy || st.Canceled != 50 {
		t.Fatalf("after 50 cancels: %+v", st)
	}
}

// TestAcquireDoneAllocs pins the hot path at zero allocations, on the real clock.
func TestAcquireDoneAllocs(t *testing.T) {
	for _, policy := range []string{PolicyP2CEWMA, PolicyRoundRobin} {
		t.Run(policy, func(t *testing.T) {
			p, err := New(Options{Hosts: addrs(3), Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			ex := p.Host("10.0.0.2:80")
			allocs := testing.AllocsPerRun(1000, func() {
				a, err := p.Acquire(ex)
				if err != nil {
					t.Fatal(err)
				}
				a.Done(Outcome{Latency: time.Millisecond})
			})
			if allocs != 0 {
				t.Fatalf("Acquire+Done: %v allocs, want 0", allocs)
			}
			allocs = testing.AllocsPerRun(100, func() { _, _ = p.Capacity() })
			if allocs != 0 {
				t.Fatalf("Capacity: %v allocs, want 0", allocs)
			}
		})
	}
}

// TestDoneElapsed: Elapsed measures from Acquire on the pool's clock, and DoneElapsed
// records the same round trip as Done without reading the clock again.
func TestDoneElapsed(t *testing.T) {
	p, clk, _ := fakePool(t, Options{Hosts: addrs(1)})
	a, err := p.Acquire(nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(12 * time.Millisecond)
	lat := a.Elapsed()
	if lat != 12*time.Millisecond {
		t.Fatalf("Elapsed = %v, want 12ms", lat)
	}
	a.DoneElapsed(Outcome{Latency: lat})
	h := p.Hosts()[0]
	if h.EWMA != 12*time.Millisecond || h.Inflight != 0 || h.Successes != 1 {
		t.Fatalf("after DoneElapsed: %+v", h)
	}
	if (Attempt{}).Elapsed() != 0 {
		t.Fatal("zero Attempt: Elapsed != 0")
	}
	Attempt{}.DoneElapsed(Outcome{}) // must not panic
}

func TestDecayWeight(t *testing.T) {
	for _, y := range []float64{0, 1e-9, 1e-6, 5e-4, 9.99e-4, 1e-3, 0.01, 0.5, 1, 3, 50} {
		if got, want := decayWeight(y), math.Exp(-y); math.Abs(got-want) > 5e-7 {
			t.Errorf("decayWeight(%v) = %v, want %v ± 5e-7", y, got, want)
		}
	}
}
