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
