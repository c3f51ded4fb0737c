package adaptive_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adaptive"
)

// A server wraps each request in Allow and Done. The CPU sampler is started
// and stopped by its owner; the limiter itself starts no goroutine.
func Example() {
	sampler, err := adaptive.NewCPUSampler() // cgroup-aware CPU usage, ‰
	if err != nil {
		log.Fatal(err)
	}
	sampler.Start()
	defer sampler.Stop()

	limiter, err := adaptive.New(adaptive.WithCPU(sampler))
	if err != nil {
		log.Fatal(err)
	}
	handle := func() error {
		tok, err := limiter.Allow()
		if err != nil {
			return err // errors.Is(err, adaptive.ErrOverload): answer 503
		}
		defer tok.Done() // records the round trip
		// ... serve the request ...
		return nil
	}
	err = handle()
	fmt.Println(err, errors.Is(err, adaptive.ErrOverload))
	// Output: <nil> false
}

// A caller that decides admission itself (as the shed package does) reads
// Capacity and tracks admitted work with Start.
func ExampleLimiter_Capacity() {
	limiter, err := adaptive.New(adaptive.WithCPU(fixedCPU(900)))
	if err != nil {
		log.Fatal(err)
	}
	limit, limited := limiter.Capacity()
	if limited && limiter.Stats().InFlight >= limit {
		fmt.Println("shed")
		return
	}
	tok := limiter.Start()
	defer tok.Done()
	fmt.Println("admitted; limited:", limited, "estimate yet:", limit != adaptive.Unlimited)
	// Output: admitted; limited: true estimate yet: false
}

// fixedCPU is a CPU source that always reads the same per mille.
type fixedCPU int64

func (c fixedCPU) Usage() int64 { return int64(c) }
