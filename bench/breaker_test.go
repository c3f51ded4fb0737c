package bench

import (
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivethrottler"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	aegissre "github.com/go-kratos/aegis/circuitbreaker/sre"
	"github.com/sony/gobreaker/v2"
	zbreaker "github.com/zeromicro/go-zero/core/breaker"

	"github.com/bulwark-go/bulwark/breaker"
)

// The classic breakers all trip on 5 consecutive failures and stay open for
// 10 s: Bulwark's defaults. None counts outcomes in a time window (ours
// would only with WithFailureRatio, gobreaker only with an Interval), so
// the closed state is a counter under a mutex everywhere.
const (
	tripAfter   = 5
	openTimeout = 10 * time.Second
)

// BenchmarkClassicBreaker: breaker.Classic Allow + Permit.Done(true),
// against sony/gobreaker's TwoStepCircuitBreaker Allow + done(nil) and
// failsafe-go's circuit breaker TryAcquirePermit + RecordSuccess.
func BenchmarkClassicBreaker(b *testing.B) { runFamily(b, classicBreaker) }

var classicBreaker = []impl{
	{ours, func(tb testing.TB) instance {
		cb, err := breaker.NewClassic(breaker.WithFailureCount(tripAfter), breaker.WithOpenTimeout(openTimeout))
		must(tb, err)
		return instance{op: func() bool {
			p, err := cb.Allow()
			if err != nil {
				return false
			}
			p.Done(true)
			return true
		}}
	}},
	{"gobreaker", func(testing.TB) instance {
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        "bench",
			MaxRequests: 1,
			Timeout:     openTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= tripAfter },
		})
		return instance{op: func() bool {
			done, err := cb.Allow()
			if err != nil {
				return false
			}
			done(nil)
			return true
		}}
	}},
	{"failsafe-go", func(testing.TB) instance {
		cb := fscb.NewBuilder[any]().WithFailureThreshold(tripAfter).WithDelay(openTimeout).Build()
		return instance{op: func() bool {
			if !cb.TryAcquirePermit() {
				return false
			}
			cb.RecordSuccess()
			return true
		}}
	}},
}

// The SRE breakers all use K = 1.5 over a 10 s window, with 20 requests
// before they act: Bulwark's defaults, and go-zero's fixed constants (which
// also have 40 buckets, like ours; its minimum is a fixed "protection" of
// 5). aegis is set to match (K = 1/success); failsafe-go's throttler has a
// fixed 20 buckets and takes K as a failure-rate threshold of 1 − 1/K.
const (
	sreK       = 1.5
	sreWindow  = 10 * time.Second
	sreBuckets = 40
	sreMinReqs = 20
)

// BenchmarkSREBreaker: breaker.SRE Allow + Permit.Done(true), against
// go-zero's breaker (its Google SRE breaker, through breaker.NewBreaker)
// Allow + Promise.Accept, aegis' sre.Breaker Allow + MarkSuccess, and
// failsafe-go's adaptive throttler TryAcquirePermit + RecordSuccess.
func BenchmarkSREBreaker(b *testing.B) { runFamily(b, sreBreaker) }

var sreBreaker = []impl{
	{ours, func(tb testing.TB) instance {
		cb, err := breaker.NewSRE(breaker.WithK(sreK), breaker.WithWindow(sreWindow),
			breaker.WithBuckets(sreBuckets), breaker.WithMinRequests(sreMinReqs))
		must(tb, err)
		return instance{op: func() bool {
			p, err := cb.Allow()
			if err != nil {
				return false
			}
			p.Done(true)
			return true
		}}
	}},
	{"go-zero", func(testing.TB) instance {
		cb := zbreaker.NewBreaker(zbreaker.WithName("bench"))
		return instance{op: func() bool {
			p, err := cb.Allow()
			if err != nil {
				return false
			}
			p.Accept()
			return true
		}}
	}},
	{"aegis", func(testing.TB) instance {
		cb := aegissre.NewBreaker(aegissre.WithSuccess(1/sreK), aegissre.WithRequest(sreMinReqs),
			aegissre.WithWindow(sreWindow), aegissre.WithBucket(sreBuckets))
		return instance{op: func() bool {
			if cb.Allow() != nil {
				return false
			}
			cb.MarkSuccess()
			return true
		}}
	}},
	{"failsafe-go", func(testing.TB) instance {
		t := adaptivethrottler.NewBuilder[any]().
			WithFailureRateThreshold(1-1/sreK, sreMinReqs, sreWindow).Build()
		return instance{op: func() bool {
			if !t.TryAcquirePermit() {
				return false
			}
			t.RecordSuccess()
			return true
		}}
	}},
}
