//go:build unix

package observe

import (
	"crypto/sha256"
	"io"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// obsCPUTime is the process's user+system CPU time so far.
func obsCPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var obsSink [32]byte

// obsBusy is a fixed amount of CPU work (about 100 ms here), long enough that starting and
// stopping the profile is a small part of it.
func obsBusy() {
	buf := make([]byte, 4096)
	for range 40000 {
		obsSink = sha256.Sum256(buf)
		buf[0] = obsSink[0]
	}
}

// BenchmarkProfilerCPUSampling measures what a running CPU profile (SIGPROF at 100 Hz, and
// the runtime's profile writer) costs a busy process: each op runs the same busy work once
// without and once with a CPU profile, and the extra process CPU time is reported as
// sampling-overhead-%. The profiler pays it only during Duration out of every Interval.
//
//	go test -run '^$' -bench ProfilerCPUSampling -benchtime 40x ./observe/
func BenchmarkProfilerCPUSampling(b *testing.B) {
	var off, on time.Duration
	for b.Loop() {
		t0 := obsCPUTime(b)
		obsBusy()
		t1 := obsCPUTime(b)
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			b.Skip("a CPU profile is already running:", err)
		}
		obsBusy()
		pprof.StopCPUProfile()
		t2 := obsCPUTime(b)
		off += t1 - t0
		on += t2 - t1
	}
	b.ReportMetric(100*float64(on-off)/float64(off), "sampling-overhead-%")
	b.ReportMetric(float64(off.Microseconds())/float64(b.N)/1000, "work-cpu-ms/op")
}

// BenchmarkProfilerRound measures one whole round with a 20 ms CPU profile: the process CPU
// time it costs (cpu-ms/round: stopping and writing the CPU profile, writing the heap
// profile, renaming, retention; the idle process is hardly sampled) and the files' size.
// Spread over the default 5-minute interval this is the profiler's fixed cost.
//
//	go test -run '^$' -bench ProfilerRound -benchtime 20x ./observe/
func BenchmarkProfilerRound(b *testing.B) {
	p, err := NewProfiler(ProfilerConfig{Dir: b.TempDir(), Interval: time.Second, Duration: 20 * time.Millisecond, Keep: 2})
	if err != nil {
		b.Fatal(err)
	}
	var cpu time.Duration
	for b.Loop() {
		t0 := obsCPUTime(b)
		p.round()
		cpu += obsCPUTime(b) - t0
	}
	st := p.Stats()
	if st.Skipped > 0 || st.Errors > 0 {
		b.Fatalf("stats = %+v", st)
	}
	files, _ := List(p.cfg.Dir, time.Time{}, "")
	var size int64
	for _, f := range files {
		size += f.Size
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu-ms/round")
	if len(files) > 0 {
		b.ReportMetric(float64(size)/float64(len(files))/1024, "KiB/file")
	}
}
