package degrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ErrUnknownSwitch is returned by [Registry.Set] for a name that was never
// registered.
var ErrUnknownSwitch = errors.New("degrade: unknown switch")

// Registry names switches so that an operator can list and move them. It is
// safe for concurrent use. The zero value is an empty registry ready to use.
type Registry struct {
	mu       sync.RWMutex
	switches map[string]*Switch
}

// Status is one switch's state, as listed by [Registry.List].
type Status struct {
	Name string  `json:"name"`
	Pass float64 `json:"pass"`
}

// Register adds s under name. It fails if name is empty, s is nil, or name
// is already taken: a name means one switch for the registry's lifetime.
func (r *Registry) Register(name string, s *Switch) error {
	if name == "" {
		return errors.New("degrade: Register: empty name")
	}
	if s == nil {
		return fmt.Errorf("degrade: Register %q: nil switch", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.switches[name]; ok {
		return fmt.Errorf("degrade: Register %q: name already registered", name)
	}
	if r.switches == nil {
		r.switches = make(map[string]*Switch)
	}
	r.switches[name] = s
	return nil
}

// Get returns the switch registered under name, or nil and false.
func (r *Registry) Get(name string) (*Switch, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.switches[name]
	return s, ok
}

// Set sets the pass fraction of the switch registered under name. It
// returns an error wrapping [ErrUnknownSwitch] for an unknown name, and
// SetPass's error for a p outside [0, 1].
func (r *Registry) Set(name string, p float64) error {
	s, ok := r.Get(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownSwitch, name)
	}
	return s.SetPass(p)
}

// List returns every registered switch's name and pass fraction, sorted by
// name. Each pass is read atomically; the list as a whole is not one
// atomic snapshot of switches that are being moved while it runs.
func (r *Registry) List() []Status {
	r.mu.RLock()
	out := make([]Status, 0, len(r.switches))
	for name, s := range r.switches {
		out = append(out, Status{Name: name, Pass: s.Pass()})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}
