package overload_test

import (
	"fmt"

	"github.com/bulwark-go/bulwark/overload"
)

// A node with 10 workers counts its own inflight work and samples it on its
// ticker (here, by hand). Three samples above 90 % busy enter overload;
// then only ⌊0.9 × 10⌋ = 9 requests may be in flight, and the node reports
// Bulwark-Overload: 1 until five samples below 70 % bring it back.
func Example() {
	det, err := overload.New(overload.WithWorkers(10),
		overload.WithOnPhaseChange(func(from, to overload.Phase, s overload.State) {
			fmt.Printf("%v → %v at ratio %.1f\n", from, to, s.Ratio)
		}))
	if err != nil {
		panic(err)
	}
	var busy []overload.Token
	for range 10 {
		tok, _ := det.Admit()
		busy = append(busy, tok)
	}
	for range 3 {
		det.Sample() // on the owner's ticker
	}
	_, err = det.Admit()
	fmt.Println("11th request:", err, "| header:", det.Overloaded())

	for _, tok := range busy {
		tok.Done()
	}
	for range 5 {
		det.Sample()
	}
	fmt.Println("header:", det.Overloaded())
	// Output:
	// normal → overloaded at ratio 1.0
	// 11th request: overload: overloaded | header: true
	// overloaded → exiting at ratio 0.0
	// exiting → normal at ratio 0.0
	// header: false
}

// In sample mode the owner passes the active and total worker counts it
// reads elsewhere (a worker pool, a server's stats).
func ExampleDetector_Observe() {
	det, _ := overload.New(overload.WithEnterSamples(1))
	s := det.Observe(95, 100)
	fmt.Println(s.Phase, s.Ratio, det.Allow())
	limit, limited := det.Capacity()
	fmt.Println(limit, limited)
	// Output:
	// overloaded 0.95 overload: overloaded
	// 90 true
}
