package cpu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixture writes files (path relative to dir → content) under a new temp dir
// and returns it. The proc cgroup file lives at dir/proc; the cgroup root is
// dir/cg.
func fixture(t *testing.T, files map[string]string) (root, proc string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "cg"), filepath.Join(dir, "proc")
}

func TestDetectLimit(t *testing.T) {
	const v1Hybrid = "2:cpuacct:/\n1:cpu:/\n0::/\n"
	tests := []struct {
		name   string
		files  map[string]string
		numCPU int
		cpus   float64
		source string // suffix of Limit.Source after the fixture dir
		usage  string // suffix of Limit.Usage
		used   time.Duration
	}{
		{
			name:   "no proc file: host",
			files:  map[string]string{},
			numCPU: 8, cpus: 8, source: "host", usage: "process",
		},
		{
			name: "v2 two CPUs at own path",
			files: map[string]string{
				"proc":            "0::/app\n",
				"cg/app/cpu.max":  "200000 100000\n",
				"cg/app/cpu.stat": "usage_usec 1500\nuser_usec 1000\n",
				"cg/cpu.stat":     "usage_usec 99\n",
			},
			numCPU: 8, cpus: 2, source: "cgroup v2 cg/app/cpu.max", usage: "cg/app/cpu.stat", used: 1500 * time.Microsecond,
		},
		{
			name: "v2 limit without cpu.stat: process usage",
			files: map[string]string{
				"proc":       "0::/\n",
				"cg/cpu.max": "100000 100000\n",
			},
			numCPU: 8, cpus: 1, source: "cgroup v2 cg/cpu.max", usage: "process",
		},
		{
			name: "v2 unlimited: host CPUs, process usage",
			files: map[string]string{
				"proc":            "0::/app\n",
				"cg/app/cpu.max":  "max 100000\n",
				"cg/app/cpu.stat": "usage_usec 1500\n",
			},
			numCPU: 4, cpus: 4, source: "host", usage: "process",
		},
		{
			name: "v2 parent is tighter",
			files: map[string]string{
				"proc":                "0::/pod/ctr\n",
				"cg/pod/ctr/cpu.max":  "300000 100000\n",
				"cg/pod/ctr/cpu.stat": "usage_usec 1\n",
				"cg/pod/cpu.max":      "150000 100000\n",
				"cg/pod/cpu.stat":     "usage_usec 2\n",
			},
			numCPU: 8, cpus: 1.5, source: "cgroup v2 cg/pod/cpu.max", usage: "cg/pod/cpu.stat", used: 2 * time.Microsecond,
		},
		{
			name: "v2 namespaced: own path missing, falls back to root",
			files: map[string]string{
				"proc":        "0::/kubepods/burstable/pod1/ctr\n",
				"cg/cpu.max":  "50000 100000\n",
				"cg/cpu.stat": "usage_usec 7\n",
			},
			numCPU: 8, cpus: 0.5, source: "cgroup v2 cg/cpu.max", usage: "cg/cpu.stat", used: 7 * time.Microsecond,
		},
		{
			name: "v2 in hybrid mode under unified",
			files: map[string]string{
				"proc":                    "0::/svc\n",
				"cg/unified/svc/cpu.max":  "100000 100000\n",
				"cg/unified/svc/cpu.stat": "usage_usec 3\n",
			},
			numCPU: 8, cpus: 1, source: "cgroup v2 cg/unified/svc/cpu.max", usage: "cg/unified/svc/cpu.stat", used: 3 * time.Microsecond,
		},
		{
			name: "limit above the host is capped",
			files: map[string]string{
				"proc":        "0::/\n",
				"cg/cpu.max":  "800000 100000\n",
				"cg/cpu.stat": "usage_usec 3\n",
			},
			numCPU: 2, cpus: 2, source: "cgroup v2 cg/cpu.max", usage: "cg/cpu.stat", used: 3 * time.Microsecond,
		},
		{
			name: "v1 hybrid without quota: this machine",
			files: map[string]string{
				"proc":                     v1Hybrid,
				"cg/cpu/cpu.cfs_quota_us":  "-1\n",
				"cg/cpu/cpu.cfs_period_us": "100000\n",
				"cg/cpuacct/cpuacct.usage": "107003931013\n",
				"cg/unified/cpu.stat":      "usage_usec 1\n",
			},
			numCPU: 2, cpus: 2, source: "host", usage: "process",
		},
		{
			name: "v1 separate mounts with quota",
			files: map[string]string{
				"proc":                     v1Hybrid,
				"cg/cpu/cpu.cfs_quota_us":  "150000\n",
				"cg/cpu/cpu.cfs_period_us": "100000\n",
				"cg/cpuacct/cpuacct.usage": "42\n",
			},
			numCPU: 8, cpus: 1.5, source: "cgroup v1 cg/cpu/cpu.cfs_quota_us", usage: "cg/cpuacct/cpuacct.usage", used: 42,
		},
		{
			name: "v1 co-mounted docker path",
			files: map[string]string{
				"proc": "3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n",
				"cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  "200000",
				"cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
				"cg/cpu,cpuacct/docker/abc/cpuacct.usage":     "9",
				"cg/cpu,cpuacct/cpu.cfs_quota_us":             "-1",
				"cg/cpu,cpuacct/cpu.cfs_period_us":            "100000",
			},
			numCPU: 8, cpus: 2, source: "cgroup v1 cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", usage: "cg/cpu,cpuacct/docker/abc/cpuacct.usage", used: 9,
		},
		{
			name: "v1 namespaced: own path missing, falls back to root",
			files: map[string]string{
				"proc":                             "3:cpu,cpuacct:/docker/abc\n",
				"cg/cpu,cpuacct/cpu.cfs_quota_us":  "100000",
				"cg/cpu,cpuacct/cpu.cfs_period_us": "100000",
				"cg/cpu,cpuacct/cpuacct.usage":     "11",
			},
			numCPU: 8, cpus: 1, source: "cgroup v1 cg/cpu,cpuacct/cpu.cfs_quota_us", usage: "cg/cpu,cpuacct/cpuacct.usage", used: 11,
		},
		{
			name: "v1 quota without cpuacct: process usage",
			files: map[string]string{
				"proc":                     "1:cpu:/\n",
				"cg/cpu/cpu.cfs_quota_us":  "100000",
				"cg/cpu/cpu.cfs_period_us": "100000",
			},
			numCPU: 8, cpus: 1, source: "cgroup v1 cg/cpu/cpu.cfs_quota_us", usage: "process",
		},
		{
			name: "v2 limit wins over v1",
			files: map[string]string{
				"proc":                     "1:cpu:/\n0::/\n",
				"cg/cpu.max":               "300000 100000",
				"cg/cpu.stat":              "usage_usec 5",
				"cg/cpu/cpu.cfs_quota_us":  "100000",
				"cg/cpu/cpu.cfs_period_us": "100000",
			},
			numCPU: 8, cpus: 3, source: "cgroup v2 cg/cpu.max", usage: "cg/cpu.stat", used: 5 * time.Microsecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, proc := fixture(t, tt.files)
			dir := filepath.Dir(root) + "/"
			lim, read, err := detectLimit(root, proc, tt.numCPU)
			if err != nil {
				t.Fatal(err)
			}
			if lim.CPUs != tt.cpus {
				t.Errorf("CPUs = %v, want %v", lim.CPUs, tt.cpus)
			}
			if got := strings.ReplaceAll(lim.Source, dir, ""); got != tt.source {
				t.Errorf("Source = %q, want %q", got, tt.source)
			}
			if got := strings.TrimPrefix(lim.Usage, dir); got != tt.usage {
				t.Errorf("Usage = %q, want %q", got, tt.usage)
			}
			used, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if tt.usage != "process" && used != tt.used {
				t.Errorf("usage read %v, want %v", used, tt.used)
			}
		})
	}
}

func TestDetectLimitErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error
	}{
		{"bad proc file", map[string]string{"proc": "nonsense\n"}, "proc"},
		{"bad cpu.max", map[string]string{"proc": "0::/\n", "cg/cpu.max": "lots\n"}, "cpu.max"},
		{"bad quota", map[string]string{"proc": "1:cpu:/\n", "cg/cpu/cpu.cfs_quota_us": "x", "cg/cpu/cpu.cfs_period_us": "100000"}, "cfs_quota_us"},
		{"missing period", map[string]string{"proc": "1:cpu:/\n", "cg/cpu/cpu.cfs_quota_us": "100000"}, "cfs_period_us"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, proc := fixture(t, tt.files)
			_, _, err := detectLimit(root, proc, 4)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
			// NewSampler reports the same failure.
			if _, err := NewSampler(WithCgroupRoot(root), WithProcCgroup(proc)); err == nil {
				t.Fatal("NewSampler succeeded")
			}
		})
	}
}

// TestDetectOnThisMachine runs detection against the real /proc and /sys.
// It asserts only what holds everywhere.
func TestDetectOnThisMachine(t *testing.T) {
	s, err := NewSampler()
	if err != nil {
		t.Fatal(err)
	}
	lim := s.Limit()
	if !(lim.CPUs > 0) || lim.Source == "" || lim.Usage == "" {
		t.Fatalf("Limit = %+v", lim)
	}
	t.Logf("limit on this machine: %+v", lim)
}
