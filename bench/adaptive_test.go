package bench

import (
	"testing"
	"time"

	aegisrl "github.com/go-kratos/aegis/ratelimit"
	"github.com/go-kratos/aegis/ratelimit/bbr"
	zload "github.com/zeromicro/go-zero/core/load"

	"github.com/bulwark-go/bulwark/adaptive"
)

// The adaptive limiters all keep a 10 s window of 100 buckets (100 ms each):
// Bulwark's and aegis' defaults; go-zero's default is 5 s of 50, so it is
// set to match.
const (
	bbrWindow  = 10 * time.Second
	bbrBuckets = 100
)

// belowThreshold is the CPU reading ours is given: under its default
// threshold of 800 ‰, so Allow takes the path with no inflight check.
const belowThreshold = 300

// unreachableThreshold is the CPU threshold the peers are given. Their CPU
// reading is a process-wide average that their init functions sample in the
// background and cap at 1000 ‰; a benchmark keeps the CPU busy, so with
// their defaults (800 and 900 ‰) some runs would be measured on the
// overloaded path. Above the cap, every call takes the below-threshold path,
// as ours does.
const unreachableThreshold = 1001

// cpuAt is a fixed CPU reading, in per mille, for adaptive.WithCPU.
type cpuAt int64

func (c cpuAt) Usage() int64 { return int64(c) }

// BenchmarkAdaptive: adaptive.Limiter Allow + Token.Done with the CPU below
// its threshold, against aegis' bbr.BBR Allow + done(DoneInfo{}) and
// go-zero's adaptive shedder (load.NewAdaptiveShedder) Allow + Promise.Pass.
func BenchmarkAdaptive(b *testing.B) { runFamily(b, adaptiveLimiter) }

var adaptiveLimiter = []impl{
	{ours, func(tb testing.TB) instance {
		l, err := adaptive.New(adaptive.WithCPU(cpuAt(belowThreshold)),
			adaptive.WithWindow(bbrWindow), adaptive.WithBuckets(bbrBuckets))
		must(tb, err)
		return instance{op: func() bool {
			t, err := l.Allow()
			if err != nil {
				return false
			}
			t.Done()
			return true
		}}
	}},
	{"aegis-bbr", func(testing.TB) instance {
		l := bbr.NewLimiter(bbr.WithWindow(bbrWindow), bbr.WithBucket(bbrBuckets),
			bbr.WithCPUThreshold(unreachableThreshold))
		return instance{op: func() bool {
			done, err := l.Allow()
			if err != nil {
				return false
			}
			done(aegisrl.DoneInfo{})
			return true
		}}
	}},
	{"go-zero-shedder", func(testing.TB) instance {
		s := zload.NewAdaptiveShedder(zload.WithWindow(bbrWindow), zload.WithBuckets(bbrBuckets),
			zload.WithCpuThreshold(unreachableThreshold))
		return instance{op: func() bool {
			p, err := s.Allow()
			if err != nil {
				return false
			}
			p.Pass()
			return true
		}}
	}},
}
