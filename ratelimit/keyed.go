// One limiter per key, for B13's per-user frequency limits.

package ratelimit

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Keyed keeps one limiter per key (a user id, an IP, a referer) in bounded
// memory: at most [WithMaxKeys] keys, the least recently used one dropped
// when a new key arrives and the Keyed is full, and keys unused for
// [WithTTL] dropped lazily, by later calls (no goroutine).
//
// A dropped key that comes back gets a fresh limiter. With the default TTL
// that loosens nothing, since the old limiter had forgotten everything by
// then; but a key dropped for room, by a flood of other keys, starts afresh
// early. Size WithMaxKeys for the keys active within one TTL.
//
// Keyed is safe for concurrent use. A call for a key it already holds takes
// one short lock, allocates nothing, and then calls the key's limiter outside
// that lock.
type Keyed struct {
	newLimiter func() (Limiter, error)
	maxKeys    int
	ttl        time.Duration
	start      time.Time
	clock      clock.Clock

	mu   sync.Mutex
	keys map[string]*keyedEntry
	lru  keyedEntry // sentinel of a ring: lru.next is the most recently used
}

type keyedEntry struct {
	key        string
	limiter    Limiter
	used       time.Duration // last use, since start
	prev, next *keyedEntry
}

// NewKeyed returns a Keyed whose keys each get a limiter from newLimiter,
// called once per new key, outside any lock. It must return a new limiter
// each time; a limiter of this package, typically, sharing Keyed's clock:
//
//	k, err := ratelimit.NewKeyed(func() (*ratelimit.SlidingWindow, error) {
//		return ratelimit.NewSlidingWindow(1, 5*time.Second)
//	})
//
// When callers race on a new key, newLimiter may run more than once for it;
// one limiter is kept and the others are dropped unused. NewKeyed calls
// newLimiter once to check it, and fails with its error.
//
// It accepts WithClock, WithMaxKeys (default [DefaultMaxKeys]) and WithTTL.
// The default TTL is the time after which the limiter has forgotten every
// admission: for a SlidingWindow of n buckets, (n+1)·⌈per/n⌉; a FixedWindow,
// per; a TokenBucket, the time to refill from empty (never, with limit 0, so
// such keys leave only for room); a LeakyBucket, its max wait plus per,
// rounded up to whole intervals. For a limiter of another package, which
// cannot report that time, WithTTL is required.
func NewKeyed[L Limiter](newLimiter func() (L, error), opts ...Option) (*Keyed, error) {
	const ctor = "NewKeyed"
	if newLimiter == nil {
		return nil, errors.New("ratelimit: NewKeyed: newLimiter is nil")
	}
	o, err := buildOptions(ctor, optClock|optMaxKeys|optTTL, opts)
	if err != nil {
		return nil, err
	}
	factory := func() (Limiter, error) {
		l, err := newLimiter()
		if err != nil {
			return nil, err
		}
		if any(l) == nil {
			return nil, errors.New("newLimiter returned nil")
		}
		return l, nil
	}
	probe, err := factory()
	if err != nil {
		return nil, fmt.Errorf("ratelimit: NewKeyed: newLimiter: %w", err)
	}
	if o.set&optTTL == 0 {
		f, ok := probe.(forgetter)
		if !ok {
			return nil, fmt.Errorf("ratelimit: WithTTL: required by NewKeyed for a limiter of type %T", probe)
		}
		o.ttl = max(f.forgetAfter(), 1)
	}
	k := &Keyed{
		newLimiter: factory,
		maxKeys:    o.maxKeys,
		ttl:        o.ttl,
		start:      o.clock.Now(),
		clock:      o.clock,
		keys:       make(map[string]*keyedEntry),
	}
	k.lru.prev, k.lru.next = &k.lru, &k.lru
	return k, nil
}

// Allow is AllowN(key, 1).
func (k *Keyed) Allow(key string) error { return k.AllowN(key, 1) }

// AllowN asks key's limiter to admit n units, creating the limiter if key is
// new, and returns its answer: nil or ErrLimited. n ≤ 0 is admitted without
// touching the key. If the key is new and newLimiter fails, AllowN returns
// that error, wrapped: the request is neither admitted nor ErrLimited.
func (k *Keyed) AllowN(key string, n int) error {
	if n <= 0 {
		return nil
	}
	l, err := k.limiter(key)
	if err != nil {
		return err
	}
	return l.AllowN(n)
}

// Len returns the number of keys held, after dropping the expired ones.
func (k *Keyed) Len() int {
	now := k.clock.Since(k.start)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expire(now)
	return len(k.keys)
}

// limiter returns key's limiter, creating it if needed, and marks key used.
func (k *Keyed) limiter(key string) (Limiter, error) {
	now := k.clock.Since(k.start)
	k.mu.Lock()
	k.expire(now)
	if e := k.keys[key]; e != nil {
		k.touch(e, now)
		l := e.limiter
		k.mu.Unlock()
		return l, nil
	}
	k.mu.Unlock()

	l, err := k.newLimiter() // user code: never under the lock
	if err != nil {
		return nil, fmt.Errorf("ratelimit: Keyed: newLimiter: %w", err)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.keys[key]; e != nil { // another caller added key meanwhile
		k.touch(e, now)
		return e.limiter, nil
	}
	if len(k.keys) >= k.maxKeys {
		k.remove(k.lru.prev)
	}
	e := &keyedEntry{key: key, limiter: l, used: now}
	k.keys[key] = e
	k.pushFront(e)
	return l, nil
}

// expire drops the keys unused for ttl, oldest first; k.mu must be held. The
// list is in order of use, so it stops at the first key still alive.
func (k *Keyed) expire(now time.Duration) {
	for e := k.lru.prev; e != &k.lru && now-e.used >= k.ttl; e = k.lru.prev {
		k.remove(e)
	}
}

// touch marks e used at now and moves it to the front; k.mu must be held.
// Times read just before the lock may be a little out of order; e.used never
// goes back.
func (k *Keyed) touch(e *keyedEntry, now time.Duration) {
	e.used = max(e.used, now)
	if k.lru.next != e {
		e.prev.next, e.next.prev = e.next, e.prev
		k.pushFront(e)
	}
}

func (k *Keyed) pushFront(e *keyedEntry) {
	e.prev, e.next = &k.lru, k.lru.next
	e.next.prev = e
	k.lru.next = e
}

func (k *Keyed) remove(e *keyedEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(k.keys, e.key)
}
