package fleetexample

import (
	"testing"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// TestFleetConfigs: both files load, name the same Redis and prefix, and differ in instance,
// so the two gateways form one fleet.
func TestFleetConfigs(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "")
	var cfgs []*config.Config
	for _, f := range []string{"sz-1.yaml", "sz-2.yaml"} {
		cfg, err := config.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
	}
	a, b := cfgs[0], cfgs[1]
	fa, _ := a.FleetConfig()
	fb, _ := b.FleetConfig()
	if fa.Prefix != fb.Prefix || fa.Redis.Addrs[0] != fb.Redis.Addrs[0] || a.Instance == b.Instance || a.Listen == b.Listen {
		t.Fatalf("not one fleet: %+v / %+v", fa, fb)
	}
	if rl := a.Services["songs"].RateLimit; rl.Scope != config.ScopeCluster {
		t.Fatalf("songs scope %q", rl.Scope)
	}
}
