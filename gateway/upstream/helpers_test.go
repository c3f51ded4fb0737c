package upstream

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// addrs returns n made-up host addresses (nothing listens there: these
// pools never send anything).
func addrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.0.%d:80", i+1)
	}
	return out
}

// seeded returns a deterministic, concurrency-safe random source.
func seeded(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

// eventLog records OnStateChange calls.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) record(host string, from, to State) {
	l.mu.Lock()
	l.events = append(l.events, host+" "+from.String()+"→"+to.String())
	l.mu.Unlock()
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// fakePool makes a pool on a fake clock with a seeded random source, logging
// state changes. o.Hosts defaults to two made-up hosts.
func fakePool(t *testing.T, o Options) (*Pool, *clock.Fake, *eventLog) {
	t.Helper()
	clk := clock.NewFake(epoch)
	log := &eventLog{}
	if o.Hosts == nil {
		o.Hosts = addrs(2)
	}
	o.Clock = clk
	if o.Rand == nil {
		o.Rand = seeded(1)
	}
	o.OnStateChange = log.record
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p, clk, log
}

// on starts an attempt on the named host directly (through its breaker).
func on(t *testing.T, p *Pool, addr string) Attempt {
	t.Helper()
	h := p.Host(addr)
	if h == nil {
		t.Fatalf("no host %s", addr)
	}
	a, ok := p.try(h)
	if !ok {
		t.Fatalf("breaker of %s refused", addr)
	}
	return a
}

// report runs n attempts on addr with outcome o.
func report(t *testing.T, p *Pool, addr string, n int, o Outcome) {
	t.Helper()
	for range n {
		on(t, p, addr).Done(o)
	}
}

// picks runs n Acquire(exclude) + Done(OK) and counts the hosts picked.
func picks(t *testing.T, p *Pool, n int, exclude *Host) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		a, err := p.Acquire(exclude)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		got[a.Host().Addr()]++
		a.Done(Outcome{Latency: time.Millisecond})
	}
	return got
}

var (
	ok        = Outcome{Err: OK, Latency: 10 * time.Millisecond}
	fail5xx   = Outcome{Err: Status5xx, Latency: 10 * time.Millisecond}
	refused   = Outcome{Err: ConnectError, Latency: 100 * time.Microsecond}
	canceled  = Outcome{Err: Canceled, Latency: 5 * time.Millisecond}
	overOK    = Outcome{Err: OK, Latency: 10 * time.Millisecond, Overload: true}
	over503   = Outcome{Err: Status5xx, Latency: 10 * time.Millisecond, Overload: true}
	timedOut  = Outcome{Err: Timeout, Latency: 250 * time.Millisecond}
	otherFail = Outcome{Err: OtherError, Latency: 3 * time.Millisecond}
)
