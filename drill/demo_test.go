package drill

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/demo"
	"github.com/bulwark-go/bulwark/internal/cpulock"
)

// startDemo starts the demo topology on free ports and returns the environment that points
// drill files at it.
func startDemo(t *testing.T) func(string) (string, bool) {
	t.Helper()
	top, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := top.Close(); err != nil {
			t.Error(err)
		}
	})
	env := map[string]string{
		"SZ_URL": top.Centers[demo.Primary].URL, "SZ_ADMIN": top.Centers[demo.Primary].AdminURL,
		"SH_URL": top.Centers[demo.Secondary].URL, "SH_ADMIN": top.Centers[demo.Secondary].AdminURL,
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestShippedDrills runs every drill of examples/drills against the demo topology, with every
// duration scaled by 0.3, and requires each to pass and to leave no fault behind.
func TestShippedDrills(t *testing.T) {
	cpulock.Hold(t) // load through the demo topology: keep other CPU-heavy tests off the cores
	if testing.Short() {
		t.Skip("runs the demo topology")
	}
	files, err := filepath.Glob("../examples/drills/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no drills: %v", err)
	}
	lookup := startDemo(t)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse(f, b, lookup)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, d, Options{Scale: 0.3})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_ = res.WriteText(&out)
			t.Logf("%s", out.String())
			if !res.Passed() {
				t.Errorf("drill failed:\n%s", out.String())
			}
			assertNoFaults(t, d)
		})
	}
}

// assertNoFaults checks that every gateway of d has no active fault and no drained host.
func assertNoFaults(t *testing.T, d *Drill) {
	t.Helper()
	a := adminClient{c: nil}
	a.c = defaultAdminClient()
	for name, g := range d.Gateways {
		b, err := a.call(context.Background(), g, "GET", "/faults", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"faults":[]`)) && !bytes.Contains(b, []byte(`"faults": []`)) {
			t.Errorf("%s: faults left behind: %s", name, b)
		}
		st, err := a.status(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Services {
			for _, h := range s.Hosts {
				if h.Drained {
					t.Errorf("%s: %s host %s left drained", name, s.Name, h.Addr)
				}
			}
		}
	}
}

// TestDefaultEnvMatchesDemo: the drill files' default addresses are the ones `bulwark demo
// --serve` listens on. The drill package does not import demo (a product beside it), so this
// test keeps the two lists from drifting apart.
func TestDefaultEnvMatchesDemo(t *testing.T) {
	for center, prefix := range map[string]string{demo.Primary: "SZ", demo.Secondary: "SH"} {
		addrs := demo.FixedAddrs[center]
		if got, want := DefaultEnv[prefix+"_URL"], "http://"+addrs[0]; got != want {
			t.Errorf("%s_URL = %q, demo serves %q", prefix, got, want)
		}
		if got, want := DefaultEnv[prefix+"_ADMIN"], "http://"+addrs[1]; got != want {
			t.Errorf("%s_ADMIN = %q, demo serves %q", prefix, got, want)
		}
	}
}
