package breaker

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Kind names a kind of breaker, for NewGroup.
type Kind int

// The kinds of breaker.
const (
	// KindSRE makes SRE breakers (NewSRE).
	KindSRE Kind = iota
	// KindClassic makes classic breakers (NewClassic).
	KindClassic
)

// String returns "sre", "classic", or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case KindSRE:
		return "sre"
	case KindClassic:
		return "classic"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Group holds one breaker per key (a host, a service, a route), each made on
// first use. Get for an existing key does not allocate and does not contend
// with other readers; the first Get of a key makes its breaker. Breakers are
// never evicted except by Remove.
//
// A Group is safe for concurrent use.
type Group struct {
	newBreaker func(key string) Breaker
	breakers   sync.Map // string → Breaker
	n          atomic.Int64
}

// NewGroup returns a Group whose breakers are of the given kind, all made
// with opts. The options are checked here, once, as NewSRE or NewClassic
// would check them, so Get never fails. Instead of WithOnStateChange it takes
// WithGroupOnStateChange, whose callback receives the key.
func NewGroup(kind Kind, opts ...Option) (*Group, error) {
	var newKind func(o options) Breaker
	var o options
	var err error
	switch kind {
	case KindSRE:
		o, err = build(opts, "a group of SRE breakers", classicOnly, singleOnly)
		newKind = func(o options) Breaker { return newSRE(o) }
	case KindClassic:
		o, err = build(opts, "a group of classic breakers", sreOnly, singleOnly)
		if err == nil {
			err = checkClassic(&o)
		}
		newKind = func(o options) Breaker { return newClassic(o) }
	default:
		return nil, fmt.Errorf("breaker: NewGroup: unknown kind %v", kind)
	}
	if err != nil {
		return nil, err
	}
	onChange := o.groupChange
	return &Group{newBreaker: func(key string) Breaker {
		o := o
		if onChange != nil {
			o.onChange = func(from, to State) { onChange(key, from, to) }
		}
		return newKind(o)
	}}, nil
}

// NewGroupFunc returns a Group whose breakers newBreaker makes, for breakers
// that differ by key or that wrap another Breaker. newBreaker must return a
// non-nil Breaker. When several goroutines ask for a new key at once it may
// be called more than once for that key; one result is kept and used by
// all, and the others are dropped, so it should have no side effects.
func NewGroupFunc(newBreaker func(key string) Breaker) (*Group, error) {
	if newBreaker == nil {
		return nil, errors.New("breaker: NewGroupFunc: newBreaker is nil")
	}
	return &Group{newBreaker: newBreaker}, nil
}

// Get returns the breaker for key, making it if it is new. Every call with
// the same key returns the same breaker until Remove(key).
func (g *Group) Get(key string) Breaker {
	if b, ok := g.breakers.Load(key); ok {
		return b.(Breaker)
	}
	return g.add(key)
}

// add makes the breaker for a new key, unless another goroutine has just
// made it.
func (g *Group) add(key string) Breaker {
	b := g.newBreaker(key)
	if b == nil {
		panic("breaker: Group: newBreaker returned nil for key " + strconv.Quote(key))
	}
	v, loaded := g.breakers.LoadOrStore(key, b)
	if !loaded {
		g.n.Add(1)
	}
	return v.(Breaker)
}

// Remove forgets the breaker for key, if any; the next Get makes a fresh
// one. Holders of the old breaker may keep using it.
func (g *Group) Remove(key string) {
	if _, loaded := g.breakers.LoadAndDelete(key); loaded {
		g.n.Add(-1)
	}
}

// Len returns the number of breakers in the group.
func (g *Group) Len() int { return int(g.n.Load()) }

// Each calls fn for every breaker in the group, for metrics and admin pages,
// with no lock held: fn may call the group and the breakers. Each sees every
// key present for the whole call once; keys added or removed meanwhile may or
// may not be seen. The order is unspecified.
func (g *Group) Each(fn func(key string, b Breaker)) {
	g.breakers.Range(func(k, v any) bool {
		fn(k.(string), v.(Breaker))
		return true
	})
}
