// Package upstream is one pool of hosts of one service in one center: host
// selection, a circuit breaker per host, host states from passive and active
// health checks, the max_ejected cap, drain, and the pool's pressure signal
// (SEEDS.md B10, B16). It does no proxying: the gateway picks a host with
// [Pool.Acquire], sends the request itself and reports how it went with
// [Attempt.Done].
//
// # Picking a host
//
// The hosts that may take traffic are kept in an immutable snapshot that is
// swapped atomically whenever a host's state changes, so a pick reads one
// pointer. Hosts in rotation and not overloaded come first; overloaded hosts
// are used only when none of those can take the attempt. With the default
// policy, p2c_ewma, Acquire draws two distinct candidates at random and takes
// the cheaper by the "peak EWMA" cost
//
//	cost = ewma × (inflight + 1)
//
// where ewma is the host's peak EWMA of latency (Outcome.Latency, the time to
// response headers) with time constant τ = 10 s: a sample above it replaces it
// at once, a lower one pulls it down with weight 1 − e^(−Δt/τ), and between
// samples it decays toward 0 by e^(−Δt/τ) as Finagle's and Linkerd's do, so a
// host that was slow once and then got no traffic is tried again after a while.
// A failed attempt only lets it decay, never pulls it down: a host that fails
// fast must not attract traffic. A host with no sample yet costs 0 while idle,
// so new hosts get tried, and a prohibitive penalty while its first attempt is
// in flight. Acquire reads no clock for this: both costs decay by the same
// clock, so only the difference of their sample times matters. round_robin
// takes the candidates in turn. If the chosen host's
// breaker refuses, Acquire asks the other candidate, then every remaining
// host; if all refuse it returns [ErrBreakersOpen] (which matches
// breaker.ErrOpen), and with no host at all [ErrNoHost].
//
// Each host has a breaker (breaker.NewSRE or NewClassic from config.Breaker).
// OK is a success; ConnectError, Timeout, Status5xx and OtherError are
// failures; Canceled (the client went away) is not reported to the breaker at
// all, since breaker permits have no "neither" outcome: an SRE breaker counts
// only what is reported, and a classic breaker treats an unreported half-open
// trial as lost and starts a new round one open timeout later. An answer that
// carried Bulwark-Overload: 1 counts by its status (a 200 is a success): the
// overload signal acts through the overloaded state and the pool's pressure,
// which sheds by service level, rather than through the breaker, which would
// drop at random.
//
// # Host states
//
// A host is in exactly one reported [State]; when several apply, the first of
// offline, unavailable, erroring, overloaded, healthy wins.
//
//   - healthy: takes traffic.
//   - overloaded: a response carried Bulwark-Overload: 1 within the last
//     Passive.OverloadFor (default 1 s; each report extends it). De-preferred,
//     not ejected. Such outcomes count neither way in the passive checks.
//   - erroring: passive detection tripped: Passive.ConsecutiveFailures (3)
//     failures in a row, or failures/outcomes ≥ Passive.ErrorRatio (0.5) over
//     Passive.Window (2 s, 10 buckets) with at least Passive.MinRequests (10)
//     outcomes. Failures are ConnectError, Timeout, Status5xx and OtherError;
//     Canceled counts neither way. Ejected. With active probes running it comes
//     back after Health.HealthyAfter (2) good probes in a row counted from the
//     trip. Without probes it comes back through a trial: once a back-off has
//     passed (Health.Interval, doubled after each failed trial, at most
//     max(30 s, Interval)), the next Acquire sends exactly one attempt there
//     before choosing as usual; an OK answer brings the host back, a failure
//     doubles the back-off, a cancel frees the trial for the next Acquire.
//   - unavailable: Health.UnhealthyAfter (2) failed probes in a row (an error,
//     a timeout, or a non-2xx answer; redirects are not followed). Ejected;
//     back after Health.HealthyAfter good probes in a row. Only probes set or
//     clear it, so it stays after Stop.
//   - offline: drained by an operator (Drain). Never picked until Undrain.
//     Drained hosts are still probed, so Undrain returns them in the state
//     their probes give.
//
// The passive checks ignore outcomes of attempts acquired before the host
// last tripped or recovered, so a burst of late failures cannot re-trip it
// right after it comes back. Changes of Kept alone are not state changes:
// they show in Hosts, not in OnStateChange.
//
// # max_ejected
//
// At most ⌊Health.MaxEjected × n⌋ hosts are ejected at once, where n counts
// the hosts that are not offline (drained hosts are out on purpose and do not
// use the budget); the cap is at least 1 when n ≥ 2, so one of two hosts can
// always be ejected, and a lone host is ejected only with max_ejected 100%.
// Hosts are ejected in the order they came to want it; a host beyond the cap
// stays in rotation, like a healthy one, with its state still reported and
// HostStatus.Kept set ("kept": true in /status, i.e. "kept: max_ejected").
// When an ejected host recovers or is drained, the earliest kept one is
// ejected in its place.
//
// Time alone changes two things: overload marks expire, and trial back-offs
// end. The snapshot carries the earliest such deadline; Acquire reads the clock
// for it only while one is pending, so neither needs a goroutine. A state
// change caused by time is therefore noticed, and reported to OnStateChange,
// at the next Acquire, Hosts, Host.State or probe round.
//
// The dead-host target: with the defaults, a host that refuses connections is
// ejected after its third failed attempt in a row: about 20 ms after its death
// at 100 requests per second in the package's test, well inside the 2 s target
// (the source designs took 1–2 minutes). A dead host that P2C was not sending
// traffic to anyway is marked unavailable by the probes within
// UnhealthyAfter × Interval (2 s).
//
// # Pressure
//
// The pool is a shed.Capacity ([Pool.Capacity]): the gateway sheds by service
// level when the pool is saturated even if its own CPU is idle. Every Attempt
// holds a token of an adaptive.Limiter (BBR: limit = maxPass × minRt over a
// 10 s window) whose "CPU" reading is the pool's pressure in per mille:
//
//	pressure = 1000                                  if a host reported overload within OverloadFor
//	pressure = 1000 × (1 − minRt / recentRt) ∈ [0, 1000]   otherwise
//
// minRt is the limiter's least bucket-mean round trip; recentRt is the mean
// round trip of the attempts completed in the last second (ten 100 ms buckets,
// the current one partial; with fewer than 10 attempts the reading is 0). Round trips run from Acquire to Done,
// as the limiter measures them. With the threshold at 500 ‰ the pool counts as
// limited once recent latency is at least twice the best seen: requests are
// queueing at the backends. The latency reading is recomputed at most every
// 100 ms, when Capacity or Pressure is called.
//
// # Costs
//
// Acquire and Done do not allocate, and take the pool's lock only when a
// host's state changes. OnStateChange is never called with a lock held.
package upstream
