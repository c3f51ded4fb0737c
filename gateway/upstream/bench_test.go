package upstream

import (
	"fmt"
	"testing"
	"time"
)

// The hot path on every proxied request: Acquire, then Done, on the real clock
// with the default SRE breakers and P2C.
func BenchmarkAcquireDone(b *testing.B) {
	for _, n := range []int{3, 50} {
		for _, policy := range []string{PolicyP2CEWMA, PolicyRoundRobin} {
			b.Run(fmt.Sprintf("hosts=%d/%s", n, policy), func(b *testing.B) {
				p := benchPool(b, n, policy)
				b.ReportAllocs()
				for b.Loop() {
					a, err := p.Acquire(nil)
					if err != nil {
						b.Fatal(err)
					}
					a.Done(Outcome{Latency: time.Millisecond})
				}
			})
		}
	}
}

func BenchmarkAcquireDoneParallel(b *testing.B) {
	for _, n := range []int{3, 50} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			p := benchPool(b, n, PolicyP2CEWMA)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a, err := p.Acquire(nil)
					if err != nil {
						b.Fatal(err)
					}
					a.Done(Outcome{Latency: time.Millisecond})
				}
			})
		})
	}
}

// BenchmarkCapacity is what shed.Admitter calls on every Admit and Done.
func BenchmarkCapacity(b *testing.B) {
	p := benchPool(b, 3, PolicyP2CEWMA)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.Capacity()
	}
}

func benchPool(b *testing.B, n int, policy string) *Pool {
	b.Helper()
	p, err := New(Options{Hosts: addrs(n), Policy: policy})
	if err != nil {
		b.Fatal(err)
	}
	return p
}
