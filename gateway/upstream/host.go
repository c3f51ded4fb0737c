package upstream

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/internal/window"
)

// State is a host's state, as /status and OnStateChange report it. When
// several apply, the first in this order wins: offline, unavailable, erroring,
// overloaded, healthy.
type State int

// The states.
const (
	// Healthy: takes traffic.
	Healthy State = iota
	// Overloaded: a response carried Bulwark-Overload: 1 within the last
	// Passive.OverloadFor. The host is de-preferred, not ejected: it is picked
	// only when no host outside this state may take the attempt.
	Overloaded
	// Erroring: passive detection tripped (a run of Passive.ConsecutiveFailures
	// failures, or an error ratio ≥ Passive.ErrorRatio over Passive.Window with
	// at least Passive.MinRequests outcomes). Ejected, unless max_ejected keeps it.
	Erroring
	// Unavailable: Health.UnhealthyAfter active probes failed in a row. Ejected,
	// unless max_ejected keeps it.
	Unavailable
	// Offline: drained by an operator. Never picked; not counted by max_ejected.
	Offline
)

var stateNames = [...]string{"healthy", "overloaded", "erroring", "unavailable", "offline"}

// String returns "healthy", "overloaded", "erroring", "unavailable", "offline",
// or "State(n)" for a value outside those.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the state's name, so JSON shows "state": "erroring".
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("upstream: invalid State %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText reads a name written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("upstream: unknown state %q", b)
}

// Host is one host:port of a pool. Its methods are safe for concurrent use.
type Host struct {
	pool *Pool
	id   int
	addr string
	url  string // probe URL
	brk  breaker.Breaker
	sre  *breaker.SRE // brk, when it is an SRE breaker

	inflight      atomic.Int64
	ewmaNs        atomic.Int64  // peak EWMA of latency in ns as of ewmaAtNs; 0 = no sample yet
	ewmaAtNs      atomic.Int64  // offset of the latest sample
	overloadUntil atomic.Int64  // offset (ns) until which the host is overloaded; 0 = never reported
	trialOut      atomic.Bool   // a trial attempt is in flight (no-probe recovery)
	epoch         atomic.Uint64 // bumped when the host trips or recovers; written under mu
	state         atomic.Int32  // the reported State, set by refresh
	kept          atomic.Bool   // should be ejected, kept in rotation by max_ejected

	attempts, successes, failures, canceled, overloads atomic.Uint64

	mu          sync.Mutex
	ewma        float64       // ns
	ewmaAt      time.Duration // offset of the latest sample
	sampled     bool
	consecutive int            // passive: failures in a row
	outcomes    *window.Window // passive: Count outcomes, Sum failures
	erroring    bool           // passive detection tripped
	unavailable bool           // active probes failed
	drained     bool
	tripSeq     uint64        // order in which hosts came to want ejection
	backoff     time.Duration // no-probe recovery: wait before the next trial
	retryAt     time.Duration // no-probe recovery: a trial may start from this offset
	goodProbes  int           // consecutive good probes (since the latest trip)
	badProbes   int           // consecutive failed probes
	probeErr    string        // the latest failed probe's error
}

func newHost(p *Pool, id int, addr string, brk breaker.Breaker) *Host {
	h := &Host{
		pool:     p,
		id:       id,
		addr:     addr,
		url:      "http://" + addr + p.health.Path,
		brk:      brk,
		backoff:  p.health.Interval.D(),
		outcomes: window.New(passiveBuckets, p.passive.Window.D()/passiveBuckets),
	}
	h.sre, _ = brk.(*breaker.SRE)
	return h
}

// passiveBuckets is how many buckets the passive error-ratio window has.
const passiveBuckets = 10

// Addr returns the host's address, host:port.
func (h *Host) Addr() string { return h.addr }

// State returns the host's current state. An overload mark that has expired is
// applied first, so State never reports a stale Overloaded.
func (h *Host) State() State {
	s := State(h.state.Load())
	if s == Overloaded && h.overloadUntil.Load() <= int64(h.pool.now()) {
		h.pool.refresh()
		s = State(h.state.Load())
	}
	return s
}

// cheaper reports whether h costs less than o for P2C. The cost is peak EWMA
// × (inflight+1), the EWMA decayed toward 0 by e^(−Δt/τ) for the time since
// its latest sample (as Finagle and Linkerd do), so that a host which was slow
// once and then got no traffic is tried again after a while. Both costs decay
// by the same clock, so only the difference of their sample times matters and
// no clock is read. A host with no sample yet costs 0 while idle, so new hosts
// get tried, and more than any sampled host while it has an attempt in flight,
// so one slow first answer cannot draw every pick.
func (h *Host) cheaper(o *Host) bool {
	ch, rh := h.load()
	co, ro := o.load()
	if rh != ro {
		return rh < ro // unsampled idle (−1) < sampled (0) < unsampled busy (1)
	}
	if rh != 0 {
		return ch < co
	}
	// ch·e^(−(now−at_h)/τ) < co·e^(−(now−at_o)/τ)  ⇔  ch·e^((at_h−at_o)/τ) < co
	x := float64(h.ewmaAtNs.Load()-o.ewmaAtNs.Load()) / float64(EWMADecay)
	if x > -1e-3 && x < 1e-3 {
		return ch*(1+x) < co // e^x to within 5·10⁻⁷: samples close in time, the usual case
	}
	return ch*math.Exp(x) < co
}

// load returns the undecayed cost and a rank: −1 for a host with no sample
// and nothing in flight, 0 for a sampled host, 1 for an unsampled host with
// attempts in flight (the cost is then the in-flight count).
func (h *Host) load() (cost float64, rank int) {
	e, n := h.ewmaNs.Load(), float64(max(h.inflight.Load(), 0))
	switch {
	case e != 0:
		return float64(e) * (n + 1), 0
	case n == 0:
		return 0, -1
	}
	return n, 1
}

// decayWeight is e^(−y) for y ≥ 0. Samples close in time (y < 10⁻³: under 10 ms apart with
// τ = 10 s, the usual case under load) take 1 − y, within 5·10⁻⁷, instead of math.Exp on every
// attempt.
func decayWeight(y float64) float64 {
	if y < 1e-3 {
		return 1 - y
	}
	return math.Exp(-y)
}

// sample feeds one latency into the peak EWMA: a sample above the average
// (decayed to now, as cost reads it) replaces it at once; a lower one pulls it
// down with weight 1 − e^(−Δt/τ), τ = EWMADecay, Δt the time since the
// previous sample. A failed attempt only lets it decay (it is read as a
// sample of the current value), so a host that fails fast does not attract
// traffic. h.mu must be held.
func (h *Host) sample(lat, now time.Duration, failed bool) {
	x := float64(max(lat, 1))
	w := decayWeight(float64(max(now-h.ewmaAt, 0)) / float64(EWMADecay))
	switch {
	case !h.sampled:
		h.ewma, h.sampled = x, true
	case x >= h.ewma*w:
		h.ewma = x
	case failed:
		h.ewma *= w // as it reads now: a fast failure does not pull it lower
	default:
		h.ewma = h.ewma*w + x*(1-w)
	}
	h.ewmaAt = max(h.ewmaAt, now)
	h.ewmaNs.Store(max(int64(h.ewma), 1))
	h.ewmaAtNs.Store(int64(h.ewmaAt))
}

// wantsOut reports whether a check says the host should be ejected. h.mu must
// be held.
func (h *Host) wantsOut() bool { return h.erroring || h.unavailable }

// markWant records the moment the host comes to want ejection, for the order in
// which max_ejected lets hosts out. Call it before setting a flag. h.mu must be
// held.
func (h *Host) markWant() {
	if !h.wantsOut() {
		h.tripSeq = h.pool.seq.Add(1)
	}
}

// trip marks the host erroring and resets its passive counters. h.mu must be held.
func (h *Host) trip(now time.Duration) {
	h.markWant()
	h.erroring = true
	h.epoch.Add(1)
	h.goodProbes = 0
	h.retryAt = now + h.backoff
	h.resetPassive()
}

// recoverErroring clears the erroring flag. h.mu must be held.
func (h *Host) recoverErroring() {
	h.erroring = false
	h.epoch.Add(1)
	h.backoff = h.pool.health.Interval.D()
	h.resetPassive()
}

func (h *Host) resetPassive() {
	h.consecutive = 0
	h.outcomes.Reset()
}

// observe applies an attempt's outcome to the EWMA and the passive checks, and
// reports whether the host's ejection flags changed. epoch is the host's epoch
// when the attempt started: the passive checks ignore attempts from an earlier
// one (started before the host last tripped or recovered).
func (h *Host) observe(trial bool, epoch uint64, o Outcome, rt, now time.Duration) bool {
	p := h.pool
	failed := o.Err != OK
	h.mu.Lock()
	defer h.mu.Unlock()
	if o.Err != Canceled {
		lat := o.Latency
		if lat <= 0 {
			lat = rt
		}
		h.sample(lat, now, failed)
	}
	if trial {
		h.trialOut.Store(false)
		if h.erroring {
			switch {
			case o.Err == Canceled: // not a verdict: the trial may be taken again
				return false
			case !failed:
				h.recoverErroring()
			default:
				h.backoff = min(2*h.backoff, max(MaxTrialBackoff, p.health.Interval.D()))
				h.retryAt = now + h.backoff
			}
			return true
		}
	}
	if h.erroring || epoch != h.epoch.Load() || o.Err == Canceled || o.Overload {
		return false // stale attempt, not the host's fault, or its own state
	}
	var f int64
	if failed {
		f = 1
		h.consecutive++
	} else {
		h.consecutive = 0
	}
	h.outcomes.Add(now, f)
	if !failed {
		return false
	}
	trip := h.consecutive >= p.passive.ConsecutiveFailures
	if !trip {
		n, fails := h.outcomes.Total(now)
		trip = n >= int64(p.passive.MinRequests) && float64(fails) >= p.passive.ErrorRatio*float64(n)
	}
	if trip {
		h.trip(now)
	}
	return trip
}

// probed applies one active probe's result and reports whether the host's
// ejection flags changed.
func (h *Host) probed(ok bool, errText string) bool {
	hc := h.pool.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !ok {
		h.goodProbes = 0
		h.badProbes = min(h.badProbes+1, math.MaxInt32)
		h.probeErr = errText
		if !h.unavailable && h.badProbes >= hc.UnhealthyAfter {
			h.markWant()
			h.unavailable = true
			return true
		}
		return false
	}
	h.badProbes = 0
	h.goodProbes = min(h.goodProbes+1, math.MaxInt32)
	if h.goodProbes < hc.HealthyAfter || !h.wantsOut() {
		return false
	}
	h.unavailable = false
	if h.erroring {
		h.recoverErroring()
	}
	return true
}

// HostStatus is one host in Pool.Hosts and the admin /status. A host that a
// check wants out but that max_ejected keeps in rotation shows its check's
// state with "kept": true, e.g. {"state": "erroring", "kept": true}.
type HostStatus struct {
	Addr  string `json:"addr"`
	State State  `json:"state"`
	// Kept: the host is erroring or unavailable, but ejecting it would exceed
	// max_ejected, so it stays in rotation ("kept: max_ejected").
	Kept        bool `json:"kept,omitempty"`
	Drained     bool `json:"drained,omitempty"`
	Erroring    bool `json:"erroring,omitempty"`    // passive detection tripped
	Unavailable bool `json:"unavailable,omitempty"` // active probes failed
	Overloaded  bool `json:"overloaded,omitempty"`  // Bulwark-Overload within OverloadFor

	EWMA       time.Duration `json:"ewma_ns"` // peak EWMA of latency as of its latest sample; 0 = none yet
	Inflight   int64         `json:"inflight"`
	ErrorRatio float64       `json:"error_ratio"` // failures / outcomes over Passive.Window
	// ConsecutiveFailures is the current passive run of failures.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// Breaker is the breaker's state (closed, half-open, open); DropProbability
	// is the SRE breaker's current p (0 for a classic breaker).
	Breaker         string  `json:"breaker"`
	DropProbability float64 `json:"drop_probability"`
	// ProbeError is the latest failed probe's error while probes are failing.
	ProbeError string `json:"probe_error,omitempty"`

	// Counts since the pool was made: attempts acquired, and how Done reported them.
	Attempts  uint64 `json:"attempts"`
	Successes uint64 `json:"successes"`
	Failures  uint64 `json:"failures"`
	Canceled  uint64 `json:"canceled"`
	Overloads uint64 `json:"overloads"` // outcomes that carried Bulwark-Overload: 1
}

func (h *Host) status(now time.Duration) HostStatus {
	st := HostStatus{
		Addr:       h.addr,
		State:      State(h.state.Load()),
		Kept:       h.kept.Load(),
		Overloaded: h.overloadUntil.Load() > int64(now),
		EWMA:       time.Duration(h.ewmaNs.Load()),
		Inflight:   h.inflight.Load(),
		Breaker:    h.brk.State().String(),
		Attempts:   h.attempts.Load(),
		Successes:  h.successes.Load(),
		Failures:   h.failures.Load(),
		Canceled:   h.canceled.Load(),
		Overloads:  h.overloads.Load(),
	}
	if h.sre != nil {
		st.DropProbability = h.sre.DropProbability()
	}
	h.mu.Lock()
	st.Drained, st.Erroring, st.Unavailable = h.drained, h.erroring, h.unavailable
	st.ConsecutiveFailures = h.consecutive
	if n, fails := h.outcomes.Total(now); n > 0 {
		st.ErrorRatio = float64(fails) / float64(n)
	}
	if h.badProbes > 0 {
		st.ProbeError = h.probeErr
	}
	h.mu.Unlock()
	return st
}
