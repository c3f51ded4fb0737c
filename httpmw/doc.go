// Package httpmw applies Bulwark's algorithms to net/http: Protect is server middleware that
// lets a service protect itself (no layer trusts the one in front of it, SEEDS.md B13), and
// Transport is an http.RoundTripper that protects a service from its dependencies.
//
// # Protect
//
//	h, err := httpmw.Protect(mux,
//		httpmw.WithLimiter(bbr),                         // adaptive limiting, level-aware (B3, B7)
//		httpmw.WithLevels(map[string]int{"/pay/": 1, "/badges/": 4}),
//		httpmw.WithOverload(detector, 0),                // active-worker overload detector (B9)
//		httpmw.WithWorkers(64, 0, 0),                    // bounded workers, queue-wait drop (B12)
//	)
//
// Every protection is optional. A request passes these steps in order, cheapest first, and the
// first refusal answers it:
//
//  1. Bulwark-Deadline: a malformed value is 400 "bad_deadline"; a deadline that has passed is
//     503 "deadline"; otherwise the request context gets that deadline.
//  2. The rate limit (WithRateLimit): 429 "rate_limited", Retry-After = the window.
//  3. The overload detector (WithOverload): sampled at most every interval, on arrivals;
//     refuses beyond its target with 503 "overloaded".
//  4. Adaptive limiting (WithLimiter): a shed.Admitter divides the BBR limiter's capacity among
//     the levels and queues briefly: 503 "shed", "queue_timeout" or "deadline".
//  5. The worker pool (WithWorkers): at most n handlers run; others wait, level 1 first, up to
//     the maximum wait (500 ms by default, B12): 503 "queue_full", "queue_timeout" or "deadline".
//  6. Trace context (WithPropagator) and the color (color.From) go into the request context.
//  7. The handler runs. A panic is recovered: 500 (or, if the response had begun, the connection
//     is cut with http.ErrAbortHandler), bulwark_panics_total counts it, and the logger gets a
//     line with the stack. The server keeps serving. A handler's own http.ErrAbortHandler passes.
//
// Refusals follow the gateway's contract: the status, Bulwark-Reject with the reason, and
// Retry-After (1 s for a 503). A client that leaves while its request waits is counted as
// 499 "client_closed", apart from the server's own refusals. While the detector is not normal every response, refusals
// included, carries Bulwark-Overload: 1, so the gateway moves this host to its overloaded
// state and the state climbs the call chain (B9).
//
// A request's level (1 = most important .. 4) comes from, in order: a valid Bulwark-Level
// header when TrustLevelHeader is given (the gateway sets it from its route table), the level
// function (WithLevelFunc), the route table (WithLevels), then the default (WithDefaultLevel, 1).
//
// The color is always taken from a valid Bulwark-Color header, trusted or not: a color only
// sends writes to shadow storage, so honouring a forged one cannot harm production data, while
// dropping a real one would send test traffic into production. The gateway strips colors that
// may not enter.
//
// The admit path (no refusal, no deadline, color or trace headers) allocates nothing: the
// response writer wrapper is pooled. It supports Flush, Hijack, ReadFrom and Unwrap (for
// http.ResponseController). As with any ResponseWriter, a handler must not use it after it
// returns.
//
// # Transport
//
// Transport wraps a base RoundTripper with, per target host, a circuit breaker (SRE by default)
// and an EMA dynamic timeout, plus an optional rate limit and a degrade switch with a fallback.
// It propagates the deadline (Bulwark-Deadline), the trace context and the color to outgoing
// requests, on a copy: the caller's request is never modified. Its refusals are typed:
// errors.Is(err, breaker.ErrOpen), ratelimit.ErrLimited, degrade.ErrDegraded, ErrTimeout.
// A 5xx, a Bulwark-Overload: 1 answer, a transport error, the timeout and the caller's
// deadline count against the host's breaker; the caller's own cancellation counts for
// nothing. The dynamic timeout bounds the wait for the response headers; the caller's
// context alone bounds the body, and closing the body releases the call. Transport's doc
// comment has the details.
//
// # Options
//
// One Option type serves both sides; each option's comment says where it applies, and giving
// it to the other side is an error rather than silently nothing.
package httpmw
