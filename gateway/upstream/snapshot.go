package upstream

import (
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/internal/notify"
)

// snapshot is an immutable view of which hosts may take traffic, swapped
// atomically whenever a host's state changes, so that Acquire reads one pointer
// and never recomputes eligibility.
type snapshot struct {
	// tiers[0]: hosts in rotation and not overloaded (healthy, or kept by
	// max_ejected); tiers[1]: overloaded hosts, used only when tier 0 cannot
	// take the attempt.
	tiers [2][]*Host
	// where[host.id] is the host's tier and index, or tier −1 when it is out.
	where []place
	// trials: erroring hosts whose back-off has passed while no probes run; one
	// trial attempt each may go to them (claimed under the host's lock).
	trials []*Host
	// deadline: the earliest offset at which time alone changes this view (an
	// overload mark expires, a back-off ends); 0 = none.
	deadline time.Duration
}

type place struct {
	tier int8
	idx  int32
}

// refresh rebuilds the snapshot from every host's flags, applies max_ejected,
// publishes the new states and delivers state-change callbacks after the lock
// is released. Safe to call at any time; it is how every transition lands.
func (p *Pool) refresh() {
	p.mu.Lock()
	now := p.now()   // read under the lock: successive snapshots see time move forward
	deliver := false // whether this goroutine must deliver the state changes it queued
	probing := p.probing.Load()
	s := &snapshot{where: make([]place, len(p.hosts))}
	type row struct {
		want, drained, trial, over bool
		seq                        uint64
		state                      State
	}
	rows := make([]row, len(p.hosts))
	inService := 0
	var wanting []int
	for i, h := range p.hosts {
		r := &rows[i]
		h.mu.Lock()
		r.drained, r.want, r.seq = h.drained, h.wantsOut(), h.tripSeq
		switch {
		case r.drained:
			r.state = Offline
		case h.unavailable:
			r.state = Unavailable
		case h.erroring:
			r.state = Erroring
		}
		if h.erroring && !probing {
			if now >= h.retryAt {
				r.trial = true
			} else {
				s.deadline = earliest(s.deadline, h.retryAt)
			}
		}
		h.mu.Unlock()
		if until := time.Duration(h.overloadUntil.Load()); until > now {
			r.over = true
			s.deadline = earliest(s.deadline, until)
			if r.state == Healthy {
				r.state = Overloaded
			}
		}
		if r.drained {
			continue
		}
		inService++
		if r.want {
			wanting = append(wanting, i)
		}
	}
	// max_ejected: the hosts that came to want ejection first are ejected; the
	// rest stay in rotation, kept.
	slices.SortFunc(wanting, func(a, b int) int { return cmpUint(rows[a].seq, rows[b].seq) })
	ejected := make([]bool, len(p.hosts))
	for _, i := range wanting[:min(len(wanting), ejectCap(inService, p.maxEjected))] {
		ejected[i] = true
	}
	for i, h := range p.hosts {
		r := &rows[i]
		s.where[i] = place{tier: -1}
		kept := r.want && !r.drained && !ejected[i]
		if !r.drained && !ejected[i] {
			t := 0
			if r.over {
				t = 1
			}
			s.where[i] = place{tier: int8(t), idx: int32(len(s.tiers[t]))}
			s.tiers[t] = append(s.tiers[t], h)
		}
		if r.trial && !r.drained {
			s.trials = append(s.trials, h)
		}
		h.kept.Store(kept)
		if old := State(h.state.Swap(int32(r.state))); old != r.state {
			deliver = p.notify.Push(stateEvent{h.addr, old, r.state}) || deliver
		}
	}
	p.snap.Store(s)
	p.mu.Unlock()
	if deliver {
		p.notify.Deliver(&p.mu)
	}
}

func earliest(d, t time.Duration) time.Duration {
	if d == 0 || t < d {
		return t
	}
	return d
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stateEvent is one host state change waiting for the callback.
type stateEvent struct {
	host     string
	from, to State
}

// newNotifyQueue queues state changes for fn (see internal/notify: callbacks run in order,
// one at a time, with no lock held; nil drops them).
func newNotifyQueue(fn func(host string, from, to State)) notify.Queue[stateEvent] {
	if fn == nil {
		return notify.Queue[stateEvent]{}
	}
	return notify.NewQueue(func(e stateEvent) { fn(e.host, e.from, e.to) })
}
