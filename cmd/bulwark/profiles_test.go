package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/observe"
)

// profWriteRound has a real Profiler write one round (a CPU and a heap profile) into dir, on a
// fake clock that starts at start, and returns the time in the files' names.
func profWriteRound(t *testing.T, dir string, start time.Time) time.Time {
	t.Helper()
	fake := clock.NewFake(start)
	p, err := observe.NewProfiler(observe.ProfilerConfig{Dir: dir, Service: "gateway", Instance: "sz:1",
		Interval: time.Minute, Duration: time.Second, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	fake.BlockUntil(1)
	fake.Advance(time.Minute)
	fake.BlockUntil(2)
	fake.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Written < 2 {
		if st := p.Stats(); st.Skipped > 0 || st.Errors > 0 || time.Now().After(deadline) {
			t.Fatalf("profiler stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	return start.Add(time.Minute)
}

func TestProfilesLsBinary(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	at := profWriteRound(t, dir, now.Add(-10*time.Minute))
	old := observe.ProfileName("feeds", "sh-1", now.Add(-3*time.Hour), observe.ProfileCPU)
	for _, name := range []string{old, "README.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stamp := at.Format(time.RFC3339)

	tests := []struct {
		name     string
		args     []string
		code     int
		rows     []string // "service instance kind" of the data rows, in order
		errorHas string
	}{
		{"all", []string{"--dir", dir}, 0, []string{"feeds sh-1 cpu", "gateway sz-1 cpu", "gateway sz-1 heap"}, ""},
		{"service", []string{"--dir", dir, "--service", "gateway"}, 0, []string{"gateway sz-1 cpu", "gateway sz-1 heap"}, ""},
		{"since duration", []string{"--dir", dir, "--since", "1h"}, 0, []string{"gateway sz-1 cpu", "gateway sz-1 heap"}, ""},
		{"since RFC 3339", []string{"--dir", dir, "--since", now.Add(-4 * time.Hour).Format(time.RFC3339)}, 0,
			[]string{"feeds sh-1 cpu", "gateway sz-1 cpu", "gateway sz-1 heap"}, ""},
		{"nothing matches", []string{"--dir", dir, "--since", now.Add(time.Hour).Format(time.RFC3339)}, 0, nil, "no profiles"},
		{"missing dir", []string{"--dir", filepath.Join(dir, "missing")}, 1, nil, "no such file or directory"},
		{"bad since", []string{"--dir", dir, "--since", "yesterday"}, 1, nil, "--since"},
		{"negative since", []string{"--dir", dir, "--since", "-1h"}, 1, nil, "positive"},
		{"unknown flag", []string{"--dir", dir, "--sevice", "x"}, 1, nil, "unknown flag"},
		{"stray argument", []string{"--dir", dir, "extra"}, 1, nil, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBin(t, nil, append([]string{"profiles", "ls"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			if tt.errorHas != "" && !strings.Contains(errOut, tt.errorHas) {
				t.Fatalf("stderr %q lacks %q", errOut, tt.errorHas)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if tt.rows == nil {
				if strings.TrimSpace(out) != "" {
					t.Fatalf("stdout = %q, want nothing", out)
				}
				return
			}
			if strings.Join(strings.Fields(lines[0]), " ") != "TIME SERVICE INSTANCE KIND SIZE PATH" || len(lines)-1 != len(tt.rows) {
				t.Fatalf("table:\n%s\nwant %d rows", out, len(tt.rows))
			}
			for i, want := range tt.rows {
				fields := strings.Fields(lines[i+1])
				if len(fields) != 6 || strings.Join(fields[1:4], " ") != want {
					t.Fatalf("row %d = %q, want %q", i+1, lines[i+1], want)
				}
				if fields[1] == "gateway" && fields[0] != stamp {
					t.Errorf("row %d time %s, want %s", i+1, fields[0], stamp)
				}
				if path := fields[5]; !filepath.IsAbs(path) {
					t.Errorf("path %q is not absolute", path)
				} else if _, err := os.Stat(path); err != nil {
					t.Errorf("listed path: %v", err)
				}
			}
		})
	}

	t.Run("go tool pprof reads the listed CPU profile", func(t *testing.T) {
		goBin, err := exec.LookPath("go")
		if err != nil {
			t.Skip("go not on PATH")
		}
		out, _, _ := runBin(t, nil, "profiles", "ls", "--dir", dir, "--service", "gateway")
		var cpu string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) == 6 && f[3] == "cpu" {
				cpu = f[5]
			}
		}
		pp, err := exec.Command(goBin, "tool", "pprof", "-raw", cpu).CombinedOutput()
		if err != nil || !strings.Contains(string(pp), "PeriodType: cpu") {
			t.Fatalf("go tool pprof -raw %s: %v\n%s", cpu, err, pp)
		}
	})
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"1h", now.Add(-time.Hour), false},
		{" 90m ", now.Add(-90 * time.Minute), false},
		{"2026-02-28T10:00:00Z", time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), false},
		{"2026-02-28T10:00:00+02:00", time.Date(2026, 2, 28, 8, 0, 0, 0, time.UTC), false},
		{"0s", time.Time{}, true},
		{"-5m", time.Time{}, true},
		{"2026-02-28", time.Time{}, true},
		{"1d", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.bad || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 14540: "14.2KiB", 3 << 20: "3.0MiB", 5 << 30: "5.0GiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
