package upstream

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// TestHammer runs Acquire and Done from many goroutines with mixed outcomes,
// while others drain and undrain a host and read the status, under -race.
// Every count must add up exactly: attempts acquired = attempts reported =
// successes + failures + cancels, per host and in total; nothing stays in
// flight, in the hosts or in the pressure limiter.
func TestHammer(t *testing.T) {
	const (
		goroutines = 16
		calls      = 2000
	)
	hosts := addrs(4)
	// Real clock, default breakers and checks; trials every 10 ms, so the last
	// host, which always refuses, trips and is tried again many times.
	p, err := New(Options{Hosts: hosts, Health: config.Health{Interval: config.Duration(10 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	var acquired, okN, failN, cancelN, overN, noHost, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var last *Host
			for i := range calls {
				a, err := p.Acquire(last)
				switch {
				case errors.Is(err, ErrNoHost):
					noHost.Add(1)
					continue
				case errors.Is(err, ErrBreakersOpen):
					refused.Add(1)
					continue
				case err != nil:
					t.Errorf("Acquire: %v", err)
					return
				}
				acquired.Add(1)
				o := Outcome{Latency: time.Duration(1+i%7) * time.Millisecond}
				switch (g*calls + i) % 20 {
				case 0, 1, 4, 5:
					o.Err = Status5xx
					failN.Add(1)
				case 2:
					o.Err = Canceled
					cancelN.Add(1)
				case 3:
					o.Overload = true
					overN.Add(1)
					okN.Add(1)
				default:
					okN.Add(1)
				}
				if a.Host().Addr() == hosts[3] && o.Err == OK {
					o.Err = ConnectError
					okN.Add(-1)
					failN.Add(1)
				}
				if o.Err != OK && o.Err != Canceled {
					last = a.Host()
				} else {
					last = nil
				}
				a.Done(o)
			}
		})
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				_ = p.Undrain(hosts[0])
				return
			default:
			}
			if i%2 == 0 {
				_ = p.Drain(hosts[0])
			} else {
				_ = p.Undrain(hosts[0])
			}
			_ = p.Hosts()
			_ = p.Pressure()
			_, _ = p.Capacity()
			_ = p.Host(hosts[1]).State()
		}
	})
	wg.Wait()
	close(stop)
	side.Wait()

	var attempts, successes, failures, canceled, overloads uint64
	for _, st := range p.Hosts() {
		if st.Inflight != 0 {
			t.Errorf("%s: %d in flight after the hammer", st.Addr, st.Inflight)
		}
		if st.Attempts != st.Successes+st.Failures+st.Canceled {
			t.Errorf("%s: %d attempts ≠ %d + %d + %d reported", st.Addr, st.Attempts, st.Successes, st.Failures, st.Canceled)
		}
		attempts += st.Attempts
		successes += st.Successes
		failures += st.Failures
		canceled += st.Canceled
		overloads += st.Overloads
	}
	if int64(attempts) != acquired.Load() || int64(successes) != okN.Load() || int64(failures) != failN.Load() ||
		int64(canceled) != cancelN.Load() || int64(overloads) != overN.Load() {
		t.Fatalf("hosts counted %d attempts (%d ok, %d failed, %d canceled, %d overloads); callers made %d (%d, %d, %d, %d)",
			attempts, successes, failures, canceled, overloads, acquired.Load(), okN.Load(), failN.Load(), cancelN.Load(), overN.Load())
	}
	if total := acquired.Load() + noHost.Load() + refused.Load(); total != goroutines*calls {
		t.Fatalf("%d outcomes of Acquire, want %d", total, goroutines*calls)
	}
	if ps := p.Pressure(); ps.Inflight != 0 {
		t.Fatalf("pressure limiter holds %d in flight", ps.Inflight)
	}
	t.Logf("%d acquired, %d no host, %d refused by breakers; the refusing host took %d attempts",
		acquired.Load(), noHost.Load(), refused.Load(), p.Hosts()[3].Attempts)
}
