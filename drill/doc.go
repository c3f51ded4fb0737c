// Package drill runs fault and load drills (SEEDS.md C1–C3) described in YAML files against
// running Bulwark gateways, and reports a checklist: step, expectation, measured value, verdict.
//
// A drill names its gateways (proxy URL and admin URL each), steady-state guards, and steps.
// Each step, in order:
//
//  1. applies its faults (POST /faults on the named gateway) and actions (any admin call, or a
//     host drain); the first refusal aborts the drill;
//  2. runs its load with loadgen (open model, weighted targets) for settle + duration;
//     host_out_within watchers poll /status from the moment the faults and actions are in;
//  3. samples the guards every interval (default 1 s) from the gateways' /status (success %
//     and level-1 success from deltas of services[].counts), the load's last-second p99, and
//     optionally Prometheus instant queries; Breaches (default 3) consecutive breaching
//     samples cancel the load and abort the drill;
//  4. measures the expectations over the window after settle: the gateways' /status and
//     /metrics are read when the window opens and closes, and a client-side tally counts
//     every answer by target, status and Bulwark-Reject;
//  5. rolls back: deletes the faults it created and undoes its actions in reverse order, also
//     on abort and when ctx is cancelled (with a fresh 10 s deadline).
//
// Decisions where the spec is silent:
//   - Success on the gateway side is (ok + failover_ok) ÷ every outcome but canceled; degraded
//     answers are not successes. On the client side it is 2xx and 3xx ÷ every request sent
//     (transport errors included); "admitted" leaves out answers carrying Bulwark-Reject.
//   - Retry amplification is Δ bulwark_failovers_total{result=ok|error} ÷ Δ requests in
//     /status, over the entry gateways (those the load targets name), summed.
//   - Shed order [4, 3, 2]: the refusal ratio r(L) = (shed + queue_timeout + rate_limited) ÷
//     requests of level-L services must satisfy r(4) ≥ min_first and r(next) ≤ r(prev) + slack.
//     A level without requests has ratio 0.
//   - A host is out of rotation when /status shows any state but healthy or overloaded and
//     max_ejected does not keep it in.
//   - Options.Scale shortens load durations and pauses only; settle times (the time the system
//     needs, e.g. for a retry window to open), guard intervals and host_out_within deadlines
//     are not scaled.
//   - A fault without ttl gets ttl 10m, so a drill killed with SIGKILL leaves nothing for long.
//   - Load requests carry X-Bulwark-Drill-Target while in the process (the tally's key); it is
//     removed before the request is sent.
//   - The measured window opens on a timer next to loadgen's warm-up, so the tally and the
//     load report may differ by a few requests at the edges.
//   - Exit statuses of the CLI: 0 pass, 1 a check or a rollback failed, 2 aborted or invalid
//     file, 130 interrupted.
package drill
