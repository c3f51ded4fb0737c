package observe

import (
	"fmt"
	"math"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ratioSampler is TraceIDRatioBased with a rate that can change while spans start. The SDK
// sampler is immutable, so each rate gets its own, swapped in atomically: ShouldSample costs
// one atomic load more than the SDK's.
type ratioSampler struct {
	cur atomic.Pointer[ratioState]
}

type ratioState struct {
	rate    float64
	sampler sdktrace.Sampler
}

var _ sdktrace.Sampler = (*ratioSampler)(nil)

func newRatioSampler(rate float64) (*ratioSampler, error) {
	s := &ratioSampler{}
	if err := s.set(rate); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *ratioSampler) set(rate float64) error {
	if math.IsNaN(rate) || rate < 0 || rate > 1 {
		return fmt.Errorf("observe: sample rate must be in [0, 1], got %v", rate)
	}
	s.cur.Store(&ratioState{rate: rate, sampler: sdktrace.TraceIDRatioBased(rate)})
	return nil
}

func (s *ratioSampler) rate() float64 { return s.cur.Load().rate }

// ShouldSample delegates to the TraceIDRatioBased sampler of the current rate.
func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return s.cur.Load().sampler.ShouldSample(p)
}

// Description names the current rate, as TraceIDRatioBased does.
func (s *ratioSampler) Description() string { return s.cur.Load().sampler.Description() }
