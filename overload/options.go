package overload

import (
	"fmt"
	"math"
)

// Defaults used by [New] when the matching option is not given.
const (
	DefaultEnter        = 0.9 // see WithEnter
	DefaultExit         = 0.7 // see WithExit
	DefaultEnterSamples = 3   // see WithEnterSamples
	DefaultExitSamples  = 5   // see WithExitSamples
)

// maxThreshold bounds every ratio option. Ratios above 1 are meaningful
// (more requests in flight than workers); ratios above 100 are mistakes.
const maxThreshold = 100

// Option configures a [Detector].
type Option func(*options) error

type options struct {
	enter, exit, target float64
	targetSet           bool
	enterN, exitN       int
	workers             int
	onChange            func(from, to Phase, s State)
}

func defaultOptions() options {
	return options{
		enter: DefaultEnter, exit: DefaultExit,
		enterN: DefaultEnterSamples, exitN: DefaultExitSamples,
	}
}

func checkRatio(name string, v float64) error {
	if math.IsNaN(v) || v <= 0 || v > maxThreshold {
		return fmt.Errorf("overload: %s: must be in (0, %d], got %v", name, maxThreshold, v)
	}
	return nil
}

// WithEnter sets the enter threshold E: a sample with ratio > E counts toward
// overload. It must be in (0, 100] and not below the exit threshold.
// Default [DefaultEnter].
func WithEnter(e float64) Option {
	return func(o *options) error {
		if err := checkRatio("WithEnter", e); err != nil {
			return err
		}
		o.enter = e
		return nil
	}
}

// WithExit sets the exit threshold X: a sample with ratio < X counts toward
// leaving overload. It must be in (0, 100] and not above the enter
// threshold. Default [DefaultExit].
func WithExit(x float64) Option {
	return func(o *options) error {
		if err := checkRatio("WithExit", x); err != nil {
			return err
		}
		o.exit = x
		return nil
	}
}

// WithTarget sets the target T: while not Normal, a request is allowed only
// while active < ⌊T × total⌋. It must be in (0, 100]. Default: the enter
// threshold.
func WithTarget(t float64) Option {
	return func(o *options) error {
		if err := checkRatio("WithTarget", t); err != nil {
			return err
		}
		o.target, o.targetSet = t, true
		return nil
	}
}

// WithEnterSamples sets N, the number of consecutive samples above the enter
// threshold that move Normal to Overloaded. It must be ≥ 1. Default
// [DefaultEnterSamples].
func WithEnterSamples(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("overload: WithEnterSamples: must be ≥ 1, got %d", n)
		}
		o.enterN = n
		return nil
	}
}

// WithExitSamples sets M, the number of consecutive samples below the exit
// threshold that bring the detector back to Normal (the first of them moves
// it to Exiting). It must be ≥ 1. Default [DefaultExitSamples].
func WithExitSamples(m int) Option {
	return func(o *options) error {
		if m < 1 {
			return fmt.Errorf("overload: WithExitSamples: must be ≥ 1, got %d", m)
		}
		o.exitN = m
		return nil
	}
}

// WithWorkers switches on the inflight accounting mode: total workers is n,
// active is the number of [Token]s from Begin or Admit not yet Done, Allow
// and Admit judge the live inflight count, and [Detector.Sample] takes a
// sample from it. n must be ≥ 1. Default: off (samples come from Observe).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("overload: WithWorkers: must be ≥ 1, got %d", n)
		}
		o.workers = n
		return nil
	}
}

// WithOnPhaseChange sets a function called after every phase change with the
// old and new phase and the State right after the change. It is called
// without any lock held, in the goroutine whose sample caused the change, so
// it may call the Detector. Samples taken concurrently may report their
// changes out of order; sample from one goroutine to keep them ordered.
// Default: none.
func WithOnPhaseChange(f func(from, to Phase, s State)) Option {
	return func(o *options) error {
		o.onChange = f
		return nil
	}
}
