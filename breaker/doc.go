// Package breaker is Bulwark's circuit breakers: a caller asks a [Breaker]
// before each call to a dependency, and the breaker refuses calls that are
// likely to fail so that a sick dependency gets room to recover and the
// caller fails fast onto its degrade path.
//
// Every breaker has the same shape. [Breaker.Allow] returns a [Permit] and a
// nil error, or the zero Permit and an error that is [ErrOpen] under
// errors.Is. The caller reports how the call went with [Permit.Done]
// (or [Permit.Success] / [Permit.Failure]). Allow and Done do not allocate.
//
// # SRE breaker (preferred)
//
// [SRE] is the client-side adaptive throttling of the Google SRE book
// (SEEDS.md B4). Over a rolling window it counts requests (every attempt
// reported with Done, and every attempt it rejected itself) and accepts
// (attempts reported as successes), and drops each new request with
// probability
//
//	p = max(0, (requests − K·accepts) / (requests + 1))
//
// When every request succeeds, requests = accepts and p = 0. A smaller K
// drops more. While the window holds fewer than the minimum number of
// requests, p is 0. It has two states only: [StateClosed] while p = 0 and
// [StateHalfOpen] while it drops with p > 0; it never reports [StateOpen].
//
// Defaults: K 1.5, window 10 s in 40 buckets, minimum requests 20, random
// source math/rand/v2.Float64.
//
// # Classic breaker
//
// [Classic] is the three-state machine of SEEDS.md B5, in the manner of
// sony/gobreaker:
//
//   - closed: it admits every call and counts outcomes. It trips to open when
//     the consecutive failures reach the failure count, or when, over the
//     rolling window, the failure ratio reaches the failure ratio and the
//     window holds at least the minimum number of outcomes.
//   - open: it rejects every call until the open timeout has passed, then
//     moves to half-open (lazily, on the next Allow or State call; no timers).
//   - half-open: it admits at most the half-open quota of trial calls. After
//     the success threshold of successes it closes, with fresh counts; any
//     failure reopens it with a new timeout.
//
// Every transition starts a new generation, and each Permit remembers the
// generation it was issued in: an outcome reported after the state has moved
// on is ignored, so a slow call from before a trip cannot close the breaker,
// and a late failure from the closed state cannot reopen a half-open one.
//
// Defaults: trip after 5 consecutive failures, failure ratio off (window 10 s
// in 40 buckets and minimum 20 outcomes when it is on), open timeout 10 s,
// 1 half-open trial, success threshold equal to the trial quota.
//
// # State changes
//
// [WithOnStateChange] registers a callback for state transitions. It is
// called after the breaker's lock is released, so it may call the breaker
// itself. Transitions of one breaker are delivered one at a time and in the
// order they happened, but not necessarily on the goroutine whose call caused
// them: whichever caller finds callbacks pending delivers them. Different
// breakers (different keys of a [Group]) deliver concurrently.
//
// # Groups
//
// A [Group] holds one breaker per key (a host, a service), made on first use
// from one set of options. Looking up an existing key does not allocate and
// does not contend between goroutines.
package breaker
