package degrade

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// ErrDegraded is returned by [Switch.Allow] for a call the switch does not
// let through. The caller should answer with its fallback at once.
var ErrDegraded = errors.New("degrade: call degraded")

// Option configures a [Switch] in [New].
type Option func(*options) error

type options struct {
	pass float64
	rand func() float64
}

// WithPass sets the initial pass fraction. Default 1 (every call passes).
// It must be in [0, 1].
func WithPass(p float64) Option {
	return func(o *options) error {
		if err := checkPass("WithPass", p); err != nil {
			return err
		}
		o.pass = p
		return nil
	}
}

// WithRand sets the random source: a function returning a uniform float64
// in [0, 1), called once per decision when 0 < p < 1, possibly from many
// goroutines at once (it must be safe for that). Default math/rand/v2's
// Float64. It must not be nil.
func WithRand(f func() float64) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("degrade: WithRand: must not be nil")
		}
		o.rand = f
		return nil
	}
}

func checkPass(name string, p float64) error {
	if !(p >= 0 && p <= 1) { // also rejects NaN
		return fmt.Errorf("degrade: %s: pass must be in [0, 1], got %v", name, p)
	}
	return nil
}

// Switch passes a fraction of calls and degrades the rest. It is safe for
// concurrent use; Allow takes no lock and does not allocate. The zero value
// is not usable; call New.
type Switch struct {
	pass atomic.Uint64 // math.Float64bits of the pass fraction
	rand func() float64
}

// New returns a Switch with the given options applied over the defaults
// (pass 1, math/rand/v2). It fails, naming the option, on an invalid value.
func New(opts ...Option) (*Switch, error) {
	o := options{pass: 1, rand: rand.Float64}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &Switch{rand: o.rand}
	s.pass.Store(math.Float64bits(o.pass))
	return s, nil
}

// Allow decides one call: nil to let it through, [ErrDegraded] to degrade
// it. With pass 1 every call passes and with pass 0 every call is degraded,
// in both cases without consulting the random source; otherwise a call
// passes when rand() < pass.
func (s *Switch) Allow() error {
	p := math.Float64frombits(s.pass.Load())
	if p >= 1 {
		return nil
	}
	if p <= 0 || s.rand() >= p {
		return ErrDegraded
	}
	return nil
}

// Pass returns the current pass fraction.
func (s *Switch) Pass() float64 { return math.Float64frombits(s.pass.Load()) }

// SetPass sets the pass fraction: 1 passes every call, 0 turns the module
// off. A p outside [0, 1], or NaN, is refused with an error and the switch
// is left as it was. The change applies to every Allow that starts after
// SetPass returns.
func (s *Switch) SetPass(p float64) error {
	if err := checkPass("SetPass", p); err != nil {
		return err
	}
	s.pass.Store(math.Float64bits(p))
	return nil
}

// Do runs fn if s lets the call through and returns its result. When s
// degrades the call, Do calls fallback with [ErrDegraded] instead of fn;
// when fn fails, Do calls fallback with fn's error. The fallback decides the
// answer: a default or cached value with a nil error, or an error of its
// own (for a critical path, "try again later"). It can tell the two cases
// apart with errors.Is(err, ErrDegraded). A nil fallback returns the zero T
// and the error.
//
// Do holds no lock while it runs fn or fallback.
func Do[T any](s *Switch, fn func() (T, error), fallback func(err error) (T, error)) (T, error) {
	err := s.Allow()
	if err == nil {
		var v T
		if v, err = fn(); err == nil {
			return v, nil
		}
	}
	if fallback == nil {
		var zero T
		return zero, err
	}
	return fallback(err)
}
