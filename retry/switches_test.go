package retry

import (
	"fmt"
	"maps"
	"sync"
	"testing"
)

func TestSwitches(t *testing.T) {
	type step struct {
		op      string // "global", "set", "forget"
		service string
		on      bool
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string]bool // Enabled(service) afterwards
	}{
		{"zero value is all on", nil, map[string]bool{"a": true, "": true}},
		{"service off", []step{{"set", "a", false}}, map[string]bool{"a": false, "b": true}},
		{"service back on", []step{{"set", "a", false}, {"set", "a", true}}, map[string]bool{"a": true}},
		{"global off wins", []step{{"set", "a", true}, {"global", "", false}}, map[string]bool{"a": false, "b": false}},
		{"global back on keeps service switches",
			[]step{{"set", "a", false}, {"global", "", false}, {"global", "", true}},
			map[string]bool{"a": false, "b": true}},
		{"forget turns a service back on", []step{{"set", "a", false}, {"forget", "a", false}}, map[string]bool{"a": true}},
		{"forget an unknown service", []step{{"forget", "zz", false}}, map[string]bool{"zz": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Switches
			for _, st := range tt.steps {
				switch st.op {
				case "global":
					s.SetGlobal(st.on)
				case "set":
					s.Set(st.service, st.on)
				case "forget":
					s.Forget(st.service)
				}
			}
			for svc, want := range tt.want {
				if got := s.Enabled(svc); got != want {
					t.Errorf("Enabled(%q) = %v, want %v", svc, got, want)
				}
			}
		})
	}
}

func TestSwitchesSnapshot(t *testing.T) {
	var s Switches
	snap := s.Snapshot()
	if !snap.Global || snap.Services == nil || len(snap.Services) != 0 {
		t.Fatalf("zero Snapshot = %+v", snap)
	}
	s.Set("a", false)
	s.Set("b", true)
	s.SetGlobal(false)
	snap = s.Snapshot()
	if snap.Global || !maps.Equal(snap.Services, map[string]bool{"a": false, "b": true}) {
		t.Fatalf("Snapshot = %+v", snap)
	}
	snap.Services["a"] = true // a copy: must not reach the switches
	if s.Snapshot().Services["a"] {
		t.Fatal("mutating a snapshot changed the switches")
	}
	s.Forget("a")
	s.Forget("b")
	if snap := s.Snapshot(); snap.Services == nil || len(snap.Services) != 0 {
		t.Fatalf("after Forget, Snapshot = %+v", snap)
	}
}

// TestSwitchesConcurrent flips switches from many goroutines while others
// read. Each writer owns its services and ends on a known state, so a lost
// copy-on-write update would show as a missing or stale service.
func TestSwitchesConcurrent(t *testing.T) {
	const writers, servicesPerWriter, flips, readers = 8, 16, 50, 4
	var s Switches
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range readers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = s.Enabled(fmt.Sprintf("w%d-s%d", r, i%servicesPerWriter))
				if i%100 == 0 {
					_ = s.Snapshot()
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for f := range flips {
				for k := range servicesPerWriter {
					s.Set(fmt.Sprintf("w%d-s%d", w, k), f%2 == 1) // last flip (f=49) sets on
				}
				s.SetGlobal(f%2 == 0)
			}
			// Final state for this writer: odd-numbered services off.
			for k := 1; k < servicesPerWriter; k += 2 {
				s.Set(fmt.Sprintf("w%d-s%d", w, k), false)
			}
		})
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()

	s.SetGlobal(true)
	snap := s.Snapshot()
	if len(snap.Services) != writers*servicesPerWriter {
		t.Fatalf("Snapshot lists %d services, want %d", len(snap.Services), writers*servicesPerWriter)
	}
	for w := range writers {
		for k := range servicesPerWriter {
			name := fmt.Sprintf("w%d-s%d", w, k)
			want := k%2 == 0
			if snap.Services[name] != want || s.Enabled(name) != want {
				t.Fatalf("%s: snapshot %v, Enabled %v; want %v", name, snap.Services[name], s.Enabled(name), want)
			}
		}
	}
}

func TestEnabledDoesNotAllocate(t *testing.T) {
	var s Switches
	s.Set("search", false)
	s.Set("profile", true)
	name := "profile"
	if n := testing.AllocsPerRun(1000, func() { _ = s.Enabled(name) }); n != 0 {
		t.Fatalf("Enabled: %v allocs per run, want 0", n)
	}
	s.SetGlobal(false)
	if n := testing.AllocsPerRun(1000, func() { _ = s.Enabled("unknown") }); n != 0 {
		t.Fatalf("Enabled with global off: %v allocs per run, want 0", n)
	}
}
