package ratelimit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks use the real clock, as production does. The limits are high
// enough that almost every call is admitted, which is the longer path; the
// "limited" cases measure the reject path.

func benchLimiters(b *testing.B) []struct {
	name string
	l    Limiter
} {
	const limit = 1 << 40
	fw, err := NewFixedWindow(limit, time.Second)
	must(b, err)
	sw, err := NewSlidingWindow(limit, time.Second)
	must(b, err)
	swLimited, err := NewSlidingWindow(1, time.Hour)
	must(b, err)
	tb, err := NewTokenBucket(limit, time.Second, limit)
	must(b, err)
	lb, err := NewLeakyBucket(1<<30, time.Second) // I = 1ns
	must(b, err)
	return []struct {
		name string
		l    Limiter
	}{{"fixed", fw}, {"sliding", sw}, {"sliding-limited", swLimited}, {"token", tb}, {"leaky", lb}}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkAllow(b *testing.B) {
	for _, bl := range benchLimiters(b) {
		l := bl.l
		b.Run(bl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = l.Allow()
			}
		})
		b.Run(bl.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = l.Allow()
				}
			})
		})
	}
}

func BenchmarkLeakyReserve(b *testing.B) {
	l, err := NewLeakyBucket(1<<30, time.Second, WithMaxWait(time.Hour))
	must(b, err)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = l.Reserve()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = l.Reserve()
			}
		})
	})
}

// BenchmarkKeyed measures Allow on keys the Keyed already holds, each with a
// sliding window.
func BenchmarkKeyed(b *testing.B) {
	const nkeys = 1024
	k, err := NewKeyed(func() (*SlidingWindow, error) { return NewSlidingWindow(1<<40, time.Second) })
	must(b, err)
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
		_ = k.Allow(keys[i])
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = k.Allow(keys[i%nkeys])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var goroutine atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(goroutine.Add(1)) * nkeys / 16 // each on its own keys
			for pb.Next() {
				_ = k.Allow(keys[i%nkeys])
				i++
			}
		})
	})
}
