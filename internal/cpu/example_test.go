package cpu_test

import (
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/internal/cpu"
)

// A Sampler detects the CPU limit (cgroup v2, v1 or host), samples on a
// ticker between Start and Stop, and serves the smoothed reading lock-free.
func ExampleSampler() {
	s, err := cpu.NewSampler() // or cpu.WithQuota(2) to override detection
	if err != nil {
		log.Fatal(err)
	}
	s.Start()
	defer s.Stop()

	u := s.Usage() // per mille of s.Limit().CPUs; 0 until the first tick
	fmt.Println(u >= 0 && u <= 1000, s.Limit().CPUs > 0)
	// Output: true true
}

// Static and Manual stand in for a Sampler in tests.
func ExampleManual() {
	var m cpu.Manual
	m.Set(850)
	fmt.Println(m.Usage(), cpu.Static(300).Usage())
	// Output: 850 300
}
