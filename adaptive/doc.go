// Package adaptive is a BBR-style adaptive limiter: server-side load shedding
// that needs no hand-set request limit (SEEDS.md B3).
//
// By Little's law, the number of requests in flight in a system that serves
// X requests per second with latency R is X·R. The most work the server can
// hold without queueing is what it has been seen to complete at best times
// the best latency it has been seen to give:
//
//	maxInflight = ⌈maxPass × minRt × bucketsPerSecond / 1000⌉   (≥ 1)
//
// where, over the rolling window and leaving out the bucket in progress,
// maxPass is the most requests completed in one bucket and minRt is the
// least average round-trip time of a bucket, in ms. (bucketsPerSecond/1000
// is 1/bucket width in ms, so the formula is maxPass × minRt / width; it is
// computed exactly in integers.) A request is shed, with [ErrOverload], when
//
//	cpu ≥ threshold  AND  inflight ≥ maxInflight
//
// where inflight counts the requests admitted and not yet Done before this
// one: a request is admitted only if the count stays ≤ maxInflight with it.
// (Letting inflight reach maxInflight+1, as "shed when inflight >
// maxInflight" before counting the newcomer would, keeps one request
// queued; its wait raises minRt, and under sustained overload the limit
// then climbs by one every window.)
//
// For the cool-down (1 s by default) after a drop made while the CPU was at
// or above the threshold, the inflight check applies even if the CPU has
// fallen, so the limiter does not flap while a CPU average decays. Drops
// made during the cool-down do not extend it, so a CPU that stays low always
// ends shedding within the cool-down.
//
// While no completed bucket in the window has a completion (a cold start, or
// after a whole window without traffic) the limit is unknown and nothing is
// shed: there is no evidence of capacity yet.
//
// Defaults: threshold 800 ‰, window 10 s of 100 buckets (100 ms each; the
// window holds the 100 completed buckets plus the one in progress), cool-down
// 1 s. maxPass and minRt are recomputed only when the bucket changes, so
// [Limiter.Allow] is O(1); it takes no lock at all while the CPU is below the
// threshold and no cool-down runs, and [Token.Done] takes one short lock to
// record the round trip.
//
// The CPU reading comes from a [CPU] given with [WithCPU], usually an
// internal/cpu Sampler that the owner starts and stops. Without one the CPU
// always counts as overloaded (1000 ‰): the limiter is then a pure Little's
// law concurrency limit, which is the safe side for a server that forgot to
// wire its sampler. The constructor starts no goroutine.
//
// Round-trip times are measured on the limiter's clock from Allow (or Start)
// to Token.Done, so they include any queueing inside the server. Every
// method is safe for concurrent use, and Allow, Token.Done and Capacity do
// not allocate.
package adaptive
