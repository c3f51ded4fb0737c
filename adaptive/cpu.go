package adaptive

import "github.com/bulwark-go/bulwark/internal/cpu"

// CPUSampler measures the process's CPU usage in per mille of the CPU it may
// use (cgroup v2 cpu.max, cgroup v1 quota, else the host's CPUs), smoothed by
// an EMA with β 0.95 over 250 ms samples. It satisfies [CPU]. It is the
// sampler of Bulwark's internal/cpu package, exported here so that code
// outside this module can give a Limiter a real CPU source.
type CPUSampler = cpu.Sampler

// NewCPUSampler returns a CPUSampler with the default settings. It starts no
// goroutine: call Start before use and Stop when done; Usage reads 0 until
// the first sample.
func NewCPUSampler() (*CPUSampler, error) { return cpu.NewSampler() }

var _ CPU = (*CPUSampler)(nil)
