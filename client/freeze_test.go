package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// liveProbe is a TCP listener that accepts and counts connections.
func liveProbe(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var accepts atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			_ = conn.Close()
		}
	}()
	return ln.Addr().String(), &accepts
}

func TestBothDownNetworkUpFreezes(t *testing.T) {
	probeAddr, accepts := liveProbe(t)
	other := newTestCenter(t, cutOff) // down: closes every connection
	const freezeFor = 10 * time.Second
	r := newRig(t, "http://"+deadAddr(t), other.URL, func(c *Config) {
		c.Probe = probeAddr
		c.FreezeFor = freezeFor
	})
	wantUntil := r.fake.Now().Add(freezeFor)

	_, _, err := r.get(t, target)
	var bd *BothDownError
	var fe *FrozenError
	switch {
	case !errors.Is(err, ErrFrozen) || !errors.Is(err, ErrBothDown):
		t.Fatalf("err = %v, want ErrFrozen and ErrBothDown", err)
	case !errors.Is(err, syscall.ECONNREFUSED):
		t.Errorf("err = %v, want the home attempt's ECONNREFUSED inside", err)
	case !errors.As(err, &bd) || bd.Home == nil || bd.Other == nil:
		t.Errorf("err = %#v, want a *BothDownError with both attempts", err)
	case !errors.As(err, &fe) || !fe.Until.Equal(wantUntil):
		t.Errorf("err = %v, want a *FrozenError until %v", err, wantUntil)
	}
	if until, ok := r.FrozenUntil(); !ok || !until.Equal(wantUntil) {
		t.Errorf("FrozenUntil = %v, %v; want %v, true", until, ok, wantUntil)
	}
	waitFor(t, "the probe's connection", func() bool { return accepts.Load() == 1 })

	// Frozen: every call fails at once with no I/O, until FreezeFor has passed.
	netCalls, otherHits := r.tr.calls.Load(), other.hits.Load()
	for _, step := range []time.Duration{0, freezeFor / 2, freezeFor/2 - time.Nanosecond} {
		r.fake.Advance(step)
		_, _, err := r.get(t, target)
		if !errors.As(err, &fe) || !fe.Until.Equal(wantUntil) || errors.Is(err, ErrBothDown) {
			t.Fatalf("while frozen: err = %v, want only a *FrozenError until %v", err, wantUntil)
		}
	}
	if r.tr.calls.Load() != netCalls || other.hits.Load() != otherHits || accepts.Load() != 1 {
		t.Errorf("I/O while frozen: transport %d→%d, other hits %d→%d, probes %d",
			netCalls, r.tr.calls.Load(), otherHits, other.hits.Load(), accepts.Load())
	}
	if n := r.m.frozenRejections.Load(); n != 3 {
		t.Errorf("frozen rejections = %d, want 3", n)
	}

	// Recovery: the freeze ends by the clock; the other center is back.
	other.set(say(200, "", "from bj"))
	r.fake.Advance(time.Nanosecond)
	if _, ok := r.FrozenUntil(); ok {
		t.Fatal("still frozen after FreezeFor")
	}
	code, body, err := r.get(t, target)
	if err != nil || code != 200 || body != "from bj" {
		t.Fatalf("after the freeze: got %d %q %v, want 200 from bj", code, body, err)
	}
	if r.m.freezes.Load() != 1 || r.m.probes[probeUp].Load() != 1 || r.callCount(callFrozen) != 4 {
		t.Errorf("freezes %d, probes up %d, calls frozen %d; want 1, 1, 4",
			r.m.freezes.Load(), r.m.probes[probeUp].Load(), r.callCount(callFrozen))
	}
}

func TestBothDownNetworkDown(t *testing.T) {
	tests := []struct {
		name  string
		probe func(t *testing.T) string
	}{
		{"tcp probe to a dead port", func(t *testing.T) string { return deadAddr(t) }},
		{"http probe to a dead port", func(t *testing.T) string { return "http://" + deadAddr(t) + "/ping" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "http://"+deadAddr(t), "http://"+deadAddr(t), func(c *Config) { c.Probe = tt.probe(t) })
			for i := range 2 {
				before := r.tr.calls.Load()
				_, _, err := r.get(t, target)
				if !errors.Is(err, ErrNetworkDown) || !errors.Is(err, ErrBothDown) || errors.Is(err, ErrFrozen) {
					t.Fatalf("call %d: err = %v, want ErrNetworkDown, not ErrFrozen", i, err)
				}
				if _, ok := r.FrozenUntil(); ok {
					t.Fatal("frozen although the network is down")
				}
				if r.tr.calls.Load() < before+2 {
					t.Errorf("call %d: no I/O to both centers", i)
				}
			}
			if r.m.probes[probeDown].Load() != 2 || r.m.freezes.Load() != 0 || r.callCount(callNetworkDown) != 2 {
				t.Errorf("probes down %d, freezes %d, calls network_down %d; want 2, 0, 2",
					r.m.probes[probeDown].Load(), r.m.freezes.Load(), r.callCount(callNetworkDown))
			}
		})
	}
}

func TestBothDownWithoutProbe(t *testing.T) {
	r := newRig(t, "http://"+deadAddr(t), "http://"+deadAddr(t), nil)
	_, _, err := r.get(t, target)
	if !errors.Is(err, ErrBothDown) || errors.Is(err, ErrFrozen) || errors.Is(err, ErrNetworkDown) {
		t.Fatalf("err = %v, want ErrBothDown alone", err)
	}
	if r.m.probes[probeUp].Load()+r.m.probes[probeDown].Load() != 0 || r.callCount(callBothDown) != 1 {
		t.Error("probed without a probe, or not counted as both_down")
	}
}

func TestBothDownHomeAnswered5xx(t *testing.T) {
	home := newTestCenter(t, say(503, "", "lb: unavailable"))
	probeAddr, accepts := liveProbe(t)
	r := newRig(t, home.URL, "http://"+deadAddr(t), func(c *Config) { c.Probe = probeAddr })
	code, body, err := r.get(t, target)
	if err != nil || code != 503 || body != "lb: unavailable" {
		t.Fatalf("got %d %q %v, want the home center's 503 with its body", code, body, err)
	}
	if accepts.Load() != 0 || r.m.freezes.Load() != 0 {
		t.Error("probed or froze although a center answered")
	}
}

func TestBoth5xxReturnsSecond(t *testing.T) {
	home := newTestCenter(t, say(502, "", "sz lb"))
	other := newTestCenter(t, say(504, "", "bj lb"))
	r := newRig(t, home.URL, other.URL, func(c *Config) { c.Probe = "127.0.0.1:1" })
	code, body, err := r.get(t, target)
	if err != nil || code != 504 || body != "bj lb" || r.m.freezes.Load() != 0 {
		t.Fatalf("got %d %q %v (freezes %d), want the second 504", code, body, err, r.m.freezes.Load())
	}
}

// probeGate is an HTTP probe target that holds every probe until released.
func probeGate(t *testing.T) (*testCenter, chan struct{}) {
	release := make(chan struct{})
	srv := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	return srv, release
}

func TestCancelWhileWaitingForProbe(t *testing.T) {
	gate, release := probeGate(t)
	t.Cleanup(func() { close(release) })
	r := newRig(t, "http://"+deadAddr(t), "http://"+deadAddr(t), func(c *Config) { c.Probe = gate.URL })

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := r.RoundTrip(req)
		errc <- err
	}()
	waitFor(t, "the call to wait for the probe", func() bool { return r.probeWaiters.Load() == 1 })
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrBothDown) || errors.Is(err, ErrFrozen) {
		t.Fatalf("err = %v, want context.Canceled and ErrBothDown", err)
	}
	if r.callCount(callCanceled) != 1 {
		t.Errorf("calls{canceled} = %d, want 1", r.callCount(callCanceled))
	}
}

// TestConcurrentFailuresShareOneProbe: many calls fail at both centers together; they share
// one probe, freeze once, and every call ends in exactly one counted result.
func TestConcurrentFailuresShareOneProbe(t *testing.T) {
	gate, release := probeGate(t)
	r := newRig(t, "http://"+deadAddr(t), "http://"+deadAddr(t), func(c *Config) { c.Probe = gate.URL })
	const workers, perWorker = 32, 50

	errs := make(chan error, workers)
	for range workers {
		go func() {
			_, err := r.RoundTrip(mustGet(t))
			errs <- err
		}()
	}
	waitFor(t, "every call to wait for the probe", func() bool { return r.probeWaiters.Load() == workers })
	close(release)
	for range workers {
		if err := <-errs; !errors.Is(err, ErrFrozen) || !errors.Is(err, ErrBothDown) {
			t.Fatalf("err = %v, want ErrFrozen from the shared probe", err)
		}
	}
	if gate.hits.Load() != 1 || r.m.probes[probeUp].Load() != 1 || r.m.freezes.Load() != 1 {
		t.Fatalf("probe hits %d, probes up %d, freezes %d; want 1, 1, 1",
			gate.hits.Load(), r.m.probes[probeUp].Load(), r.m.freezes.Load())
	}

	// While frozen, hammer from many goroutines: every call is refused at once.
	netCalls := r.tr.calls.Load()
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if _, err := r.RoundTrip(mustGet(t)); !errors.Is(err, ErrFrozen) {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 || r.tr.calls.Load() != netCalls {
		t.Errorf("%d calls not frozen, %d network calls while frozen", wrong.Load(), r.tr.calls.Load()-netCalls)
	}

	var totalCalls uint64
	for cr := range numCalls {
		totalCalls += r.callCount(cr)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"calls in all", totalCalls, workers + workers*perWorker},
		{"calls{frozen}", r.callCount(callFrozen), workers + workers*perWorker},
		{"frozen rejections", r.m.frozenRejections.Load(), workers * perWorker},
		{"home error attempts", r.attemptCount(0, resError), workers},
		{"other error attempts", r.attemptCount(1, resError), workers},
		{"failovers", r.m.failovers.Load(), workers},
		{"probes", r.m.probes[probeUp].Load() + r.m.probes[probeDown].Load(), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestConcurrentMixedOutcomes hammers a client whose home center alternates between
// answering and failing while the network is "down" (dead-port probe): every call must end
// in exactly one counted result and the attempt counts must add up.
func TestConcurrentMixedOutcomes(t *testing.T) {
	var n atomic.Int64
	home := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			say(200, "sz", "ok")(w, r)
		case 1:
			say(502, "", "lb")(w, r)
		default:
			cutOff(w, r)
		}
	})
	r := newRig(t, home.URL, "http://"+deadAddr(t), func(c *Config) { c.Probe = deadAddr(t) })
	const workers, perWorker = 16, 40
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if resp, err := r.RoundTrip(mustGet(t)); err == nil {
					discard(resp)
				}
			}
		})
	}
	wg.Wait()
	var calls, homeAttempts, otherAttempts uint64
	for cr := range numCalls {
		calls += r.callCount(cr)
	}
	for res := range numResults {
		homeAttempts += r.attemptCount(0, res)
		otherAttempts += r.attemptCount(1, res)
	}
	if calls != workers*perWorker || homeAttempts != workers*perWorker {
		t.Errorf("calls %d, home attempts %d; want %d each", calls, homeAttempts, workers*perWorker)
	}
	if otherAttempts != r.m.failovers.Load() || otherAttempts != homeAttempts-r.attemptCount(0, resGateway) {
		t.Errorf("other attempts %d, failovers %d, home non-final %d: must be equal",
			otherAttempts, r.m.failovers.Load(), homeAttempts-r.attemptCount(0, resGateway))
	}
	// A 502 followed by no answer returns the 502: a response, never a probe.
	if got, want := r.callCount(callResponse), r.attemptCount(0, resGateway)+r.attemptCount(0, res5xx); got != want {
		t.Errorf("calls{response} = %d, want %d", got, want)
	}
	if got := r.callCount(callNetworkDown); got != r.attemptCount(0, resError) {
		t.Errorf("calls{network_down} = %d, want %d", got, r.attemptCount(0, resError))
	}
	if r.m.freezes.Load() != 0 {
		t.Error("froze although the probe failed")
	}
}

func mustGet(t *testing.T) *http.Request {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Error(err)
	}
	return req
}

// TestProbeTimeout: a probe that gets no answer within ProbeTimeout means the network is down.
func TestProbeTimeout(t *testing.T) {
	gate, release := probeGate(t)
	t.Cleanup(func() { close(release) })
	r := newRig(t, "http://"+deadAddr(t), "http://"+deadAddr(t), func(c *Config) {
		c.Probe = gate.URL
		c.ProbeTimeout = 300 * time.Millisecond
	})
	errc := make(chan error, 1)
	go func() {
		_, _, err := r.get(t, target)
		errc <- err
	}()
	waitFor(t, "the call to wait for the probe", func() bool { return r.probeWaiters.Load() == 1 })
	r.fake.BlockUntil(1) // the probe's timer
	r.fake.Advance(300 * time.Millisecond)
	if err := <-errc; !errors.Is(err, ErrNetworkDown) {
		t.Fatalf("err = %v, want ErrNetworkDown", err)
	}
	if _, ok := r.FrozenUntil(); ok {
		t.Error("frozen after a probe timeout")
	}
}
