package upstream

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

func TestEjectCap(t *testing.T) {
	tests := []struct {
		n     int
		share float64
		want  int
	}{
		{0, 0.5, 0}, {1, 0.5, 0}, {1, 1, 1}, {2, 0.5, 1}, {2, 0.1, 1}, {3, 0.5, 1},
		{4, 0.5, 2}, {5, 0.5, 2}, {10, 0.3, 3}, {10, 1, 10}, {3, 1.0 / 3, 1}, {6, 0.7, 4},
	}
	for _, tt := range tests {
		if got := ejectCap(tt.n, tt.share); got != tt.want {
			t.Errorf("ejectCap(%d, %v) = %d, want %d", tt.n, tt.share, got, tt.want)
		}
	}
}

// TestMaxEjected trips hosts in order and checks which are ejected, which are
// kept in rotation, and that Acquire picks exactly the hosts in rotation.
func TestMaxEjected(t *testing.T) {
	tests := []struct {
		name        string
		hosts       int
		drained     int // the last d hosts are drained first
		share       config.Percent
		trip        int // the first k hosts trip, in order
		wantEjected int
	}{
		{"a lone host is kept at 50%", 1, 0, 0.5, 1, 0},
		{"a lone host is ejected at 100%", 1, 0, 1, 1, 1},
		{"one of two at 50%", 2, 0, 0.5, 1, 1},
		{"both of two at 50%: one kept", 2, 0, 0.5, 2, 1},
		{"a small share still lets one of two out", 2, 0, 0.1, 1, 1},
		{"three hosts at 50%", 3, 0, 0.5, 3, 1},
		{"four hosts at 50%", 4, 0, 0.5, 3, 2},
		{"ten hosts at 30%", 10, 0, 0.3, 6, 3},
		{"all out at 100%", 3, 0, 1, 3, 3},
		{"drained hosts do not count", 4, 1, 0.5, 3, 1},
		{"drained hosts do not use the budget", 4, 2, 0.5, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := addrs(tt.hosts)
			p, clk, _ := fakePool(t, Options{Hosts: hosts, Health: config.Health{MaxEjected: tt.share}})
			for _, h := range hosts[tt.hosts-tt.drained:] {
				if err := p.Drain(h); err != nil {
					t.Fatal(err)
				}
			}
			for _, h := range hosts[:tt.trip] {
				report(t, p, h, 3, refused)
				clk.Advance(time.Millisecond)
			}
			var ejected, kept, rotation []string
			for i, st := range p.Hosts() {
				switch {
				case st.State == Offline:
				case st.Kept:
					kept = append(kept, hosts[i])
					rotation = append(rotation, hosts[i])
				case st.State == Erroring:
					ejected = append(ejected, hosts[i])
				default:
					rotation = append(rotation, hosts[i])
				}
				if i < tt.trip && st.State != Erroring {
					t.Errorf("%s: state %v, want erroring (ejected or kept)", hosts[i], st.State)
				}
			}
			if want := hosts[:tt.wantEjected]; !slices.Equal(ejected, want) {
				t.Fatalf("ejected %v, want the first to trip: %v", ejected, want)
			}
			if want := hosts[tt.wantEjected:tt.trip]; !slices.Equal(kept, want) {
				t.Fatalf("kept %v, want %v", kept, want)
			}
			if len(rotation) == 0 {
				if _, err := p.Acquire(nil); !errors.Is(err, ErrNoHost) {
					t.Fatalf("Acquire with every host out: %v, want ErrNoHost", err)
				}
				return
			}
			got := picks(t, p, 50*len(rotation), nil)
			for _, h := range rotation {
				if got[h] == 0 {
					t.Errorf("host in rotation %s never picked: %v", h, got)
				}
			}
			for _, h := range ejected {
				if got[h] != 0 {
					t.Errorf("ejected host %s picked %d times", h, got[h])
				}
			}
		})
	}
}

// TestKeptHostTakesTheFreedSlot: when an ejected host comes back, the kept host
// that tripped earliest is ejected in its place.
func TestKeptHostTakesTheFreedSlot(t *testing.T) {
	hosts := addrs(3) // cap ⌊1.5⌋ = 1
	p, clk, log := fakePool(t, Options{Hosts: hosts})
	report(t, p, hosts[0], 3, refused)
	clk.Advance(500 * time.Millisecond)
	report(t, p, hosts[1], 3, refused) // its trial back-off ends at 1.5 s
	if st := p.Hosts(); st[0].Kept || !st[1].Kept {
		t.Fatalf("after two trips: kept %v %v, want the second kept", st[0].Kept, st[1].Kept)
	}
	clk.Advance(500 * time.Millisecond)
	tr, err := p.Acquire(nil) // hosts[0]'s trial (hosts[1] is kept: it takes normal traffic)
	if err != nil || !tr.trial {
		t.Fatalf("want a trial: %v %v", tr.Host(), err)
	}
	tr.Done(ok)
	st := p.Hosts()
	if st[0].State != Healthy || st[1].State != Erroring || st[1].Kept {
		t.Fatalf("after recovery: %v %v kept=%v, want healthy, erroring (ejected now)", st[0].State, st[1].State, st[1].Kept)
	}
	if got := picks(t, p, 100, nil); got[hosts[1]] != 0 {
		t.Fatalf("the newly ejected host was picked: %v", got)
	}
	want := []string{hosts[0] + " healthy→erroring", hosts[1] + " healthy→erroring", hosts[0] + " erroring→healthy"}
	if got := log.list(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestDrainUndrain(t *testing.T) {
	hosts := addrs(2)
	p, _, log := fakePool(t, Options{Hosts: hosts})
	if err := p.Drain(hosts[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(hosts[0]); err != nil {
		t.Fatalf("second Drain: %v", err)
	}
	if s := p.Host(hosts[0]).State(); s != Offline {
		t.Fatalf("drained host: %v", s)
	}
	if got := picks(t, p, 100, nil); got[hosts[0]] != 0 {
		t.Fatalf("drained host picked: %v", got)
	}
	if _, err := p.Acquire(p.Host(hosts[1])); !errors.Is(err, ErrNoHost) {
		t.Fatalf("Acquire excluding the only host left: %v, want ErrNoHost", err)
	}
	for _, f := range []func(string) error{p.Drain, p.Undrain} {
		if err := f("10.9.9.9:80"); !errors.Is(err, ErrUnknownHost) {
			t.Fatalf("unknown host: %v", err)
		}
	}
	if err := p.Undrain(hosts[0]); err != nil {
		t.Fatal(err)
	}
	if got := picks(t, p, 100, nil); got[hosts[0]] == 0 {
		t.Fatalf("undrained host never picked: %v", got)
	}
	if err := p.Drain(hosts[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(hosts[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Acquire(nil); !errors.Is(err, ErrNoHost) {
		t.Fatalf("everything drained: %v, want ErrNoHost", err)
	}
	want := []string{hosts[0] + " healthy→offline", hosts[0] + " offline→healthy",
		hosts[0] + " healthy→offline", hosts[1] + " healthy→offline"}
	if got := log.list(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// TestDrainedErroringHost: an erroring host that is drained reads offline, and
// undrained reads erroring again until it recovers.
func TestDrainedErroringHost(t *testing.T) {
	hosts := addrs(2)
	p, _, _ := fakePool(t, Options{Hosts: hosts})
	report(t, p, hosts[0], 3, refused)
	_ = p.Drain(hosts[0])
	if st := p.Hosts()[0]; st.State != Offline || !st.Erroring || !st.Drained {
		t.Fatalf("drained erroring host: %+v", st)
	}
	_ = p.Undrain(hosts[0])
	if s := p.Host(hosts[0]).State(); s != Erroring {
		t.Fatalf("undrained: %v, want erroring", s)
	}
}
