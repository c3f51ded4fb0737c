package upstream

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/breaker"
)

// Kind says how an attempt ended, from the host's point of view.
type Kind int

// The kinds of outcome.
const (
	// OK: the host answered with a non-5xx status.
	OK Kind = iota
	// ConnectError: the request was never sent (dial refused or timed out, TLS
	// failed). A failure of the host.
	ConnectError
	// Timeout: no response headers within the attempt's timeout. A failure.
	Timeout
	// Status5xx: the host answered 5xx. A failure.
	Status5xx
	// Canceled: the client went away; not the host's fault. It counts neither as
	// a success nor as a failure, anywhere.
	Canceled
	// OtherError: any other transport error (a reset mid-response, a malformed
	// answer). A failure.
	OtherError
)

var kindNames = [...]string{"ok", "connect_error", "timeout", "5xx", "canceled", "other_error"}

// String returns "ok", "connect_error", "timeout", "5xx", "canceled",
// "other_error", or "Kind(n)".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Outcome is what the caller reports for one attempt.
type Outcome struct {
	Err Kind
	// Latency is the time to the response headers (or to the failure). It feeds
	// the host's EWMA. ≤ 0 means "not measured": the pool's own Acquire → Done
	// time is used instead.
	Latency time.Duration
	// Overload: the response carried Bulwark-Overload: 1.
	Overload bool
}

// Attempt is one pick of a host: the right to send one request there. It is a
// small value; copy it freely, but call Done exactly once. The zero Attempt's
// Done does nothing and its Host is nil.
type Attempt struct {
	h      *Host
	permit breaker.Permit
	token  adaptive.Token
	start  time.Duration
	epoch  uint64 // the host's epoch at the start
	trial  bool
}

// Host returns the host picked for this attempt.
func (a Attempt) Host() *Host { return a.h }

// Elapsed returns the time since Acquire on the pool's clock; see DoneElapsed.
func (a Attempt) Elapsed() time.Duration {
	if a.h == nil {
		return 0
	}
	return max(a.h.pool.now()-a.start, 0)
}

// Done reports the attempt's outcome, exactly once (a second call counts it
// twice). It updates the host's EWMA and in-flight count, its breaker (OK is a
// success; ConnectError, Timeout, Status5xx and OtherError are failures;
// Canceled is neither), its passive checks and overload mark, and the pool's
// pressure estimate. It does not allocate; it takes the pool's lock only when
// the host's state changes.
func (a Attempt) Done(o Outcome) {
	h := a.h
	if h == nil {
		return
	}
	a.done(o, h.pool.now())
}

// DoneElapsed is Done for a caller that measured o.Latency with Elapsed just
// before: it takes Acquire's clock reading plus o.Latency as the current time
// instead of reading the clock again (the request path reads it often enough).
func (a Attempt) DoneElapsed(o Outcome) {
	if a.h == nil {
		return
	}
	a.done(o, a.start+max(o.Latency, 0))
}

func (a Attempt) done(o Outcome, now time.Duration) {
	h := a.h
	p := h.pool
	rt := max(now-a.start, 0)
	h.inflight.Add(-1)
	if o.Err == ConnectError || o.Err == Canceled {
		// Never reached a host's work: a refused connection takes microseconds, and
		// recording that would drag the pressure estimate's minRt (and so its limit)
		// down for a whole window.
		a.token.Cancel()
	} else {
		a.token.DoneAt(now)
		p.rts.add(now, rt)
	}
	switch o.Err {
	case OK:
		h.successes.Add(1)
		a.permit.Done(true)
	case Canceled:
		// Not reported to the breaker: an SRE breaker counts only what is
		// reported, and a classic one treats an unreported half-open trial as
		// lost and starts a fresh round after its open timeout.
		h.canceled.Add(1)
	default:
		h.failures.Add(1)
		a.permit.Done(false)
	}
	changed := false
	if o.Overload {
		h.overloads.Add(1)
		until := int64(now + p.overloadFor)
		h.overloadUntil.Store(until)
		storeMax(&p.overload, until)
		changed = p.snap.Load().where[h.id].tier == 0
	}
	if h.observe(a.trial, a.epoch, o, rt, now) || changed {
		p.refresh()
	}
}

// Acquire picks a host for one attempt and asks its breaker.
//
// The candidates are the hosts in rotation that are not overloaded; only when
// none of them (leaving out exclude) can take the attempt are overloaded hosts
// considered. With p2c_ewma it draws two distinct candidates at random and
// takes the one with the lower cost, peak EWMA latency × (inflight+1); with
// round_robin it takes the next one in turn. If that host's breaker refuses it
// asks the other one drawn, then every remaining candidate in turn. While no
// probes run, an erroring host whose back-off has passed gets one trial attempt
// before any of this.
//
// exclude (may be nil) is left out: the host whose attempt just failed, for a
// local retry. Errors: ErrNoHost when no host may take traffic, ErrBreakersOpen
// (matching breaker.ErrOpen) when every candidate's breaker refused. It does
// not allocate.
func (p *Pool) Acquire(exclude *Host) (Attempt, error) {
	s := p.snap.Load()
	if s.deadline != 0 && p.now() >= s.deadline {
		p.refresh()
		s = p.snap.Load()
	}
	if len(s.trials) != 0 {
		if a, ok := p.acquireTrial(s, exclude); ok {
			return a, nil
		}
	}
	refused := false
	for t := range s.tiers {
		hosts := s.tiers[t]
		ex := -1
		if exclude != nil && exclude.pool == p {
			if pl := s.where[exclude.id]; int(pl.tier) == t {
				ex = int(pl.idx)
			}
		}
		m := len(hosts)
		if ex >= 0 {
			m--
		}
		if m <= 0 {
			continue
		}
		first, second := p.choose(hosts, m, ex)
		if a, ok := p.try(hosts[first]); ok {
			return a, nil
		}
		if second >= 0 {
			if a, ok := p.try(hosts[second]); ok {
				return a, nil
			}
		}
		for k := 1; k < len(hosts); k++ {
			i := (first + k) % len(hosts)
			if i == ex || i == second {
				continue
			}
			if a, ok := p.try(hosts[i]); ok {
				return a, nil
			}
		}
		refused = true
	}
	if refused {
		return Attempt{}, ErrBreakersOpen
	}
	return Attempt{}, ErrNoHost
}

// choose returns the index of the first choice among the m candidates of hosts
// (every index but ex), and of the second P2C draw (−1 if there is none).
func (p *Pool) choose(hosts []*Host, m, ex int) (first, second int) {
	if p.roundRobin {
		return skip(int((p.rr.Add(1)-1)%uint64(m)), ex), -1
	}
	r := p.rand()
	i := int(uint64(uint32(r)) * uint64(m) >> 32)
	if m == 1 {
		return skip(i, ex), -1
	}
	j := int(uint64(uint32(r>>32)) * uint64(m-1) >> 32)
	if j >= i {
		j++
	}
	i, j = skip(i, ex), skip(j, ex)
	if hosts[j].cheaper(hosts[i]) {
		i, j = j, i
	}
	return i, j
}

// skip maps the k-th candidate to its index in a tier whose index ex (or none,
// if ex < 0) is left out.
func skip(k, ex int) int {
	if ex >= 0 && k >= ex {
		return k + 1
	}
	return k
}

// try asks h's breaker and, if it admits, starts an attempt on h.
func (p *Pool) try(h *Host) (Attempt, bool) {
	pm, err := h.brk.Allow()
	if err != nil {
		return Attempt{}, false
	}
	return p.start(h, pm, false), true
}

func (p *Pool) start(h *Host, pm breaker.Permit, trial bool) Attempt {
	h.inflight.Add(1)
	h.attempts.Add(1)
	now := p.now()
	return Attempt{h: h, permit: pm, token: p.limiter.StartAt(now), start: now, epoch: h.epoch.Load(), trial: trial}
}

// acquireTrial claims the trial attempt of an erroring host whose back-off has
// passed, if one is free.
func (p *Pool) acquireTrial(s *snapshot, exclude *Host) (Attempt, bool) {
	now := time.Duration(-1)
	for _, h := range s.trials {
		if h == exclude || h.trialOut.Load() {
			continue
		}
		if now < 0 {
			now = p.now()
		}
		h.mu.Lock()
		claim := h.erroring && !h.drained && now >= h.retryAt && !h.trialOut.Load()
		if claim {
			h.trialOut.Store(true)
		}
		h.mu.Unlock()
		if !claim {
			continue
		}
		pm, err := h.brk.Allow()
		if err != nil {
			h.trialOut.Store(false)
			continue
		}
		return p.start(h, pm, true), true
	}
	return Attempt{}, false
}

// storeMax raises *v to x if x is larger.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}
