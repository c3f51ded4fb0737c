package metrics

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostStateValues gathers bulwark_host_state as service/host → state → value.
func hostStateValues(t *testing.T, m *Metrics) map[string]map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != NameHostState {
			continue
		}
		for _, metric := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range metric.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			key := labels["service"] + "/" + labels["host"]
			if got[key] == nil {
				got[key] = map[string]float64{}
			}
			got[key][labels["state"]] = metric.GetGauge().GetValue()
		}
	}
	return got
}

func TestHostStateOneHot(t *testing.T) {
	tests := []struct {
		name, state string
		wantOnes    int
	}{
		{"healthy", StateHealthy, 1},
		{"overloaded", StateOverloaded, 1},
		{"erroring", StateErroring, 1},
		{"unavailable", StateUnavailable, 1},
		{"offline", StateOffline, 1},
		{"unknown state exports all zeros", "draining", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(func() Snapshot {
				return Snapshot{Services: []ServiceSnapshot{{
					Name: "songs",
					Hosts: []HostSnapshot{
						{Addr: "a:80", State: tt.state},
						{Addr: "b:80", State: StateHealthy},
					},
				}}}
			})
			got := hostStateValues(t, m)
			if len(got) != 2 {
				t.Fatalf("hosts %v, want 2", got)
			}
			for host, states := range got {
				if len(states) != len(hostStates) {
					t.Errorf("%s: %d state series, want %d", host, len(states), len(hostStates))
				}
				ones, sum := 0, 0.0
				for _, v := range states {
					sum += v
					if v == 1 {
						ones++
					}
				}
				want := 1
				if host == "songs/a:80" {
					want = tt.wantOnes
				}
				if ones != want || sum != float64(want) {
					t.Errorf("%s: %v, want exactly %d state at 1", host, states, want)
				}
			}
			if tt.wantOnes == 1 && got["songs/a:80"][tt.state] != 1 {
				t.Errorf("a:80 state %s is not the one at 1: %v", tt.state, got["songs/a:80"])
			}
		})
	}
}

func TestSnapshotFollowsServicesAndHosts(t *testing.T) {
	var removed atomic.Bool
	m := New(func() Snapshot {
		s := fullSnapshot()
		if removed.Load() { // a reload dropped avatars and one songs host
			s.Services = s.Services[:1]
			s.Services[0].Hosts = s.Services[0].Hosts[:1]
		}
		return s
	})
	count := func(name string) int {
		n, err := testutil.GatherAndCount(m.Registry(), name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name                            string
		removed                         bool
		inflight, windows, breaker, hst int
	}{
		{"before reload", false, 2, 2, 3, 15},
		{"after reload", true, 1, 1, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			removed.Store(tt.removed)
			got := []int{count(NameInflight), count(NameRetryWindow), count(NameBreakerState), count(NameHostState)}
			want := []int{tt.inflight, tt.windows, tt.breaker, tt.hst}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("series counts %v, want %v", got, want)
				}
			}
		})
	}
}

func TestSnapshotDuplicatesFirstWins(t *testing.T) {
	m := New(func() Snapshot {
		return Snapshot{Services: []ServiceSnapshot{
			{
				Name: "songs", Inflight: 3,
				Windows: []WindowSnapshot{{Center: "s", Size: 4}, {Center: "s", Size: 99}},
				Hosts: []HostSnapshot{
					{Addr: "a:80", State: StateHealthy, Breaker: BreakerClosed},
					{Addr: "a:80", State: StateOffline, Breaker: BreakerOpen},
				},
			},
			{Name: "songs", Inflight: 99},
		}}
	})
	const want = `
# HELP bulwark_inflight Requests of the service in progress now.
# TYPE bulwark_inflight gauge
bulwark_inflight{service="songs"} 3
# HELP bulwark_retry_window Failover requests the service may send to the remote center in the current period, f(i).
# TYPE bulwark_retry_window gauge
bulwark_retry_window{center="s",service="songs"} 4
# HELP bulwark_breaker_state Circuit breaker state of the host: 0 closed, 1 half-open, 2 open.
# TYPE bulwark_breaker_state gauge
bulwark_breaker_state{host="a:80",service="songs"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		NameInflight, NameRetryWindow, NameBreakerState); err != nil {
		t.Fatal(err)
	}
	if got := hostStateValues(t, m)["songs/a:80"][StateHealthy]; got != 1 {
		t.Fatalf("duplicate host overrode the first: healthy=%v", got)
	}
}

func TestNilSnapshotExportsNoGauges(t *testing.T) {
	m := New(nil)
	for _, name := range []string{NameCPUPermille, NameAdaptiveMaxInflight, NameInflight,
		NameRetryWindow, NameBreakerState, NameHostState} {
		n, err := testutil.GatherAndCount(m.Registry(), name)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d series with a nil snapshot", name, n)
		}
	}
}

func TestSnapshotInvalidLabelFailsScrape(t *testing.T) {
	m := New(func() Snapshot {
		return Snapshot{Services: []ServiceSnapshot{{Name: "bad\xff"}}}
	})
	if _, err := m.Registry().Gather(); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Gather error %v, want an invalid UTF-8 error", err)
	}
}
