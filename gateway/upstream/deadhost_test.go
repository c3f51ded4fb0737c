package upstream

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// classify turns a client result into an Outcome kind, as the gateway does.
func classify(resp *http.Response, err error) Kind {
	if err == nil {
		if resp.StatusCode >= 500 {
			return Status5xx
		}
		return OK
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ConnectError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return OtherError
}

// send makes one attempt through the pool with a real client and reports it.
func send(p *Pool, c *http.Client, exclude *Host, pick func(addr string)) (Attempt, Kind, error) {
	a, err := p.Acquire(exclude)
	if err != nil {
		return a, 0, err
	}
	pick(a.Host().Addr())
	start := time.Now()
	resp, err := c.Get("http://" + a.Host().Addr() + "/work")
	k := classify(resp, err)
	if err == nil {
		_ = resp.Body.Close()
	}
	a.Done(Outcome{Err: k, Latency: time.Since(start)})
	return a, k, nil
}

// TestDeadHostStopsGettingTrafficWithin2s is the target: with the
// default settings, a host that dies (its listener and connections closed, so
// new connections are refused) at 100 requests per second stops receiving
// traffic within 2 s. Two real backends; the driver sends 100 req/s through
// Acquire, a real http.Client and Done, retrying a failed attempt once on
// another host as the gateway does, for a bounded 3.5 s. The host killed is
// the one P2C sent more traffic to, the hard case: it keeps being preferred
// until it is ejected, because a fast failure does not lower its EWMA.
//
// Picks are dated by each request's intended send time (the open-model
// schedule, as loadgen dates latencies), so a machine too busy to keep the
// schedule delays requests but does not move picks past the 2 s line.
func TestDeadHostStopsGettingTrafficWithin2s(t *testing.T) {
	backends := []*backend{newBackend(t, nil), newBackend(t, nil)}
	var mu sync.Mutex
	var victim string
	var killed, ejectedAt time.Time
	pickTimes := map[string][]time.Time{}
	var served, failed int
	p, err := New(Options{
		Hosts:  []string{backends[0].addr, backends[1].addr},
		Health: config.Health{Path: "/healthz"}, // defaults: 1 s interval, unhealthy after 2
		OnStateChange: func(host string, from, to State) {
			mu.Lock()
			defer mu.Unlock()
			if host == victim && ejectedAt.IsZero() && (to == Erroring || to == Unavailable) {
				ejectedAt = time.Now()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer p.Stop()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	request := func(intended time.Time) {
		pick := func(addr string) {
			mu.Lock()
			pickTimes[addr] = append(pickTimes[addr], intended)
			mu.Unlock()
		}
		at, k, err := send(p, client, nil, pick)
		if err == nil && k != OK && k != Canceled {
			_, k, err = send(p, client, at.Host(), pick) // the local retry
		}
		mu.Lock()
		if err == nil && k == OK {
			served++
		} else {
			failed++
		}
		mu.Unlock()
	}
	kill := func() {
		mu.Lock()
		b := backends[0]
		if len(pickTimes[backends[1].addr]) > len(pickTimes[b.addr]) {
			b = backends[1]
		}
		victim = b.addr
		mu.Unlock()
		b.kill()
		mu.Lock()
		killed = time.Now()
		mu.Unlock()
	}

	const (
		rate    = 100
		total   = 3500 * time.Millisecond
		killAt  = 500 * time.Millisecond
		target  = 2 * time.Second
		maxReqs = int(total * rate / time.Second)
	)
	// Open-model pacing: timers on a loaded machine are coarse, so each wake-up
	// sends every request that is due by now.
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	start := time.Now()
	for sent := 0; sent < maxReqs; {
		<-tick.C
		elapsed := time.Since(start)
		if victim == "" && elapsed >= killAt {
			kill()
		}
		for due := min(int(elapsed*rate/time.Second), maxReqs); sent < due; sent++ {
			intended := start.Add(time.Duration(sent) * time.Second / rate)
			wg.Go(func() { request(intended) })
		}
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if time.Since(killed) < target+500*time.Millisecond {
		t.Fatalf("the run was too short to judge: %v since the kill", time.Since(killed))
	}
	var last time.Time
	before, after := 0, 0
	live := 0
	for addr, ts := range pickTimes {
		for _, at := range ts {
			if addr != victim && at.After(killed) {
				live++
			}
		}
	}
	for _, at := range pickTimes[victim] {
		if !at.After(killed) {
			before++
			continue
		}
		after++
		last = at
		if at.After(killed.Add(target)) {
			t.Errorf("dead host picked %v after it died", at.Sub(killed))
		}
	}
	if ejectedAt.IsZero() {
		t.Fatal("the dead host was never ejected")
	}
	t.Logf("dead host (%d picks before death): ejected %v after it died (wall clock); %d picks after death, the last scheduled %v after; live host %d picks after; %d served, %d failed",
		before, ejectedAt.Sub(killed), after, max(last.Sub(killed), 0), live, served, failed)
	if want := (maxReqs - before - after) / 2; live < want {
		t.Fatalf("the live host took %d requests after the death, want ≥ %d", live, want)
	}
}
