package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotShared is wrapped by the error Set and Delete return when Redis could not be written:
// the change is in effect on this instance only, and is remembered as pending, to be written
// to Redis (and so to every instance) as soon as Redis answers again.
var ErrNotShared = errors.New("fleet: switch change applied on this instance only (redis unreachable); it is shared when redis returns")

// SwitchesResyncEvery is how often a Switches rereads the whole hash, as a safety net under
// pub/sub (a message lost while a subscription was being re-established).
const SwitchesResyncEvery = 5 * time.Second

// Switches is a small map of named switches (retry switches, degrade fractions, active faults)
// shared by every instance of the fleet: field → value, values being opaque bytes. Its state
// lives in a Redis hash, f.Key("switches", name); every change is written there and announced
// on the pub/sub channel f.Key("switches", name, "changes") in one Lua script, so that the
// announcements come in the order of the writes, and every instance's subscriber applies them:
// all instances converge within milliseconds of a change made on any of them (the target is
// one second).
//
// Each instance keeps a local copy, which is what Snapshot and Watch see; reads never touch
// Redis. Its subscriber rereads the whole hash (a resync) at every (re)subscription, since
// changes were missed while it was disconnected, and every SwitchesResyncEvery.
//
// # Without Redis
//
// An instance that loses Redis keeps its last state. A Set or Delete while Redis is down
// applies locally at once (Watch fires), returns an error that wraps ErrNotShared, and is
// remembered as pending; at the next resync (when the subscription is re-established, or
// the periodic one), the pending changes are written to Redis and announced before the hash
// is read, because they are the operator's latest intent: a pending change overwrites
// whatever another instance wrote to the same field meanwhile. Announcements from the others
// about a field with a pending change are ignored until it is written.
//
// # A Redis that comes back empty
//
// The hash holds a marker field "" (which Set refuses) once an instance has seeded it. At a
// resync that finds no marker (Redis lost the hash: a restart without persistence, a
// failover to an empty replica), an instance that has state, or that just wrote pending
// changes, writes its whole snapshot with HSETNX (fields already there, such as another's
// pending change, win), sets the marker and, if it added anything, announces a resync to
// everyone, all in one script. An instance with nothing to offer (one that has just started)
// adopts what it finds. So an empty Redis never wipes the switches the instances hold, and a
// field that was deleted while the marker was there stays deleted. The one gap: a field
// deleted in the dead Redis by an instance that did not live through the restart can come
// back from an instance that still holds it.
//
// # Watch
//
// Watch functions run on the subscriber's goroutine, one at a time, never under a lock, so
// they may call Set or Snapshot. Each gets its own copy of the state after the change (or
// resync) that woke it; changes in quick succession can reach it as one call with the state
// after the last. They stop with Fleet.Close.
type Switches struct {
	f       *Fleet
	name    string
	key     string
	channel string

	writeMu sync.Mutex // serializes writes to Redis with their local apply, in Redis order

	mu       sync.Mutex // guards the fields below
	state    map[string][]byte
	pending  map[string]switchChange
	changes  uint64 // ids for switchChange
	seq      uint64 // bumped by every change and resync; watchers catch up to it
	watchers []*switchWatcher

	wake chan struct{} // watchers are behind

	sets, remote, resyncs, resyncErrs, badMessages atomic.Uint64
}

// switchChange is one Set or Delete made on this instance.
type switchChange struct {
	id    uint64
	value []byte
	del   bool
}

type switchWatcher struct {
	fn        func(state map[string][]byte)
	delivered uint64 // seq of the last state fn was given; the subscriber's goroutine owns it
}

// SwitchesStats is a snapshot of a Switches' counters for metrics.
type SwitchesStats struct {
	Sets          uint64 // Set and Delete calls with a valid field, shared or not
	RemoteUpdates uint64 // changes made by other instances and applied here
	Resyncs       uint64 // full reads of the hash that succeeded
	ResyncErrors  uint64 // resyncs that failed (Redis down)
	BadMessages   uint64 // announcements that could not be decoded, ignored
	Pending       int    // changes made here while Redis was down, not yet shared
}

// NewSwitches returns the shared switches called name (non-empty, without braces or spaces).
// It reads the current state from Redis before it returns (bounded by the fleet's
// OpTimeout; Redis being down is not an error: it starts empty and resyncs later) and
// starts its subscriber through f.Go, which runs until f.Close.
func NewSwitches(f *Fleet, name string) (*Switches, error) {
	if f == nil {
		return nil, errors.New("fleet: NewSwitches: nil Fleet")
	}
	if err := checkComponentName(name); err != nil {
		return nil, fmt.Errorf("fleet: NewSwitches: %w", err)
	}
	s := &Switches{
		f: f, name: name,
		key:     f.Key("switches", name),
		channel: f.Key("switches", name, "changes"),
		state:   map[string][]byte{},
		pending: map[string]switchChange{},
		seq:     1,
		wake:    make(chan struct{}, 1),
	}
	_ = s.resync()
	f.Go(s.run)
	return s, nil
}

// Set sets field to value (copied) here and in Redis, and announces it. It returns nil once
// the change is shared; an error wrapping ErrNotShared when Redis could not be written (the
// change is in effect here and pending, see the type's doc); or an error for an empty field.
func (s *Switches) Set(field string, value []byte) error {
	return s.change(field, append([]byte{}, value...), false)
}

// Delete removes field here and in Redis, and announces it; its errors are Set's.
func (s *Switches) Delete(field string) error { return s.change(field, nil, true) }

func (s *Switches) change(field string, value []byte, del bool) error {
	if field == "" {
		return errors.New("fleet: switches: the field name must not be empty")
	}
	// Applied before the write: an announcement of a later write, by anyone, can only arrive
	// after this write has run in Redis, hence after this apply, and wins over it.
	s.writeMu.Lock()
	s.mu.Lock()
	s.changes++
	ch := switchChange{id: s.changes, value: value, del: del}
	s.applyLocked(field, value, del)
	s.mu.Unlock()
	s.sets.Add(1)
	s.signal()
	err := s.write(field, ch)
	s.mu.Lock()
	if err != nil {
		s.pending[field] = ch
		if s.applyLocked(field, value, del) { // an announcement got in between; pending wins
			s.signal()
		}
	} else {
		delete(s.pending, field) // this write supersedes an older pending one
	}
	s.mu.Unlock()
	s.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotShared, err)
	}
	return nil
}

// Snapshot returns a copy of this instance's state.
func (s *Switches) Snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked()
}

func (s *Switches) copyLocked() map[string][]byte {
	out := make(map[string][]byte, len(s.state))
	for k, v := range s.state {
		out[k] = append([]byte{}, v...)
	}
	return out
}

// Watch registers fn, which is called soon after with the current state, then after every
// change this instance learns of (local or remote) and after every resync, with a copy of
// the state; see the type's doc for how it is called.
func (s *Switches) Watch(fn func(state map[string][]byte)) {
	if fn == nil {
		return
	}
	s.mu.Lock()
	s.watchers = append(s.watchers, &switchWatcher{fn: fn})
	s.mu.Unlock()
	s.signal()
}

// Stats returns the counters.
func (s *Switches) Stats() SwitchesStats {
	s.mu.Lock()
	pending := len(s.pending)
	s.mu.Unlock()
	return SwitchesStats{
		Sets: s.sets.Load(), RemoteUpdates: s.remote.Load(), Resyncs: s.resyncs.Load(),
		ResyncErrors: s.resyncErrs.Load(), BadMessages: s.badMessages.Load(), Pending: pending,
	}
}

// applyLocked sets or deletes field and reports whether that changed the state.
func (s *Switches) applyLocked(field string, value []byte, del bool) bool {
	old, had := s.state[field]
	switch {
	case del && !had, !del && had && bytes.Equal(old, value):
		return false
	case del:
		delete(s.state, field)
	default:
		s.state[field] = value
	}
	s.seq++
	return true
}

// replaceLocked installs a state read from Redis, with the pending changes over it.
func (s *Switches) replaceLocked(next map[string][]byte) {
	for field, ch := range s.pending {
		if ch.del {
			delete(next, field)
		} else {
			next[field] = ch.value
		}
	}
	s.state = next
	s.seq++
}

// signal wakes the subscriber's goroutine to call the watchers.
func (s *Switches) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver calls every watcher that has not seen the latest state.
func (s *Switches) deliver() {
	s.mu.Lock()
	watchers := slices.Clone(s.watchers)
	s.mu.Unlock()
	for _, w := range watchers {
		s.mu.Lock()
		seq := s.seq
		if w.delivered >= seq {
			s.mu.Unlock()
			continue
		}
		state := s.copyLocked()
		s.mu.Unlock()
		w.fn(state)
		w.delivered = seq
	}
}
