package breaker_test

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/breaker"
)

// call is how a caller uses any Breaker: ask, call, report.
func call(b breaker.Breaker, do func() error) error {
	p, err := b.Allow()
	if err != nil {
		return err // fail fast: the caller takes its degrade path
	}
	err = do()
	p.Done(err == nil)
	return err
}

var errUpstream = errors.New("upstream: 503")

func ExampleNewSRE() {
	b, err := breaker.NewSRE(breaker.WithK(2), breaker.WithMinRequests(10))
	if err != nil {
		panic(err)
	}
	// Ten calls fail: requests = 10, accepts = 0, p = (10 − 2·0)/(10 + 1).
	for range 10 {
		_ = call(b, func() error { return errUpstream })
	}
	fmt.Printf("p = %.3f, state %v\n", b.DropProbability(), b.State())
	// Output: p = 0.909, state half-open
}

func ExampleNewClassic() {
	b, err := breaker.NewClassic(
		breaker.WithFailureCount(3),
		breaker.WithOnStateChange(func(from, to breaker.State) {
			fmt.Printf("breaker: %v → %v\n", from, to)
		}),
	)
	if err != nil {
		panic(err)
	}
	for range 3 {
		_ = call(b, func() error { return errUpstream })
	}
	err = call(b, func() error { return nil })
	fmt.Println(errors.Is(err, breaker.ErrOpen), b.State())
	// Output:
	// breaker: closed → open
	// true open
}

func ExampleNewGroup() {
	hosts, err := breaker.NewGroup(breaker.KindClassic,
		breaker.WithFailureCount(1),
		breaker.WithGroupOnStateChange(func(host string, from, to breaker.State) {
			fmt.Printf("%s: %v → %v\n", host, from, to)
		}),
	)
	if err != nil {
		panic(err)
	}
	_ = call(hosts.Get("10.0.0.1:80"), func() error { return errUpstream })
	_ = call(hosts.Get("10.0.0.2:80"), func() error { return nil })
	fmt.Println(hosts.Get("10.0.0.1:80").State(), hosts.Get("10.0.0.2:80").State(), hosts.Len())
	// Output:
	// 10.0.0.1:80: closed → open
	// open closed 2
}

// A Breaker of your own: a Recorder and NewPermit are all it takes.
type alwaysAllow struct{ successes, failures int }

func (a *alwaysAllow) Allow() (breaker.Permit, error) { return breaker.NewPermit(a, 0), nil }
func (a *alwaysAllow) State() breaker.State           { return breaker.StateClosed }
func (a *alwaysAllow) Record(_ uint64, success bool) {
	if success {
		a.successes++
	} else {
		a.failures++
	}
}

func ExampleNewPermit() {
	a := &alwaysAllow{}
	var b breaker.Breaker = a
	_ = call(b, func() error { return nil })
	_ = call(b, func() error { return errUpstream })
	fmt.Println(a.successes, a.failures)
	// Output: 1 1
}
