package fleet

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// limTEpoch is a fake-clock start on a slot boundary of every width the tests use.
var limTEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// limTFleet returns a Fleet on addr for instance, closed when t ends. A nil clk is the real
// clock.
func limTFleet(t testing.TB, addr, instance string, clk clock.Clock) *Fleet {
	t.Helper()
	f, err := New(Config{
		Redis:    RedisConfig{Addrs: []string{addr}},
		Instance: instance,
		Clock:    clk,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// limTManual returns a Limiter whose syncs the test drives (no loop).
func limTManual(t testing.TB, f *Fleet, name string, limit int, per time.Duration, opts ...LimiterOption) *Limiter {
	t.Helper()
	l, err := newLimiter(f, name, limit, per, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// limTWait polls cond every 10ms for up to 5s.
func limTWait(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within 5s", what)
	return 0
}

// limTSim drives Limiters on one fake clock: every step each instance is offered its rate's
// worth of requests, and syncs when the clock passes its phase within the sync interval.
type limTSim struct {
	clk      *clock.Fake
	step     time.Duration
	interval time.Duration
	lims     []*Limiter
	rates    []float64       // offered requests per second, per instance
	phases   []time.Duration // when in each interval each instance syncs
	down     []bool          // an instance that stopped (no load, no sync)
	owed     []float64
	elapsed  time.Duration
	perStep  [][]int64 // admitted per step, per instance
	offered  []int64
}

func newLimTSim(clk *clock.Fake, step, interval time.Duration) *limTSim {
	return &limTSim{clk: clk, step: step, interval: interval}
}

func (s *limTSim) add(l *Limiter, rate float64, phase time.Duration) int {
	s.lims = append(s.lims, l)
	s.rates = append(s.rates, rate)
	s.phases = append(s.phases, phase)
	s.down = append(s.down, false)
	s.owed = append(s.owed, 0)
	s.offered = append(s.offered, 0)
	s.perStep = append(s.perStep, make([]int64, len(s.perStep0())))
	l.sync() // as NewLimiter does
	return len(s.lims) - 1
}

func (s *limTSim) perStep0() []int64 {
	if len(s.perStep) == 0 {
		return nil
	}
	return s.perStep[0]
}

// run advances the clock by d, step by step: at each step every instance syncs if the step is
// at its phase, is offered its requests, and then the clock moves on.
func (s *limTSim) run(t testing.TB, d time.Duration) {
	t.Helper()
	for end := s.elapsed + d; s.elapsed < end; {
		for i, l := range s.lims {
			s.perStep[i] = append(s.perStep[i], 0)
			if s.down[i] {
				continue
			}
			if s.elapsed%s.interval == s.phases[i] {
				l.sync()
			}
			s.owed[i] += s.rates[i] * s.step.Seconds()
			for ; s.owed[i] >= 1; s.owed[i]-- {
				s.offered[i]++
				if l.Allow() == nil {
					s.perStep[i][len(s.perStep[i])-1]++
				}
			}
		}
		s.clk.Advance(s.step)
		s.elapsed += s.step
	}
}

// windows returns the least and the most admitted, over all instances, in any window of
// length per that starts at or after from, sliding by one step (slot boundaries or not).
func (s *limTSim) windows(from, per time.Duration) (lo, hi int64) {
	return s.windowsEvery(from, per, s.step)
}

// windowsEvery is windows with windows that start every stride (from and stride multiples
// of the slot width give the windows aligned on slots).
func (s *limTSim) windowsEvery(from, per, stride time.Duration) (lo, hi int64) {
	w := int(per / s.step)
	first := int(from / s.step)
	steps := len(s.perStep[0])
	lo, hi = -1, -1
	for start := first; start+w <= steps; start += int(stride / s.step) {
		var sum int64
		for j := start; j < start+w; j++ {
			for i := range s.perStep {
				sum += s.perStep[i][j]
			}
		}
		if lo < 0 || sum < lo {
			lo = sum
		}
		if sum > hi {
			hi = sum
		}
	}
	return lo, hi
}

// admitted returns what instance i admitted from from on.
func (s *limTSim) admitted(i int, from time.Duration) int64 {
	var sum int64
	for _, n := range s.perStep[i][int(from/s.step):] {
		sum += n
	}
	return sum
}
