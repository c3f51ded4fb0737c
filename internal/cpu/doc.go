// Package cpu measures the CPU usage of the process in per mille (0–1000) of
// the CPU it may use. It is the CPU reading behind the adaptive (BBR-style)
// limiter.
//
// # The limit: how many CPUs the process may use
//
// In order of precedence:
//
//  1. [WithQuota] (a manual override) wins over everything.
//  2. cgroup v2: cpu.max ("max 100000" means unlimited, "200000 100000" means
//     2 CPUs).
//  3. cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us (a quota of −1 means
//     unlimited).
//  4. The host: runtime.NumCPU(), which respects the CPU affinity mask.
//
// The process's cgroup comes from /proc/self/cgroup (the v2 line "0::/path";
// the v1 line whose controllers include "cpu"), resolved under the mount root
// /sys/fs/cgroup (v2 is also looked for at /sys/fs/cgroup/unified, where
// hybrid systems mount it; v1 under /sys/fs/cgroup/<controllers>, e.g.
// cpu,cpuacct, or /sys/fs/cgroup/cpu). The search walks from the process's
// own cgroup up to the mount root and takes the tightest limit it finds,
// because a parent's quota throttles its children too. Directories that do
// not exist are skipped, so a container whose namespace hides the host path
// falls back to the mount root. A cgroup limit is never taken above
// runtime.NumCPU(): a 4-CPU quota on a 2-CPU machine still means 2 CPUs.
//
// # The usage
//
// When a cgroup limit applies, usage is the cgroup's own CPU time (v2
// cpu.stat usage_usec, v1 cpuacct.usage), read from the cgroup that holds the
// limit: the quota throttles the whole cgroup, so the cgroup's consumption
// is what comes close to it, whoever in the cgroup spends it (if that file
// is missing, the process's own time stands in). Otherwise, and
// whenever WithQuota is given (the override describes this process), usage
// is the process's own CPU time, user plus system (getrusage RUSAGE_SELF).
//
// # Sampling
//
// A [Sampler] reads the usage every interval (default 250 ms) on a ticker
// that its owner starts with [Sampler.Start] and stops with [Sampler.Stop];
// nothing here starts a goroutine from init or from a constructor. Each tick
// computes
//
//	instant = Δusage / (Δwall × cpus) × 1000, clamped to [0, 1000]
//	cpu     = β·cpu + (1−β)·instant            (β = 0.95 by default)
//
// and publishes cpu, rounded to the nearest integer, for [Sampler.Usage] to
// read atomically. The first sample seeds the average (cpu = instant), so a
// process started under load reports it at once rather than climbing from 0.
//
// [Static] and [Manual] are fixed or hand-set readings for tests and for
// users who measure CPU some other way.
package cpu
