package config

import (
	"testing"
	"time"
)

func TestEqual(t *testing.T) {
	base := func() *Service {
		s := defaultService("songs", map[string][]string{"sz": {"127.0.0.1:7001", "127.0.0.1:7002"}})
		s.RateLimit = &RateLimit{Algorithm: "sliding_window", Limit: 10, Per: Duration(time.Second)}
		s.Degrade.Fallback = &Fallback{Status: 200, Body: "{}", Headers: map[string]string{"Content-Type": "application/json"}}
		s.Cache = &Cache{TTL: Duration(30 * time.Second), Key: []string{"path", "query:page"}}
		s.DRCache = &DRCache{TTL: Duration(72 * time.Hour), Key: []string{"path", "query:lat~0.01"}}
		s.FallbackUpstreams = []string{"127.0.0.1:7201"}
		return s
	}
	tests := []struct {
		name   string
		change func(a, b *Service)
		want   bool
	}{
		{"same", func(_, _ *Service) {}, true},
		{"other pointer, same bool", func(_, s *Service) { s.Failover.Enabled = ptr(true) }, true},
		// nil and empty both mean "none".
		{"empty vs nil headers", func(a, b *Service) { a.Degrade.Fallback.Headers, b.Degrade.Fallback.Headers = map[string]string{}, nil }, true},
		{"empty vs nil host list", func(a, b *Service) { a.Upstreams["sh"], b.Upstreams["sh"] = []string{}, nil }, true},
		{"empty vs nil methods", func(a, b *Service) { a.Failover.Methods, b.Failover.Methods = []string{}, nil }, true},
		{"name", func(_, s *Service) { s.Name = "other" }, false},
		{"level", func(_, s *Service) { s.Level = 2 }, false},
		{"host order", func(_, s *Service) {
			s.Upstreams["sz"][0], s.Upstreams["sz"][1] = s.Upstreams["sz"][1], s.Upstreams["sz"][0]
		}, false},
		{"extra host", func(_, s *Service) { s.Upstreams["sz"] = append(s.Upstreams["sz"], "127.0.0.1:7003") }, false},
		{"other center", func(_, s *Service) { s.Upstreams["sh"] = []string{"127.0.0.1:7001"} }, false},
		{"timeout", func(_, s *Service) { s.Timeout.Tmax = Duration(time.Second) }, false},
		{"failover off", func(_, s *Service) { s.Failover.Enabled = ptr(false) }, false},
		{"rate limit", func(_, s *Service) { s.RateLimit.Limit = 11 }, false},
		{"no rate limit", func(_, s *Service) { s.RateLimit = nil }, false},
		{"degrade pass", func(_, s *Service) { s.Degrade.Pass = ptr(0.5) }, false},
		{"fallback header", func(_, s *Service) { s.Degrade.Fallback.Headers["X-A"] = "b" }, false},
		{"max ejected", func(_, s *Service) { s.Health.MaxEjected = 0.25 }, false},
		{"passive", func(_, s *Service) { s.Passive.OverloadFor = Duration(2 * time.Second) }, false},
		{"balancer", func(_, s *Service) { s.Balancer.Policy = "round_robin" }, false},
		{"empty vs nil fallback pool", func(a, b *Service) { a.FallbackUpstreams, b.FallbackUpstreams = []string{}, nil }, true},
		{"rate limit scope", func(_, s *Service) { s.RateLimit.Scope = ScopeCluster }, false},
		{"cache ttl", func(_, s *Service) { s.Cache.TTL = Duration(time.Minute) }, false},
		{"cache key", func(_, s *Service) { s.Cache.Key = []string{"path"} }, false},
		{"no cache", func(_, s *Service) { s.Cache = nil }, false},
		{"dr cache step", func(_, s *Service) { s.DRCache.Key[1] = "query:lat~0.1" }, false},
		{"fallback pool", func(_, s *Service) { s.FallbackUpstreams = append(s.FallbackUpstreams, "127.0.0.1:7202") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := base(), base()
			tc.change(a, b)
			if got := Equal(a, b); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
			if got := Equal(b, a); got != tc.want {
				t.Errorf("Equal (swapped) = %v, want %v", got, tc.want)
			}
		})
	}
	if !Equal(nil, nil) || Equal(base(), nil) || Equal(nil, base()) {
		t.Error("Equal with nil")
	}
}

// Equal sees the parsed key specs that Validate fills: the same key lists give Equal
// services, a changed step does not.
func TestEqualKeySpecs(t *testing.T) {
	parse := func(step string) *Service {
		c := memoryConfig()
		c.Services["songs"].DRCache = &DRCache{Key: []string{"path", "query:lat~" + step}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c.Services["songs"]
	}
	if !Equal(parse("0.01"), parse("0.01")) {
		t.Error("same dr_cache key is not Equal")
	}
	a, b := parse("0.01"), parse("0.01")
	b.DRCache.Spec = parse("0.1").DRCache.Spec // as if the list and the spec disagreed
	if Equal(a, b) {
		t.Error("another parsed spec is Equal")
	}
}

// Two loads of the same file give Equal services, and a reload that changes one service
// leaves the others Equal: what the gateway's reload relies on.
func TestEqualAcrossLoads(t *testing.T) {
	first, err := Parse("gw.yaml", []byte(withService+"  other: {upstreams: {sz: [127.0.0.1:7009]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Parse("gw.yaml", []byte(withService+"    level: 2\n  other: {upstreams: {sz: [127.0.0.1:7009]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if Equal(first.Services["songs"], second.Services["songs"]) {
		t.Error("songs changed level but is Equal")
	}
	if !Equal(first.Services["other"], second.Services["other"]) {
		t.Error("other did not change but is not Equal")
	}
}
