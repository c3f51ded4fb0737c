package observe_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/promcheck"
	"github.com/bulwark-go/bulwark/observe"
)

var obsEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// obsWaitProfiler polls (bounded) until the profiler's stats satisfy ok.
func obsWaitProfiler(t *testing.T, p *observe.Profiler, ok func(observe.ProfilerStats) bool) observe.ProfilerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("profiler stats %+v did not get there in 10s", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// obsRound drives one profiling round on a fake clock: the loop's n-th tick (the ticker
// started at obsEpoch), then the CPU profile's duration.
func obsRound(t *testing.T, fake *clock.Fake, p *observe.Profiler, n int, written uint64) {
	t.Helper()
	cfg := p.Config()
	fake.BlockUntil(1) // the loop's ticker
	fake.Set(obsEpoch.Add(time.Duration(n) * cfg.Interval))
	fake.BlockUntil(2) // the round's timer, beside the ticker
	fake.Advance(cfg.Duration)
	obsWaitProfiler(t, p, func(st observe.ProfilerStats) bool { return st.Written >= written })
}

func obsCPUFree(t *testing.T) {
	t.Helper()
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Skipf("a CPU profile is already running (go test -cpuprofile?): %v", err)
	}
	pprof.StopCPUProfile()
}

func TestProfilerWritesNamedProfilesAndRetains(t *testing.T) {
	obsCPUFree(t)
	dir := t.TempDir()
	fake := clock.NewFake(obsEpoch)
	// An own profile older than MaxAge, and another instance's: only the first goes.
	old := filepath.Join(dir, observe.ProfileName("songs gw", "sz:1", obsEpoch.Add(-2*time.Hour), observe.ProfileHeap))
	other := filepath.Join(dir, observe.ProfileName("songs gw", "sz:2", obsEpoch.Add(-2*time.Hour), observe.ProfileHeap))
	for _, f := range []string{old, other} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: dir, Service: "songs gw", Instance: "sz:1",
		Interval: time.Minute, Duration: 10 * time.Second, Keep: 2, MaxAge: time.Hour, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for i := range 4 {
		obsRound(t, fake, p, i+1, uint64(2*(i+1)))
	}
	st := obsWaitProfiler(t, p, func(st observe.ProfilerStats) bool { return st.Removed == 5 })
	if st.Written != 8 || st.Skipped != 0 || st.Errors != 0 {
		t.Fatalf("stats = %+v", st)
	}
	files, err := observe.List(dir, time.Time{}, "songs gw")
	if err != nil {
		t.Fatal(err)
	}
	var own []observe.ProfileFile
	for _, f := range files {
		if f.Instance == "sz-1" {
			own = append(own, f)
		}
	}
	if len(own) != 4 || len(files) != 5 {
		t.Fatalf("files = %+v, want the newest 2 of each kind and the other instance's", files)
	}
	for _, f := range own {
		if f.Service != "songs-gw" || f.Time.Before(obsEpoch.Add(3*time.Minute)) || f.Size == 0 {
			t.Errorf("kept %+v", f)
		}
		b, err := os.ReadFile(f.Path)
		if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s is not a gzipped pprof profile (%v)", f.Path, err)
		}
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("own profile older than MaxAge kept")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("another instance's profile removed")
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, ".bulwark-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestProfilerSkipsWhileACPUProfileRuns(t *testing.T) {
	obsCPUFree(t)
	fake := clock.NewFake(obsEpoch)
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: t.TempDir(), Interval: time.Minute, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(io.Discard); err != nil { // someone reads /debug/pprof/profile
		t.Fatal(err)
	}
	p.Start()
	fake.BlockUntil(1)
	fake.Advance(time.Minute)
	obsWaitProfiler(t, p, func(st observe.ProfilerStats) bool { return st.Skipped == 1 })
	pprof.StopCPUProfile()
	obsRound(t, fake, p, 2, 2)
	p.Stop()
	if st := p.Stats(); st.Skipped != 1 || st.Written != 2 || st.Errors != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestProfilerStopCutsTheCPUProfileShort(t *testing.T) {
	obsCPUFree(t)
	fake := clock.NewFake(obsEpoch)
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: t.TempDir(), Interval: time.Hour, Duration: 30 * time.Minute, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	fake.BlockUntil(1)
	fake.Advance(time.Hour)
	fake.BlockUntil(2)
	done := make(chan struct{})
	go func() { p.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waited for the CPU profile's duration")
	}
	if st := p.Stats(); st.Written != 2 {
		t.Fatalf("stats = %+v, want the short CPU profile and the heap profile", st)
	}
	p.Stop() // idempotent
	if err := p.Start(); err == nil {
		t.Fatal("Start after Stop accepted")
	}
}

func TestNewProfilerChecksItsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name string
		cfg  observe.ProfilerConfig
		want string
	}{
		{"negative keep", observe.ProfilerConfig{Keep: -1}, "≥ 0"},
		{"sub-second interval", observe.ProfilerConfig{Interval: 500 * time.Millisecond}, "≥ 1s"},
		{"duration not shorter", observe.ProfilerConfig{Interval: time.Second, Duration: time.Second}, "shorter than"},
		{"dir is a file", observe.ProfilerConfig{Dir: filepath.Join(file, "sub")}, "profiling dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir == "" {
				tt.cfg.Dir = t.TempDir()
			}
			_, err := observe.NewProfiler(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: t.TempDir(), Interval: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); c.Duration != 2*time.Second || c.Keep != observe.DefaultProfileKeep || c.MaxAge != observe.DefaultProfileMaxAge ||
		c.Service != "bulwark" || c.Instance == "" {
		t.Fatalf("defaults = %+v", c)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Fatal("second Start accepted")
	}
	p.Stop()
}

func TestProfilerMetricPassesPromtool(t *testing.T) {
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	body := promcheck.Scrape(t, p)
	if !strings.Contains(string(body), "bulwark_profiles_written_total 0") {
		t.Fatalf("scrape:\n%s", body)
	}
	promcheck.Check(t, body, observe.MetricProfilesWritten)
}
