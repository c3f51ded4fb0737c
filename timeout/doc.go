// Package timeout is Bulwark's dynamic timeout: instead of one fixed limit,
// it keeps an exponential moving average (EMA) of response times and derives
// the timeout for the next call from it (SEEDS.md B6).
//
// # Algorithm
//
// Every observed response time x updates the average:
//
//	r   = 2 / (N + 1)
//	ema = x·r + ema·(1 − r)
//
// and the timeout for the next call is
//
//	Tmax                                          if ema ≤ Tavg
//	Thwm                                          if ema ≥ Thwm
//	Thwm + (Thwm − ema)/(Thwm − Tavg) · (Tmax − Thwm)   otherwise
//
// Thwm (the high-water mark) is the timeout the service must live with when
// things go badly; Tmax is the most elastic timeout it may grant when they go
// well; Tavg is the response time under which the average counts as good.
// The better the average, the more slack a slow outlier gets: while the EMA
// is at or below Tavg a call may take up to Tmax, and the allowance shrinks
// linearly to Thwm as the EMA climbs to Thwm. It never drops below Thwm.
//
// A failed call is fed as max(elapsed, Tmax), so failures pull the average up
// as hard as the slowest call the timeout can allow.
//
// Defaults: Tavg 60 ms, Thwm 250 ms, Tmax 500 ms, N 80 (r = 2/81 ≈ 0.0247).
// Settings must satisfy 0 < Tavg < Thwm ≤ Tmax and N ≥ 1.
//
// # Compared with the reference implementation
//
// The public reference (github.com/jiamao/ema-timeout, now fefeding/ema-timeout,
// published on npm as ema_time) uses the same defaults, r = 2/(N+1) and an
// initial EMA of 0, as this package does, so a fresh [Dynamic] hands out Tmax
// until enough slow responses arrive; [WithInitialEMA] starts elsewhere.
// Two deliberate differences:
//   - The reference compares the EMA with an undefined field (options.thwm,
//     lower case), so its "ema ≥ Thwm" branch never runs: above Thwm its
//     linear formula keeps falling below Thwm and, through Math.abs, finally
//     grows again. This package applies the clamp that the reference's
//     comments and SEEDS.md describe: the timeout is Thwm once ema ≥ Thwm.
//   - The reference has no notion of failure; [Dynamic.Fail] is ours.
//
// A Go port (day253/ema-timeout) uses r = 1/(N+1); we keep 2/(N+1), the
// standard N-period EMA the reference uses.
//
// # Concurrency and cost
//
// A [Dynamic] keeps its EMA in one atomic word. Updates (Observe, Fail) are
// serialised by a short mutex, so none is lost; reads (Timeout, EMA) take no
// lock. Observe, Fail and Timeout do not allocate.
package timeout
