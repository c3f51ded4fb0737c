package observe

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults of ProfilerConfig.
const (
	DefaultProfileInterval = 5 * time.Minute  // one round every five minutes
	DefaultProfileDuration = 10 * time.Second // a CPU profile covers 1/30 of the time
	DefaultProfileKeep     = 288              // per kind: a day of rounds at the default interval
	DefaultProfileMaxAge   = 24 * time.Hour
)

// ProfilerConfig configures NewProfiler. Zero fields take the defaults.
type ProfilerConfig struct {
	// Dir receives the profiles; it is created if missing. Default DefaultProfileDir().
	Dir string
	// Service and Instance name the files (see ProfileName). Defaults "bulwark" and the
	// host name.
	Service, Instance string
	// Interval is the time between the starts of two rounds, at least 1s (names have
	// second resolution). Default 5m.
	Interval time.Duration
	// Duration is the length of each CPU profile; it must be shorter than Interval.
	// Default 10s, or Interval/2 when that is shorter.
	Duration time.Duration
	// Keep is the number of profiles of each kind this service and instance keep in Dir;
	// older ones are removed after each round. Default 288.
	Keep int
	// MaxAge removes this service and instance's profiles older than it. Default 24h.
	MaxAge time.Duration
	// Clock times the rounds and names the files; nil is the real clock.
	Clock clock.Clock
	// Logger receives a line for each failed or skipped round; nil logs nothing.
	Logger *slog.Logger
}

// ProfilerStats are the profiler's counts since NewProfiler.
type ProfilerStats struct {
	Written uint64 `json:"written"` // profile files written (bulwark_profiles_written_total)
	Skipped uint64 `json:"skipped"` // rounds skipped because another CPU profile was running
	Errors  uint64 `json:"errors"`  // files that could not be written, or removed by retention
	Removed uint64 `json:"removed"` // files removed by retention
}

// Profiler is continuous profiling (D5): every Interval it records a CPU profile for
// Duration and then a heap profile, into Dir, named by service, instance and start time,
// and applies retention to this service and instance's files. Files are written under a
// temporary name and renamed, so List never sees a partial profile.
//
// The Go runtime allows one CPU profile at a time: while another runs (someone is reading
// /debug/pprof/profile, or a test runs with -cpuprofile) the round is skipped and counted,
// not queued.
//
// The profiler's cost is the sampling during the CPU profile (SIGPROF at 100 Hz) and the
// writing of the two files: BenchmarkProfilerCPUSampling and BenchmarkProfilerRound measure
// them (about 2-3 % CPU while a profile runs, and 5 ms of CPU per round on a small heap).
type Profiler struct {
	cfg ProfilerConfig
	clk clock.Clock
	log *slog.Logger

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	done    chan struct{}

	written, skipped, errs, removed atomic.Uint64
}

// NewProfiler checks cfg, fills in the defaults and creates Dir. It starts nothing; Start
// does.
func NewProfiler(cfg ProfilerConfig) (*Profiler, error) {
	if cfg.Interval < 0 || cfg.Duration < 0 || cfg.Keep < 0 || cfg.MaxAge < 0 {
		return nil, fmt.Errorf("observe: profiling interval, duration, keep and max_age must be ≥ 0, got %v, %v, %d, %v",
			cfg.Interval, cfg.Duration, cfg.Keep, cfg.MaxAge)
	}
	if cfg.Dir == "" {
		cfg.Dir = DefaultProfileDir()
	}
	if cfg.Service == "" {
		cfg.Service = DefaultServiceName
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultProfileInterval
	}
	if cfg.Interval < time.Second {
		return nil, fmt.Errorf("observe: profiling interval must be ≥ 1s, got %v", cfg.Interval)
	}
	if cfg.Duration == 0 {
		cfg.Duration = min(DefaultProfileDuration, cfg.Interval/2)
	}
	if cfg.Duration >= cfg.Interval {
		return nil, fmt.Errorf("observe: profiling duration %v must be shorter than the interval %v", cfg.Duration, cfg.Interval)
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultProfileKeep
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultProfileMaxAge
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("observe: profiling dir: %w", err)
	}
	p := &Profiler{cfg: cfg, clk: clock.OrReal(cfg.Clock), log: cfg.Logger,
		stop: make(chan struct{}), done: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Config returns the configuration in use, defaults filled in.
func (p *Profiler) Config() ProfilerConfig { return p.cfg }

// Start starts the profiling loop in a goroutine; the first round begins one Interval from
// now. Starting twice, or after Stop, is an error.
func (p *Profiler) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("observe: profiler already started")
	}
	select {
	case <-p.stop:
		return errors.New("observe: profiler stopped")
	default:
	}
	p.started = true
	go p.loop()
	return nil
}

// Stop ends the loop and waits for it. A CPU profile in progress is cut short and still
// written. Stop is idempotent, and safe before Start.
func (p *Profiler) Stop() {
	p.mu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	started := p.started
	p.mu.Unlock()
	if started {
		<-p.done
	}
}

// Stats returns the counts so far.
func (p *Profiler) Stats() ProfilerStats {
	return ProfilerStats{Written: p.written.Load(), Skipped: p.skipped.Load(), Errors: p.errs.Load(), Removed: p.removed.Load()}
}

func (p *Profiler) loop() {
	defer close(p.done)
	tk := p.clk.NewTicker(p.cfg.Interval)
	defer tk.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tk.C():
			p.round()
		}
	}
}

// round records one CPU profile and one heap profile, then applies retention.
func (p *Profiler) round() {
	start := p.clk.Now()
	f, err := os.CreateTemp(p.cfg.Dir, ".bulwark-cpu-*.tmp")
	if err != nil {
		p.fail("create cpu profile", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		p.skipped.Add(1)
		p.log.Info("observe: profiling round skipped", "reason", err.Error())
		return
	}
	t := p.clk.NewTimer(p.cfg.Duration)
	select {
	case <-t.C():
	case <-p.stop:
		t.Stop()
	}
	pprof.StopCPUProfile()
	p.commit(f, nil, p.path(start, ProfileCPU))

	h, err := os.CreateTemp(p.cfg.Dir, ".bulwark-heap-*.tmp")
	if err != nil {
		p.fail("create heap profile", err)
	} else {
		p.commit(h, pprof.Lookup("heap").WriteTo(h, 0), p.path(start, ProfileHeap))
	}
	p.retain()
}

func (p *Profiler) path(t time.Time, kind string) string {
	return filepath.Join(p.cfg.Dir, ProfileName(p.cfg.Service, p.cfg.Instance, t, kind))
}

// commit closes f and renames it to path, or removes it when writing failed.
func (p *Profiler) commit(f *os.File, werr error, path string) {
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		p.fail("write "+filepath.Base(path), err)
		return
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		p.fail("rename "+filepath.Base(path), err)
		return
	}
	p.written.Add(1)
}

func (p *Profiler) fail(what string, err error) {
	p.errs.Add(1)
	p.log.Warn("observe: profiling: "+what, "err", err.Error())
}

// retain removes this service and instance's profiles beyond the newest Keep of each kind,
// and those older than MaxAge. Other instances' files in a shared Dir are left alone.
func (p *Profiler) retain() {
	files, err := List(p.cfg.Dir, time.Time{}, p.cfg.Service)
	if err != nil {
		p.fail("list for retention", err)
		return
	}
	inst := SafeNamePart(p.cfg.Instance)
	cutoff := p.clk.Now().Add(-p.cfg.MaxAge)
	kept := map[string]int{}
	for i := len(files) - 1; i >= 0; i-- { // newest first
		f := files[i]
		if f.Instance != inst {
			continue
		}
		kept[f.Kind]++
		if kept[f.Kind] <= p.cfg.Keep && !f.Time.Before(cutoff) {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.fail("remove "+filepath.Base(f.Path), err)
			continue
		}
		p.removed.Add(1)
	}
}
