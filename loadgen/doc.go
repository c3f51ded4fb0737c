// Package loadgen is Bulwark's open-model load engine (SEEDS.md C3, C4).
//
// One scheduler goroutine computes each request's intended send time by integrating the
// Schedule's rate (the k-th send is due when ∫₀ᵗ rate = k) and hands it to a bounded pool of
// workers. The sender never waits for the server: a slow server fills the workers, then the
// backlog, and a send that finds the backlog full is dropped and counted. A send that starts
// more than LateAfter after its intended time is counted late; it is still sent.
//
// Latency is timed from the intended send time, so a stall that holds up the sender shows in
// full in the percentiles: the measure is free of coordinated omission, as in wrk2. The report
// also keeps the service time, timed from the actual send, which is what a closed-loop tool
// such as wrk reports; the gap between the two is the coordinated omission. Each worker
// records into its own HDR histograms (1 µs to 60 s, 3 significant digits), merged at the end.
//
// Once a second the engine gathers the workers' last second, checks the stop rules (Rule) on
// a sliding window of the last N seconds after the warm-up, and calls Config.OnTick.
//
// Decisions where the spec is silent:
//   - Duration includes the warm-up; warm-up requests are sent but left out of the report.
//   - Only answers are timed; transport errors and timeouts are counted by kind.
//   - error_rate counts transport errors and 5xx answers; rejections (Bulwark-Reject) are
//     counted by reason, and reject_rate is a rule metric of its own.
//   - Weighted targets are picked at random (cumulative weights, seeded PCG); replayed
//     targets go in file order, wrapping around.
//   - A stop rule stops scheduling; requests in flight finish (bounded by Timeout) and queued
//     ones are counted as cancelled. Cancelling the context also cuts in-flight requests short.
//   - On Linux the scheduler sleeps its last 2 ms with nanosleep(2): the runtime's timers wake
//     up to 1 ms late, which would bunch sends.
//   - Merge assumes the runs ran at the same time against one target: rates add up.
package loadgen
