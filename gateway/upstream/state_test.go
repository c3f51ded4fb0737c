package upstream

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// TestStateTransitions drives host A of a two-host pool (no probes, fake
// clock) through outcome sequences and checks the state it ends in and every
// change reported on the way.
func TestStateTransitions(t *testing.T) {
	const a = "10.0.0.1:80"
	type env struct {
		t   *testing.T
		p   *Pool
		clk *clock.Fake
	}
	tests := []struct {
		name    string
		passive config.PassiveCheck
		run     func(e env)
		want    State
		events  []string
	}{
		{
			name:   "three connect errors in a row eject",
			run:    func(e env) { report(e.t, e.p, a, 3, refused) },
			want:   Erroring,
			events: []string{a + " healthy→erroring"},
		},
		{
			name: "two failures then a success reset the run",
			run: func(e env) {
				report(e.t, e.p, a, 2, timedOut)
				report(e.t, e.p, a, 1, ok)
				report(e.t, e.p, a, 2, fail5xx)
			},
			want: Healthy,
		},
		{
			name: "timeouts, 5xx and other errors all count",
			run: func(e env) {
				report(e.t, e.p, a, 1, timedOut)
				report(e.t, e.p, a, 1, fail5xx)
				report(e.t, e.p, a, 1, otherFail)
			},
			want:   Erroring,
			events: []string{a + " healthy→erroring"},
		},
		{
			name: "a cancel neither breaks nor extends the run",
			run: func(e env) {
				report(e.t, e.p, a, 2, refused)
				report(e.t, e.p, a, 5, canceled)
				if s := e.p.Host(a).State(); s != Healthy {
					e.t.Fatalf("after cancels: %v", s)
				}
				report(e.t, e.p, a, 1, refused)
			},
			want:   Erroring,
			events: []string{a + " healthy→erroring"},
		},
		{
			name:    "error ratio over the window with enough volume ejects",
			passive: config.PassiveCheck{ConsecutiveFailures: 100},
			run: func(e env) {
				for range 5 { // 5 ok, 5 failed, alternating: ratio 0.5 at the 10th outcome
					report(e.t, e.p, a, 1, ok)
					if s := e.p.Host(a).State(); s != Healthy {
						e.t.Fatalf("tripped before the minimum volume: %v", s)
					}
					report(e.t, e.p, a, 1, fail5xx)
				}
			},
			want:   Erroring,
			events: []string{a + " healthy→erroring"},
		},
		{
			name:    "error ratio below the minimum volume does not eject",
			passive: config.PassiveCheck{ConsecutiveFailures: 100},
			run:     func(e env) { report(e.t, e.p, a, 1, ok); report(e.t, e.p, a, 8, fail5xx) },
			want:    Healthy,
		},
		{
			name:    "old failures age out of the ratio window",
			passive: config.PassiveCheck{ConsecutiveFailures: 100},
			run: func(e env) {
				report(e.t, e.p, a, 9, fail5xx)
				e.clk.Advance(3 * time.Second) // the 2 s window forgets them
				report(e.t, e.p, a, 9, ok)
				report(e.t, e.p, a, 1, fail5xx)
			},
			want: Healthy,
		},
		{
			name:   "an overload report marks the host overloaded",
			run:    func(e env) { report(e.t, e.p, a, 1, overOK) },
			want:   Overloaded,
			events: []string{a + " healthy→overloaded"},
		},
		{
			name: "overloaded expires OverloadFor after the last report",
			run: func(e env) {
				report(e.t, e.p, a, 1, overOK)
				e.clk.Advance(600 * time.Millisecond)
				report(e.t, e.p, a, 1, overOK) // extends to 1.6 s
				e.clk.Advance(600 * time.Millisecond)
				if s := e.p.Host(a).State(); s != Overloaded {
					e.t.Fatalf("at 1.2 s: %v, want overloaded", s)
				}
				e.clk.Advance(400 * time.Millisecond)
			},
			want:   Healthy,
			events: []string{a + " healthy→overloaded", a + " overloaded→healthy"},
		},
		{
			name:   "overloaded 503s do not trip passive detection",
			run:    func(e env) { report(e.t, e.p, a, 10, over503) },
			want:   Overloaded,
			events: []string{a + " healthy→overloaded"},
		},
		{
			name: "erroring wins over overloaded",
			run: func(e env) {
				report(e.t, e.p, a, 1, overOK)
				report(e.t, e.p, a, 3, refused)
			},
			want:   Erroring,
			events: []string{a + " healthy→overloaded", a + " overloaded→erroring"},
		},
		{
			name: "a trial after the back-off brings the host back",
			run: func(e env) {
				report(e.t, e.p, a, 3, refused)
				e.clk.Advance(time.Second) // Health.Interval
				at, err := e.p.Acquire(nil)
				if err != nil || at.Host().Addr() != a || !at.trial {
					e.t.Fatalf("Acquire after the back-off: %v %v trial=%v, want the trial on %s", at.Host(), err, at.trial, a)
				}
				at.Done(ok)
			},
			want:   Healthy,
			events: []string{a + " healthy→erroring", a + " erroring→healthy"},
		},
		{
			name: "a failed trial doubles the back-off",
			run: func(e env) {
				report(e.t, e.p, a, 3, refused)
				e.clk.Advance(time.Second)
				at, _ := e.p.Acquire(nil)
				at.Done(refused)
				e.clk.Advance(1999 * time.Millisecond)
				if got := picks(e.t, e.p, 20, nil); got[a] != 0 {
					e.t.Fatalf("picked %d times before the 2 s back-off ended", got[a])
				}
				e.clk.Advance(time.Millisecond)
				at, _ = e.p.Acquire(nil)
				if !at.trial {
					e.t.Fatalf("no trial after the doubled back-off")
				}
				at.Done(ok)
			},
			want:   Healthy,
			events: []string{a + " healthy→erroring", a + " erroring→healthy"},
		},
		{
			name: "a canceled trial frees the trial for the next Acquire",
			run: func(e env) {
				report(e.t, e.p, a, 3, refused)
				e.clk.Advance(time.Second)
				first, _ := e.p.Acquire(nil)
				second, _ := e.p.Acquire(nil)
				if !first.trial || second.Host().Addr() == a {
					e.t.Fatalf("first %s trial=%v, second %s: want one trial at a time", first.Host().Addr(), first.trial, second.Host().Addr())
				}
				second.Done(ok)
				first.Done(canceled)
				again, _ := e.p.Acquire(nil)
				if !again.trial {
					e.t.Fatal("the trial was not offered again after a cancel")
				}
				again.Done(ok)
			},
			want:   Healthy,
			events: []string{a + " healthy→erroring", a + " erroring→healthy"},
		},
		{
			name: "late failures of attempts from before the trip are ignored",
			run: func(e env) {
				late := []Attempt{on(e.t, e.p, a), on(e.t, e.p, a), on(e.t, e.p, a)}
				report(e.t, e.p, a, 3, refused)
				e.clk.Advance(time.Second)
				tr, _ := e.p.Acquire(nil)
				tr.Done(ok)
				for _, l := range late {
					l.Done(refused)
				}
			},
			want:   Healthy,
			events: []string{a + " healthy→erroring", a + " erroring→healthy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clk, log := fakePool(t, Options{Passive: tt.passive})
			tt.run(env{t, p, clk})
			if got := p.Host(a).State(); got != tt.want {
				t.Fatalf("state %v, want %v", got, tt.want)
			}
			if got := log.list(); !slices.Equal(got, tt.events) {
				t.Fatalf("events %q, want %q", got, tt.events)
			}
		})
	}
}

// TestErroringHostGetsNoPicks: an ejected host gets nothing, the other host
// everything, until its back-off.
func TestErroringHostGetsNoPicks(t *testing.T) {
	p, _, _ := fakePool(t, Options{})
	report(t, p, "10.0.0.1:80", 3, refused)
	got := picks(t, p, 200, nil)
	if got["10.0.0.1:80"] != 0 || got["10.0.0.2:80"] != 200 {
		t.Fatalf("picks %v, want all on 10.0.0.2:80", got)
	}
}

func TestStateNames(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Healthy, "healthy"}, {Overloaded, "overloaded"}, {Erroring, "erroring"},
		{Unavailable, "unavailable"}, {Offline, "offline"}, {State(9), "State(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Fatalf("String = %q", got)
			}
			b, err := json.Marshal(tt.s)
			if tt.s == State(9) {
				if err == nil {
					t.Fatalf("Marshal of an invalid state = %s, want an error", b)
				}
				return
			}
			if err != nil || string(b) != `"`+tt.want+`"` {
				t.Fatalf("JSON %s, %v", b, err)
			}
			var back State
			if err := json.Unmarshal(b, &back); err != nil || back != tt.s {
				t.Fatalf("round trip %v, %v", back, err)
			}
		})
	}
	if err := (new(State)).UnmarshalText([]byte("sick")); err == nil {
		t.Fatal("UnmarshalText accepted an unknown name")
	}
	kinds := map[Kind]string{OK: "ok", ConnectError: "connect_error", Timeout: "timeout",
		Status5xx: "5xx", Canceled: "canceled", OtherError: "other_error", Kind(7): "Kind(7)"}
	for k, want := range kinds {
		if k.String() != want {
			t.Errorf("Kind %d String = %q, want %q", int(k), k.String(), want)
		}
	}
}

// TestHostStatus checks what /status shows for a host.
func TestHostStatus(t *testing.T) {
	p, clk, _ := fakePool(t, Options{Passive: config.PassiveCheck{ConsecutiveFailures: 100}})
	a := "10.0.0.1:80"
	report(t, p, a, 3, ok)
	report(t, p, a, 1, fail5xx)
	report(t, p, a, 1, canceled)
	report(t, p, a, 1, overOK)
	inflight := on(t, p, a)
	clk.Advance(100 * time.Millisecond)
	st := p.Hosts()[0]
	want := HostStatus{Addr: a, State: Overloaded, Overloaded: true, EWMA: 10 * time.Millisecond, Inflight: 1,
		ErrorRatio: 0.25, ConsecutiveFailures: 1, Breaker: "closed", // the overload answer counts neither way
		Attempts: 7, Successes: 4, Failures: 1, Canceled: 1, Overloads: 1}
	if st != want {
		t.Fatalf("status\n got %+v\nwant %+v", st, want)
	}
	inflight.Done(ok)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["state"] != "overloaded" || back["ewma_ns"] != float64(10e6) {
		t.Fatalf("JSON %s", b)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"no hosts", Options{}},
		{"not host:port", Options{Hosts: []string{"example.com"}}},
		{"duplicate", Options{Hosts: []string{"a:1", "a:1"}}},
		{"policy", Options{Hosts: []string{"a:1"}, Policy: "random"}},
		{"breaker kind", Options{Hosts: []string{"a:1"}, Breaker: config.Breaker{Kind: "fuse"}}},
		{"breaker K", Options{Hosts: []string{"a:1"}, Breaker: config.Breaker{K: 0.5}}},
		{"probe path", Options{Hosts: []string{"a:1"}, Health: config.Health{Path: "healthz"}}},
		{"max ejected", Options{Hosts: []string{"a:1"}, Health: config.Health{MaxEjected: 1.5}}},
		{"negative interval", Options{Hosts: []string{"a:1"}, Health: config.Health{Interval: -1}}},
		{"error ratio", Options{Hosts: []string{"a:1"}, Passive: config.PassiveCheck{ErrorRatio: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := New(tt.o); err == nil {
				t.Fatalf("New accepted %+v: %v", tt.o, p)
			}
		})
	}
}

// TestCallbackMayCallThePool: OnStateChange runs with no lock held, so it may
// call back into the pool, even to cause another change.
func TestCallbackMayCallThePool(t *testing.T) {
	hosts := addrs(3)
	var p *Pool
	var seen []string
	p, err := New(Options{Hosts: hosts, Clock: clock.NewFake(epoch), OnStateChange: func(host string, from, to State) {
		seen = append(seen, host+" "+to.String())
		_ = p.Hosts()
		_ = p.Pressure()
		_ = p.Host(host).State()
		if to == Erroring {
			_ = p.Drain(host) // a change from inside the callback is delivered after this one
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	report(t, p, hosts[0], 3, refused)
	want := []string{hosts[0] + " erroring", hosts[0] + " offline"}
	if !slices.Equal(seen, want) {
		t.Fatalf("callbacks %q, want %q", seen, want)
	}
}

func FuzzStateText(f *testing.F) {
	for _, s := range stateNames {
		f.Add(s)
	}
	f.Add("")
	f.Add("Healthy")
	f.Fuzz(func(t *testing.T, text string) {
		var s State
		if err := s.UnmarshalText([]byte(text)); err != nil {
			return
		}
		b, err := s.MarshalText()
		if err != nil || string(b) != text {
			t.Fatalf("%q parsed as %d, written back as %q (%v)", text, s, b, err)
		}
	})
}
