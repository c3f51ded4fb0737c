package degrade_test

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/degrade"
)

// A non-critical module serves cached data while its switch is off.
func Example() {
	var admin degrade.Registry
	recs, err := degrade.New() // pass 1: every call goes through
	if err != nil {
		panic(err)
	}
	if err := admin.Register("recommendations", recs); err != nil {
		panic(err)
	}

	fetch := func() ([]string, error) { return []string{"live-1", "live-2"}, nil }
	cached := func(err error) ([]string, error) {
		if errors.Is(err, degrade.ErrDegraded) {
			return []string{"cached-1"}, nil
		}
		return nil, err // a real failure: let the caller decide
	}

	items, _ := degrade.Do(recs, fetch, cached)
	fmt.Println(items)

	// An operator takes the sick dependency out: 0 % passes.
	if err := admin.Set("recommendations", 0); err != nil {
		panic(err)
	}
	items, _ = degrade.Do(recs, fetch, cached)
	fmt.Println(items)
	fmt.Println(admin.List())
	// Output:
	// [live-1 live-2]
	// [cached-1]
	// [{recommendations 0}]
}

// A switch at 0.25 lets a quarter of the calls through; the random source
// is injected here so that the output is deterministic.
func ExampleSwitch_Allow() {
	draws := []float64{0.1, 0.6, 0.3, 0.2}
	i := 0
	s, err := degrade.New(degrade.WithPass(0.25), degrade.WithRand(func() float64 {
		v := draws[i%len(draws)]
		i++
		return v
	}))
	if err != nil {
		panic(err)
	}
	for range draws {
		fmt.Println(s.Allow())
	}
	// Output:
	// <nil>
	// degrade: call degraded
	// degrade: call degraded
	// <nil>
}
