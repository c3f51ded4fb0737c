// Package retry bounds failover retries with the adaptive retry window of
// SEEDS.md A2, and holds the retry switches (global and per service).
//
// # The window
//
// Time is cut into periods (default 1 s). In period i, f(i) is the window
// (the most retries allowed), g(i) the retries sent, s(i) the success rate
// of retry results recorded, and t the local requests seen. At each period
// boundary:
//
//	f(0) = 1
//	if s(i) ≥ threshold (default 0.98):          remote healthy
//	    if g(i) ≥ f(i): f(i+1) = f(i) + max(min(⌊t/100⌋, f(i)), 1)   used up: grow
//	    else:           f(i+1) = f(i)                                not used up: keep
//	else:
//	    f(i+1) = max(1, ⌊f(i)/2⌋)                                     remote failing: halve
//
// [Window.Allow] admits a retry while g < f and answers [ErrNoBudget] once
// the period's window is spent. [Window.Record] reports a retry's result and
// [Window.ObserveLocal] counts a local request.
//
// What the formula implies: the window grows by at most 1 % of local traffic
// per period. It doubles only while f < 1 %·t, and once it reaches 1 %·t it
// grows by that much each period, so retrying a full local outage of t
// requests per period takes about 100 periods of ramp (plus the doubling
// from 1). The slowness is deliberate in the source: a failing center must
// not dump its whole load on the other one at once. The remote credit below
// is Bulwark's extension for a remote that says it has room.
//
// Choices where the source is silent, all documented on the options:
//   - 1 %·t is integer arithmetic, ⌊t/100⌋; with t < 100 the step is 1.
//   - A period with no recorded results counts as healthy (s = 1).
//   - Periods roll lazily: any call reads the clock and closes every period
//     that has ended. An idle period (nothing sent, nothing recorded) keeps
//     f, so a long pause changes nothing. Periods stay aligned to the
//     construction time; a clock that steps backwards never reopens a
//     closed period.
//   - A result is counted in the period in which Record is called, which may
//     be the period after the retry was admitted.
//   - The source's comment says the window is "reset to 1" when the remote
//     fails while its formula halves. The formula (halve, never below 1) is
//     the default; [WithResetToOne] gives the comment's behaviour.
//
// # Remote credit (Bulwark's extension)
//
// A remote gateway answers each failover request with the header
// Bulwark-Credit: n, the retries per period it can still take from this
// instance. [Window.Grant] records n (the latest grant wins). At the next
// period boundary, if the remote was healthy by the rule above, the new
// window is
//
//	f(i+1) = max(formula, min(n, cap))       (cap default 1000, WithCreditCap)
//
// If it was not healthy, the credit is withdrawn at once: the window falls to
// the formula's own window (the one it would have had, from the same counts,
// had no credit ever been granted), halved — not to half the credit, which
// would keep a remote that has just started failing under hundreds of retries
// for several periods. Either way the grant is consumed at that boundary: a
// later period is raised only by a later grant. Credit only ever raises the window; a
// remote that wants less traffic says so by failing retries. Without grants,
// or with WithRemoteCredit(false), the window is exactly the source's.
//
// # Switches
//
// [Switches] holds the retry switches: one global, one per service. A retry
// is allowed for a service only while both are on; a service never set is
// on. Reading a switch takes no lock and does not allocate.
package retry
