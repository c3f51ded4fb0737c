package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults of a Sampler.
const (
	DefaultInterval = 250 * time.Millisecond
	DefaultDecay    = 0.95
)

// Option configures a Sampler in NewSampler.
type Option func(*options) error

type options struct {
	quota      float64 // 0: detect
	root       string
	procCgroup string
	interval   time.Duration
	decay      float64
	clk        clock.Clock
	read       usageReader
}

// WithQuota sets how many CPUs the process may use, overriding cgroup and
// host detection; usage is then the process's own CPU time. cpus must be a
// finite number > 0 and may be fractional (0.5 = half a CPU).
func WithQuota(cpus float64) Option {
	return func(o *options) error {
		if !(cpus > 0) || math.IsInf(cpus, 0) {
			return fmt.Errorf("cpu: WithQuota: must be a finite number > 0, got %v", cpus)
		}
		o.quota = cpus
		return nil
	}
}

// WithCgroupRoot sets where the cgroup file systems are mounted. Default
// DefaultCgroupRoot (/sys/fs/cgroup). Tests point it at a fixture directory.
func WithCgroupRoot(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("cpu: WithCgroupRoot: empty path")
		}
		o.root = dir
		return nil
	}
}

// WithProcCgroup sets the file that lists the process's cgroups. Default
// DefaultProcCgroup (/proc/self/cgroup). If the file does not exist, no
// cgroup limit is looked for.
func WithProcCgroup(file string) Option {
	return func(o *options) error {
		if file == "" {
			return fmt.Errorf("cpu: WithProcCgroup: empty path")
		}
		o.procCgroup = file
		return nil
	}
}

// WithInterval sets the time between samples. Default DefaultInterval
// (250 ms); must be > 0.
func WithInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("cpu: WithInterval: must be > 0, got %v", d)
		}
		o.interval = d
		return nil
	}
}

// WithDecay sets β, the weight of the old average in
// cpu = β·cpu + (1−β)·instant. Default DefaultDecay (0.95: the average
// follows a step change by about 1−0.95ⁿ after n samples, 64 % in 20, i.e.
// 5 s at the default interval). Must be in [0, 1); 0 turns smoothing off.
func WithDecay(beta float64) Option {
	return func(o *options) error {
		if !(beta >= 0 && beta < 1) {
			return fmt.Errorf("cpu: WithDecay: must be in [0, 1), got %v", beta)
		}
		o.decay = beta
		return nil
	}
}

// WithClock sets the clock that drives the ticker and measures wall time;
// nil means the real clock.
func WithClock(c clock.Clock) Option {
	return func(o *options) error {
		o.clk = c
		return nil
	}
}

// WithUsageReader replaces the detected usage source with read, which must
// return a cumulative CPU time (one that only grows, like the value of
// getrusage or cpuacct.usage). The CPU limit is still detected, or set by
// WithQuota. A nil read keeps the detected source.
func WithUsageReader(read func() (time.Duration, error)) Option {
	return func(o *options) error {
		o.read = read
		return nil
	}
}

// Sampler measures CPU usage on a ticker and publishes its moving average.
// Create it with NewSampler; it samples only between Start and Stop. All
// methods are safe for concurrent use.
type Sampler struct {
	usage atomic.Int64 // the published, smoothed per mille

	clk      clock.Clock
	interval time.Duration
	decay    float64
	limit    Limit
	read     usageReader

	mu      sync.Mutex // serialises Start and Stop
	stop    chan struct{}
	stopped chan struct{}

	// Sampling state; only the sampling goroutine touches it (Start and
	// Stop hand it over through mu and the channels).
	ema       float64
	seeded    bool
	lastUsage time.Duration
	lastWall  time.Time
	sampled   func() // test hook, called after each sample
}

// NewSampler returns a stopped Sampler. It detects the CPU limit (see the
// package comment) and reads the usage once, so that a source that cannot
// be read fails here rather than silently later. It starts no goroutine.
// Usage reads 0 until the first sample after Start.
func NewSampler(opts ...Option) (*Sampler, error) {
	o := options{
		root:       DefaultCgroupRoot,
		procCgroup: DefaultProcCgroup,
		interval:   DefaultInterval,
		decay:      DefaultDecay,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var (
		lim  Limit
		read usageReader
	)
	if o.quota > 0 {
		lim, read = Limit{CPUs: o.quota, Source: "override", Usage: "process"}, processCPUTime
	} else {
		var err error
		if lim, read, err = detectLimit(o.root, o.procCgroup, runtime.NumCPU()); err != nil {
			return nil, fmt.Errorf("cpu: detecting the CPU limit: %w", err)
		}
	}
	if o.read != nil {
		lim.Usage, read = "custom", o.read
	}
	if _, err := read(); err != nil {
		return nil, fmt.Errorf("cpu: reading CPU usage (%s): %w", lim.Usage, err)
	}
	return &Sampler{
		clk:      clock.OrReal(o.clk),
		interval: o.interval,
		decay:    o.decay,
		limit:    lim,
		read:     read,
	}, nil
}

// Limit returns the CPU limit the Sampler measures against.
func (s *Sampler) Limit() Limit { return s.limit }

// Usage returns the smoothed CPU usage in per mille of the limit, in
// [0, 1000]. It is 0 before the first sample. It is lock-free and does not
// allocate.
func (s *Sampler) Usage() int64 { return s.usage.Load() }

// Start begins sampling: it reads the baseline at once, arms a ticker, and
// starts one goroutine that samples on every tick until Stop. Calling Start
// while sampling does nothing. A Sampler may be started again after Stop;
// the average carries over.
func (s *Sampler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	s.baseline()
	s.stop, s.stopped = make(chan struct{}), make(chan struct{})
	go s.loop(s.clk.NewTicker(s.interval), s.stop, s.stopped)
}

// Stop ends sampling and waits for the sampling goroutine to exit. Calling
// Stop when not sampling does nothing. Usage keeps its last value.
func (s *Sampler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.stopped
	s.stop, s.stopped = nil, nil
}

func (s *Sampler) loop(t clock.Ticker, stop, stopped chan struct{}) {
	defer close(stopped)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C():
			s.sample()
		}
	}
}

// baseline records the starting point of the next measurement. If the read
// fails, lastWall stays zero and the next sample takes the baseline instead.
func (s *Sampler) baseline() {
	u, err := s.read()
	if err != nil {
		s.lastWall = time.Time{}
		return
	}
	s.lastUsage, s.lastWall = u, s.clk.Now()
}

// sample takes one measurement and folds it into the average. A failed
// read, a wall clock that did not advance, or a usage counter that went
// backwards (a cgroup that was reset) skips the sample; the latter two take
// a new baseline.
func (s *Sampler) sample() {
	defer func() {
		if s.sampled != nil {
			s.sampled()
		}
	}()
	u, err := s.read()
	if err != nil {
		return
	}
	now := s.clk.Now()
	prevUsage, prevWall := s.lastUsage, s.lastWall
	s.lastUsage, s.lastWall = u, now
	dw := now.Sub(prevWall)
	du := u - prevUsage
	if prevWall.IsZero() || dw <= 0 || du < 0 {
		return
	}
	instant := float64(du) / (float64(dw) * s.limit.CPUs) * 1000
	instant = min(max(instant, 0), 1000)
	if s.seeded {
		s.ema = s.decay*s.ema + (1-s.decay)*instant
	} else {
		s.ema, s.seeded = instant, true
	}
	s.usage.Store(int64(math.Round(s.ema)))
}

// Static is a CPU reading that never changes: Static(900).Usage() is
// always 900. Tests and users who measure CPU elsewhere use it where a
// Sampler would go.
type Static int64

// Usage returns s.
func (s Static) Usage() int64 { return int64(s) }

// Manual is a CPU reading set by hand, safe for concurrent use. The zero
// value reads 0.
type Manual struct{ v atomic.Int64 }

// Set makes Usage return perMille from now on.
func (m *Manual) Set(perMille int64) { m.v.Store(perMille) }

// Usage returns the value last Set.
func (m *Manual) Usage() int64 { return m.v.Load() }
