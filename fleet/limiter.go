package fleet

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// Limits of the cluster limiter's layout.
const (
	// LimiterMaxSlots is the most slots a cluster window is cut into. A window longer than
	// LimiterMaxSlots sync intervals gets slots longer than the interval.
	LimiterMaxSlots = 64
	// limiterRing holds the per-slot state of the current window and the slots granted ahead;
	// a power of two above LimiterMaxSlots plus the horizon.
	limiterRing = 128
)

// LimiterMode says where a Limiter takes its decisions from.
type LimiterMode string

// The modes of a Limiter.
const (
	// ModeCluster: the instance admits from grants of the cluster window in Redis.
	ModeCluster LimiterMode = "cluster"
	// ModeLocal: Redis is unreachable (or the Limiter is closed), and the instance admits
	// from a local sliding window of limit/N.
	ModeLocal LimiterMode = "local"
)

// Limiter is a cluster-wide sliding-window rate limit (SEEDS.md B2): at most limit requests in
// any window of length per, summed over every instance of the fleet that runs a Limiter of the
// same name. Allow decides from local state only; it never waits on Redis.
//
// # How the limit is shared
//
// Time is cut into n slots per window, n = min(⌈per/I⌉, LimiterMaxSlots), I the fleet's
// SyncInterval, each w = per/n long and numbered from the Unix epoch, so that every instance
// numbers them alike (their clocks must agree to well within w; NTP does). Redis holds, for
// each slot s of the current window, C_s: what instances were granted for s, less what they
// handed back unused, plus what they admitted in local mode (below). Every I, each instance
// runs one atomic Lua script that
//
//  1. applies its own counts: the unused part of the grants of slots that have ended comes
//     back, admissions it made in local mode go in (each into its own slot);
//
//  2. refreshes its heartbeat and its demand d_i (requests offered per second, admitted or
//     not, smoothed), and drops instances whose heartbeat is older than the dead-after time;
//
//  3. for each slot s from the current one to the one that holds now + 2·I, tops its grant
//     g_i(s) up to
//
//     want_i(s) = min(⌈B_s · ω_i / Σ_j ω_j⌉, ⌈2 · d_i · w⌉ + 1),   B_s = L − Σ_{j=s−n+1}^{s−1} C_j,
//     ω_j = d_j + d̄/50
//
//     (d̄ the mean measured demand of the live instances, or L/(per·N) when none has
//     measured one; an instance that has not measured its own counts as d̄ in both terms),
//     but never past cap_s = L − max_W Σ_{j∈W} C_j, the room left in the
//     fullest window W of n slots that contains s;
//
//  4. returns the grants, the live instance count N and the cluster total Σ C over the
//     current window.
//
// B_s is the capacity left for slot s, the limit less what the rest of its window already
// holds: "limit − cluster total + what expires before s". It is split in proportion to
// demand, so an instance that takes 60 % of the traffic gets 60 % of the room, and none
// starves: the d̄/50 term and the ceiling give an idle instance a request or so per slot. The
// second bound keeps an instance from holding more than twice what it was recently offered,
// so idle instances do not sit on capacity that busy ones need; an instance whose traffic
// jumps gets its share at its next sync, because demand counts refused requests too.
// Allow admits from the grant of the current slot: one atomic load, one short lock, no
// allocation.
//
// # Why it meets ±5 % of the limit
//
// Every grant is capped so that Σ C ≤ L over every run of n slots, and an instance admits
// at most what it was granted, so no window of n slots admits more than L (up to clock skew
// between hosts). Under a load above the limit (the fleet is offered D ≥ L/per, in any
// split), instance i's part of B_s, about (d_i/D)·B_s ≈ d_i·w·L/(D·per) ≤ d_i·w, is no more
// than it is offered in a slot and within its demand bound, so the parts sum to B_s: every
// slot s is granted B_s in full, and every grant is used in full. Every window of n slots
// then holds exactly L, and C_{s+n} = C_s, so a window of length per that does not start on
// a slot boundary also holds L, give or take how unevenly requests fall within a slot.
// What remains are small effects: ceilings (the last instance to ask is trimmed by the cap,
// at most N−1 per slot), a sync later than the 2·I horizon (that instance has no grant for a
// moment and its share returns to later slots), and instances joining (a newcomer waits up
// to two slots for its share) or leaving (their grants lapse within a window). While the
// grants change from slot to slot (an instance joins, or demand shifts), a window that does
// not start on a slot boundary can hold up to a tenth or so more than L for a moment.
//
// # Without Redis
//
// When the script fails, the instance reports the error to the Fleet (which logs once),
// switches to ModeLocal and admits at most max(1, L/N) requests per window by itself, N the
// live instances it last saw (at least 1). The fleet then admits no more than N·max(1, L/N)
// per window, and L give or take N when every instance is offered at least L/N; an instance
// offered less leaves the rest of its part unused.
// The local window is a sliding-window counter over the same n slots, and it counts the
// instance's admissions of the current window in both modes, so that going local neither
// grants a fresh window on top of what the cluster just admitted nor forgets it. The instance
// keeps trying every I and returns to ModeCluster by itself at the first sync that succeeds.
// Admissions made in local mode are then added to the slots they were made in, those of the
// current window only: earlier ones belong to windows that have passed, and adding them to
// the current slot would count them against windows they were never part of; the ones in the
// window keep a Redis that restarted empty from granting a whole fresh window on top of them.
//
// # Other decisions
//
// NewLimiter runs the first sync itself, bounded by the fleet's OpTimeout, so the Limiter
// starts with its share (or, Redis being down, in local mode). The Redis keys are
// f.Key("limit", "{name}", w, "slots") and f.Key("limit", "{name}", w, "instances"), with
// w the slot width: one hash tag, so the script runs on Redis Cluster, and instances whose
// windows differ (a rolling config change) keep apart instead of mixing slots of different
// widths; their TTL is 2·per + 4·I, refreshed by every sync. Run one Limiter per name on
// each instance: two would share one heartbeat.
type Limiter struct {
	f        *Fleet
	name     string
	limit    int64
	per      time.Duration
	n        int64 // slots per window
	width    int64 // slot width, ns
	horizon  time.Duration
	deadMs   int64
	ttlMs    int64
	keys     []string
	clk      clock.Clock
	instance string

	localLimit atomic.Int64 // ≥ 0: ModeLocal, admitting this many per window; -1: ModeCluster

	admitted, limited atomic.Uint64
	syncs, syncErrs   atomic.Uint64
	live              atomic.Int64
	shareBits         atomic.Uint64 // float64 bits
	total             atomic.Int64

	mu   sync.Mutex // guards ring
	ring [limiterRing]limiterSlot

	syncMu      sync.Mutex // one sync at a time; guards the fields below
	lastOffered uint64
	lastSync    time.Time
	demand      float64 // requests offered per second, smoothed; < 0 until measured

	stop, loopDone chan struct{}
	closeOnce      sync.Once
	closed         atomic.Bool
	looping        bool
}

// limiterSlot is this instance's view of one slot.
type limiterSlot struct {
	slot      int64
	grant     int64 // granted to this instance for the slot (cluster mode)
	used      int64 // admitted from the grant
	localUsed int64 // admitted in local mode, not yet added to the cluster's count
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// LimiterOption configures a Limiter.
type LimiterOption func(*limiterOptions)

type limiterOptions struct {
	deadAfter time.Duration
	err       error
}

// WithLimiterDeadAfter sets how long an instance may go without a heartbeat before the others
// stop counting it (and its demand): d ≥ 2·SyncInterval. Default 5·SyncInterval. Shorter
// reacts faster to an instance that died; too short drops an instance that is only slow.
func WithLimiterDeadAfter(d time.Duration) LimiterOption {
	return func(o *limiterOptions) {
		if d <= 0 {
			o.err = fmt.Errorf("fleet: WithLimiterDeadAfter: must be > 0, got %v", d)
			return
		}
		o.deadAfter = d
	}
}

// LimiterStats is a snapshot of a Limiter for metrics.
type LimiterStats struct {
	Mode LimiterMode
	// Share is this instance's fraction of the limit: its demand weight among the live
	// instances in cluster mode, 1/N in local mode.
	Share float64
	// ClusterTotal is what the cluster window held at the last sync: admitted and granted
	// requests of every instance over the current window.
	ClusterTotal int64
	// Instances is N, the live instances seen at the last successful sync (at least 1).
	Instances int
	// Admitted and Limited count requests (AllowN(n) counts n) since the Limiter was made.
	Admitted, Limited uint64
	// Syncs and SyncErrors count sync rounds with Redis that succeeded and failed.
	Syncs, SyncErrors uint64
}

// NewLimiter returns a Limiter of limit requests per per, shared by the fleet's instances that
// use the same name, and starts its sync loop through f.Go (it stops on Close or f.Close).
// limit must be ≥ 0 (0 admits nothing), per ≥ f.SyncInterval() and per/n ≥ 1 ms, and name
// non-empty without '{', '}' or whitespace. It runs the first sync before it returns, bounded
// by the fleet's OpTimeout; Redis being down is not an error (the Limiter starts in local
// mode).
func NewLimiter(f *Fleet, name string, limit int, per time.Duration, opts ...LimiterOption) (*Limiter, error) {
	l, err := newLimiter(f, name, limit, per, opts)
	if err != nil {
		return nil, err
	}
	l.sync()
	l.looping = true
	f.Go(l.loop)
	return l, nil
}

// newLimiter builds a Limiter without syncing or starting its loop (tests drive sync).
func newLimiter(f *Fleet, name string, limit int, per time.Duration, opts []LimiterOption) (*Limiter, error) {
	if f == nil {
		return nil, errors.New("fleet: NewLimiter: nil Fleet")
	}
	if err := checkComponentName(name); err != nil {
		return nil, fmt.Errorf("fleet: NewLimiter: %w", err)
	}
	if limit < 0 {
		return nil, fmt.Errorf("fleet: NewLimiter %q: limit must be ≥ 0, got %d", name, limit)
	}
	interval := f.SyncInterval()
	if per < interval {
		return nil, fmt.Errorf("fleet: NewLimiter %q: per %v is shorter than the sync interval %v", name, per, interval)
	}
	o := limiterOptions{deadAfter: 5 * interval}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.deadAfter < 2*interval {
		return nil, fmt.Errorf("fleet: WithLimiterDeadAfter: must be ≥ 2·SyncInterval (%v), got %v", 2*interval, o.deadAfter)
	}
	n := min(int64((per+interval-1)/interval), LimiterMaxSlots)
	width := int64(per) / n
	if width < int64(time.Millisecond) {
		return nil, fmt.Errorf("fleet: NewLimiter %q: slots of %v are shorter than 1ms; use a longer per", name, time.Duration(width))
	}
	base := []string{"limit", "{" + name + "}", time.Duration(width).String()}
	l := &Limiter{
		f: f, name: name, limit: int64(limit), per: per, n: n, width: width,
		horizon:  2 * interval,
		deadMs:   ceilMs(o.deadAfter),
		ttlMs:    ceilMs(2*per + 4*interval),
		keys:     []string{f.Key(append(base, "slots")...), f.Key(append(base, "instances")...)},
		clk:      f.Clock(),
		instance: f.Instance(),
		demand:   -1,
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	l.live.Store(1)
	l.localLimit.Store(-1)
	l.lastSync = l.clk.Now()
	return l, nil
}

func ceilMs(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

// Allow is AllowN(1).
func (l *Limiter) Allow() error { return l.AllowN(1) }

// AllowN admits n requests and returns nil, or returns ratelimit.ErrLimited and consumes
// nothing. n ≤ 0 is always admitted and counted nowhere. In cluster mode it admits from this
// instance's grant for the current slot; in local mode from the local window. It never waits
// on Redis and allocates nothing.
func (l *Limiter) AllowN(n int) error {
	if n <= 0 {
		return nil
	}
	if limit := l.localLimit.Load(); limit >= 0 {
		return l.allowLocal(limit, n)
	}
	k := l.clk.Now().UnixNano() / l.width
	l.mu.Lock()
	e := &l.ring[k&(limiterRing-1)]
	if e.slot == k && e.grant-e.used >= int64(n) {
		e.used += int64(n)
		l.mu.Unlock()
		l.admitted.Add(uint64(n))
		return nil
	}
	l.mu.Unlock()
	l.limited.Add(uint64(n))
	return ratelimit.ErrLimited
}

// allowLocal is the local sliding window: n requests pass if this instance's admissions in
// the slots of the current window (k−n, k], in either mode, leave room for them under limit.
func (l *Limiter) allowLocal(limit int64, n int) error {
	k := l.clk.Now().UnixNano() / l.width
	l.mu.Lock()
	var sum int64
	for j := k - l.n + 1; j <= k; j++ {
		if e := &l.ring[j&(limiterRing-1)]; e.slot == j {
			sum += e.used + e.localUsed
		}
	}
	if sum+int64(n) > limit {
		l.mu.Unlock()
		l.limited.Add(uint64(n))
		return ratelimit.ErrLimited
	}
	l.slotLocked(k).localUsed += int64(n)
	l.mu.Unlock()
	l.admitted.Add(uint64(n))
	return nil
}

// slotLocked returns the ring entry of slot k, reset if it held an older slot.
func (l *Limiter) slotLocked(k int64) *limiterSlot {
	e := &l.ring[k&(limiterRing-1)]
	if e.slot != k {
		*e = limiterSlot{slot: k}
	}
	return e
}

// Stats returns the Limiter's counters and the view of the cluster from its last sync.
func (l *Limiter) Stats() LimiterStats {
	s := LimiterStats{
		Mode:         ModeCluster,
		Share:        math.Float64frombits(l.shareBits.Load()),
		ClusterTotal: l.total.Load(),
		Instances:    int(l.live.Load()),
		Admitted:     l.admitted.Load(),
		Limited:      l.limited.Load(),
		Syncs:        l.syncs.Load(),
		SyncErrors:   l.syncErrs.Load(),
	}
	if l.localLimit.Load() >= 0 {
		s.Mode = ModeLocal
		s.Share = 1 / float64(s.Instances)
	}
	return s
}

// Close stops the Limiter's sync loop, hands its unused grants back and removes its
// heartbeat (one Redis call, bounded by OpTimeout, best effort), so the others take over its
// share at their next sync. After Close the Limiter keeps deciding, in local mode, from
// limit/N. Fleet.Close also stops the loop and puts the Limiter in local mode, without the
// goodbye: the others drop this instance when its heartbeat is older than the dead-after
// time. Close is safe to call more than once and after Fleet.Close.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		if l.looping {
			<-l.loopDone
		}
		l.leave()
	})
}
