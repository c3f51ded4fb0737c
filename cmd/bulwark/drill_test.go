package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/demo"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/cpulock"
)

func runDrillBin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBin(t, env, append([]string{"drill"}, args...)...)
}

func TestDrillCLI(t *testing.T) {
	cpulock.Hold(t) // load through the demo topology: keep other CPU-heavy tests off the cores
	top, err := demo.Start(demo.Options{Edit: func(cfg *config.Config) {
		cfg.Limits = append(cfg.Limits, &config.Limit{Key: "header:X-User-Id", Limit: 5, Per: config.Duration(time.Second), Paths: []string{"/api/orders"}})
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = top.Close() })
	env := []string{
		"SZ_URL=" + top.Centers[demo.Primary].URL, "SZ_ADMIN=" + top.Centers[demo.Primary].AdminURL,
		"SH_URL=" + top.Centers[demo.Secondary].URL, "SH_ADMIN=" + top.Centers[demo.Secondary].AdminURL,
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nstepz: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(dir, "failing.yaml")
	if err := os.WriteFile(failing, []byte(`name: failing
gateways: {sz: {url: "${SZ_URL}", admin: "${SZ_ADMIN}"}}
steps:
  - name: impossible p99
    load: {rate: 20, duration: 1s, targets: [{gateway: sz, path: /api/songs}]}
    expect: [{p99: {max: 1us}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(dir, "refused.yaml")
	if err := os.WriteFile(refused, []byte(`name: refused
gateways: {sz: {url: "${SZ_URL}", admin: "${SZ_ADMIN}"}}
steps:
  - name: level-1 fault without allow_level1
    faults: [{gateway: sz, fault: {service: songs, kind: abort, percent: 10}}]
    load: {rate: 20, duration: 1s, targets: [{gateway: sz, path: /api/songs}]}
    expect: [{p99: {max: 1s}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		inOut    string
		inStderr string
	}{
		{"passes", []string{"-f", "../../examples/drills/user-limit.yaml", "--scale", "0.2", "-q"}, 0, "[PASS] share of target greedy rejected", ""},
		{"json", []string{"-f", "../../examples/drills/host-stop.yaml", "--scale", "0.2", "--json"}, 0, `"passed": true`, "drained songs"},
		{"check fails", []string{"-f", failing, "-q"}, 1, "[FAIL] p99 ≤ 1µs", ""},
		{"refused fault aborts", []string{"-f", refused, "-q"}, 2, "ABORTED", ""},
		{"invalid file", []string{"-f", bad}, 2, "", "stepz: unknown key"},
		{"no file", nil, 1, "", "required flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runDrillBin(t, env, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.inOut) || !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			if tt.name == "json" {
				var v struct{ Passed bool }
				if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Passed {
					t.Errorf("json: %v %+v", err, v)
				}
			}
		})
	}
}

// TestDrillCLIInterrupt sends SIGINT while a fault is active: the drill rolls back, prints
// what it has, and exits 130.
func TestDrillCLIInterrupt(t *testing.T) {
	cpulock.Hold(t) // load through the demo topology: keep other CPU-heavy tests off the cores
	top, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = top.Close() })
	sz, sh := top.Centers[demo.Primary], top.Centers[demo.Secondary]
	cmd := exec.Command(bulwarkBin(t), "drill", "-q", "-f", "../../examples/drills/noncritical-fail.yaml")
	cmd.Env = append(os.Environ(), "SZ_URL="+sz.URL, "SZ_ADMIN="+sz.AdminURL, "SH_URL="+sh.URL, "SH_ADMIN="+sh.AdminURL)
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	faults := func() int {
		resp, err := http.Get(sz.AdminURL + "/faults")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Faults []any }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return len(v.Faults)
	}
	deadline := time.Now().Add(5 * time.Second)
	for faults() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitDrillInterrupted {
		t.Errorf("exit: %v, want %d\n%s", err, exitDrillInterrupted, out.String())
	}
	if n := faults(); n != 0 || !strings.Contains(out.String(), "INTERRUPTED") {
		t.Errorf("%d faults left after SIGINT; output:\n%s", n, out.String())
	}
}
