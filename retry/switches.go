package retry

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Switches holds the retry switches of SEEDS.md A2: one global switch and
// one per service. A retry for a service is allowed only while both are on.
//
// The zero value is ready to use: the global switch is on and every service
// is on until set. Switches is safe for concurrent use; Enabled takes no
// lock and does not allocate, so it suits the request path, while Set and
// SetGlobal are for operators and cost a copy of the per-service map.
// A Switches must not be copied after first use.
type Switches struct {
	globalOff atomic.Bool                     // inverted so the zero value means on
	services  atomic.Pointer[map[string]bool] // copy-on-write; nil = none set
	mu        sync.Mutex                      // serialises writers of services
}

// Enabled reports whether retries are allowed for service: the global
// switch is on and the service's switch is on. A service that was never
// set (including "") is on.
func (s *Switches) Enabled(service string) bool {
	if s.globalOff.Load() {
		return false
	}
	if m := s.services.Load(); m != nil {
		if on, ok := (*m)[service]; ok {
			return on
		}
	}
	return true
}

// Global reports whether the global switch is on.
func (s *Switches) Global() bool { return !s.globalOff.Load() }

// SetGlobal turns the global switch on or off. Off disables retries for
// every service, without changing the per-service switches.
func (s *Switches) SetGlobal(on bool) { s.globalOff.Store(!on) }

// Set turns service's switch on or off. The change is visible to every
// Enabled call that starts after Set returns.
func (s *Switches) Set(service string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next map[string]bool
	if m := s.services.Load(); m != nil {
		if cur, ok := (*m)[service]; ok && cur == on {
			return
		}
		next = maps.Clone(*m)
	} else {
		next = make(map[string]bool, 1)
	}
	next[service] = on
	s.services.Store(&next)
}

// Forget removes service's switch, so that the service is on again by
// default and no longer listed by Snapshot.
func (s *Switches) Forget(service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.services.Load()
	if m == nil {
		return
	}
	if _, ok := (*m)[service]; !ok {
		return
	}
	next := maps.Clone(*m)
	delete(next, service)
	s.services.Store(&next)
}

// SwitchesSnapshot is a copy of the switches' state, for an admin API.
type SwitchesSnapshot struct {
	Global   bool            `json:"global"`
	Services map[string]bool `json:"services"` // services that were set; never nil
}

// Snapshot returns a copy of the switches. The global switch and the
// per-service map are read one after the other, not as one atomic unit.
func (s *Switches) Snapshot() SwitchesSnapshot {
	snap := SwitchesSnapshot{Global: s.Global(), Services: map[string]bool{}}
	if m := s.services.Load(); m != nil {
		snap.Services = maps.Clone(*m)
	}
	return snap
}
