package twocenters_test

import (
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// TestExampleConfigs loads both example files and checks what README.md says about them,
// and that the two files agree with each other.
func TestExampleConfigs(t *testing.T) {
	sz, err := config.Load("sz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := config.Load("sh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      *config.Config
		center   string
		listen   string
		admin    string
		primary  bool
		songs    map[string][]string
		orderOns map[string][]string
	}{
		{"sz", sz, "sz", "127.0.0.1:8080", "127.0.0.1:9901", true,
			map[string][]string{"sz": {"127.0.0.1:7001", "127.0.0.1:7002"}},
			map[string][]string{"sz": {"127.0.0.1:7003"}}},
		{"sh", sh, "sh", "127.0.0.1:8081", "127.0.0.1:9902", false,
			map[string][]string{"sh": {"127.0.0.1:7101", "127.0.0.1:7102"}},
			map[string][]string{"sz": {"127.0.0.1:7003"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if c.Center != tc.center || c.Listen != tc.listen || c.Admin.Listen != tc.admin {
				t.Errorf("center %q listen %q admin %q, want %q %q %q", c.Center, c.Listen, c.Admin.Listen, tc.center, tc.listen, tc.admin)
			}
			if c.Admin.Token != "" {
				t.Error("the example needs no admin token: its admin API is on loopback")
			}
			if got := c.Centers[c.Center].Primary; got != tc.primary {
				t.Errorf("primary %v, want %v", got, tc.primary)
			}
			if u, err := url.Parse(c.Centers[c.Center].Gateway); err != nil || u.Host != c.Listen {
				t.Errorf("centers.%s.gateway %q does not point at listen %q", c.Center, c.Centers[c.Center].Gateway, c.Listen)
			}
			if got := c.Services["songs"].Upstreams; !reflect.DeepEqual(got, tc.songs) {
				t.Errorf("songs upstreams %v, want %v", got, tc.songs)
			}
			if got := c.Services["orders"].Upstreams; !reflect.DeepEqual(got, tc.orderOns) {
				t.Errorf("orders upstreams %v, want %v", got, tc.orderOns)
			}
			var write *config.Route
			for _, r := range c.Routes {
				if r.Write {
					write = r
				}
			}
			if write == nil || write.Path != "/api/orders" || write.Service != "orders" || !reflect.DeepEqual(write.Methods, []string{"POST"}) {
				t.Errorf("write route %+v, want POST /api/orders to orders", write)
			}
			for _, s := range []string{"songs", "orders"} {
				if lv := c.Services[s].Level; lv != 1 {
					t.Errorf("service %s level %d, want 1", s, lv)
				}
			}
			if c.Services["songs"].Health.Path != "/healthz" || c.Services["songs"].RateLimit == nil {
				t.Error("songs should have health probes on /healthz and a rate limit")
			}
			if len(c.Limits) == 0 || len(c.Block) == 0 {
				t.Error("the example should show a frequency limit and block rules")
			}
		})
	}
	t.Run("both files list the same centers", func(t *testing.T) {
		if !reflect.DeepEqual(sz.Centers, sh.Centers) {
			t.Errorf("centers differ: sz.yaml %+v, sh.yaml %+v", sz.Centers, sh.Centers)
		}
	})
}

// TestCheckCommand runs `bulwark check` on the examples (exit 0) and on broken copies (exit 1,
// with the file and line of the problem on stderr).
func TestCheckCommand(t *testing.T) {
	bulwark, _ := binaries(t)
	dir := t.TempDir()
	tests := []struct {
		name      string
		file      string
		old, new  string // a broken copy replaces old with new; "" = the file as it is
		wantCode  int
		wantInErr string
	}{
		{"sz as shipped", "sz.yaml", "", "", 0, ""},
		{"sh as shipped", "sh.yaml", "", "", 0, ""},
		{"typo in a key", "sz.yaml", "    level: 1\n    upstreams:\n      sz: [127.0.0.1:7001", "    levle: 1\n    upstreams:\n      sz: [127.0.0.1:7001", 1, "did you mean level?"},
		{"duration without unit", "sz.yaml", "tavg: 60ms", "tavg: 60", 1, "has no unit"},
		{"level out of range", "sh.yaml", "level: 3, name: other", "level: 7, name: other", 1, "outside 1..4"},
		{"route to a missing service", "sh.yaml", "service: orders, write: true", "service: payments, write: true", 1, "payments"},
		{"two primaries", "sh.yaml", "sh: {gateway: http://127.0.0.1:8081}", "sh: {gateway: http://127.0.0.1:8081, primary: true}", 1, "more than one primary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if tc.old != "" {
				data, err := os.ReadFile(tc.file)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(data), tc.old) {
					t.Fatalf("%s no longer contains %q; update the test", tc.file, tc.old)
				}
				file = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				if err := os.WriteFile(file, []byte(strings.Replace(string(data), tc.old, tc.new, 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bulwark, "check", "-c", file)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr.String())
			}
			if tc.wantCode == 0 {
				if !strings.Contains(string(stdout), "config is valid") {
					t.Errorf("stdout does not say the config is valid:\n%s", stdout)
				}
				return
			}
			msg := stderr.String()
			if !strings.Contains(msg, tc.wantInErr) || !strings.Contains(msg, filepath.Base(file)+":") {
				t.Errorf("stderr does not name the file and say %q:\n%s", tc.wantInErr, msg)
			}
		})
	}
}
