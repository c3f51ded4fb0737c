package observe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/observe"
)

func TestProfileNameParses(t *testing.T) {
	tests := []struct {
		name           string
		svc, inst      string
		wantSvc, wantI string
		wantFile       string
	}{
		{"plain", "songs", "sz-gw1", "songs", "sz-gw1", "songs_sz-gw1_20260301T120000Z_cpu.pprof"},
		{"separators made safe", "my_svc", "host:8080", "my-svc", "host-8080", "my-svc_host-8080_20260301T120000Z_cpu.pprof"},
		{"no path or hidden file", "../etc", "/x", "-.-etc", "-x", "-.-etc_-x_20260301T120000Z_cpu.pprof"},
		{"empty", "", "", "unknown", "unknown", "unknown_unknown_20260301T120000Z_cpu.pprof"},
		{"long cut", strings.Repeat("a", 100), "é", strings.Repeat("a", 64), "--", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := obsEpoch.Add(500 * time.Millisecond).In(time.FixedZone("X", 3600))
			n := observe.ProfileName(tt.svc, tt.inst, at, observe.ProfileCPU)
			if tt.wantFile != "" && n != tt.wantFile {
				t.Fatalf("ProfileName = %q, want %q", n, tt.wantFile)
			}
			if filepath.Base(n) != n || strings.HasPrefix(n, ".") {
				t.Fatalf("unsafe name %q", n)
			}
			pf, ok := observe.ParseProfileName(n)
			if !ok || pf.Service != tt.wantSvc || pf.Instance != tt.wantI || pf.Kind != "cpu" || !pf.Time.Equal(obsEpoch) {
				t.Fatalf("ParseProfileName(%q) = %+v, %v", n, pf, ok)
			}
		})
	}
	for _, bad := range []string{"", "x.pprof", "a_b_20260301T120000Z_cpu.prof", "a_b_20260301T120000Z_goroutine.pprof",
		"a_b_2026-03-01_cpu.pprof", "a_b_c_20260301T120000Z_cpu.pprof", "_b_20260301T120000Z_cpu.pprof",
		".a_b_20260301T120000Z_cpu.pprof", "a_b_20261301T120000Z_heap.pprof"} {
		if pf, ok := observe.ParseProfileName(bad); ok {
			t.Errorf("ParseProfileName(%q) accepted: %+v", bad, pf)
		}
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []string{
		observe.ProfileName("songs", "sz-1", obsEpoch.Add(2*time.Hour), observe.ProfileHeap),
		observe.ProfileName("songs", "sz-1", obsEpoch.Add(2*time.Hour), observe.ProfileCPU),
		observe.ProfileName("songs", "sz-2", obsEpoch, observe.ProfileCPU),
		observe.ProfileName("feeds", "sz-1", obsEpoch.Add(time.Hour), observe.ProfileCPU),
		"notes.txt", ".bulwark-cpu-123.tmp", "x_y_bad_cpu.pprof",
	} {
		write(n, i+1)
	}
	os.Mkdir(filepath.Join(dir, observe.ProfileName("songs", "dir", obsEpoch, observe.ProfileCPU)), 0o755)
	tests := []struct {
		name    string
		since   time.Time
		service string
		want    []string // service/instance/kind in order
	}{
		{"all, oldest first", time.Time{}, "", []string{"songs/sz-2/cpu", "feeds/sz-1/cpu", "songs/sz-1/cpu", "songs/sz-1/heap"}},
		{"service", time.Time{}, "songs", []string{"songs/sz-2/cpu", "songs/sz-1/cpu", "songs/sz-1/heap"}},
		{"since is inclusive", obsEpoch.Add(time.Hour), "", []string{"feeds/sz-1/cpu", "songs/sz-1/cpu", "songs/sz-1/heap"}},
		{"nothing", obsEpoch.Add(3 * time.Hour), "", nil},
		{"unknown service", time.Time{}, "nope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := observe.List(dir, tt.since, tt.service)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.Service+"/"+f.Instance+"/"+f.Kind)
				if f.Size == 0 || filepath.Dir(f.Path) != dir {
					t.Errorf("file %+v", f)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("List = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := observe.List(filepath.Join(dir, "missing"), time.Time{}, ""); err == nil {
		t.Fatal("List of a missing dir succeeded")
	}
}

// FuzzParseProfileName: any name parses without a panic; whatever parses formats back to
// the same name; and every name ProfileName writes parses back.
func FuzzParseProfileName(f *testing.F) {
	f.Add("songs_sz-1_20260301T120000Z_cpu.pprof", "svc", "inst", int64(0))
	f.Add("a_b_99991231T235959Z_heap.pprof", "a_b", "../x", int64(-1<<40))
	f.Fuzz(func(t *testing.T, name, svc, inst string, secs int64) {
		if pf, ok := observe.ParseProfileName(name); ok {
			if back := observe.ProfileName(pf.Service, pf.Instance, pf.Time, pf.Kind); back != name {
				t.Fatalf("%q parsed to %+v, which formats as %q", name, pf, back)
			}
		}
		at := time.Unix(secs%(250000*24*3600), 0) // years 1962..2654 and the like
		n := observe.ProfileName(svc, inst, at, observe.ProfileHeap)
		pf, ok := observe.ParseProfileName(n)
		if at.UTC().Year() < 0 || at.UTC().Year() > 9999 {
			return
		}
		if !ok || pf.Service != observe.SafeNamePart(svc) || pf.Instance != observe.SafeNamePart(inst) || !pf.Time.Equal(at) {
			t.Fatalf("ProfileName(%q, %q, %v) = %q does not parse back: %+v %v", svc, inst, at, n, pf, ok)
		}
		if strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") {
			t.Fatalf("unsafe name %q", n)
		}
	})
}
