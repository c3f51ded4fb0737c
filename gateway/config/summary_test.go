package config

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	cfg, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	cfg.Summary(&b)
	out := b.String()
	for _, want := range []string{
		"center    sz\n",
		"instance  sz-1\n",
		"listen    127.0.0.1:8080 (http)\n",
		"admin     127.0.0.1:9901 (token set)\n",
		"sz (this)  primary  http://127.0.0.1:8080\n",
		"sh                  http://127.0.0.1:8081\n",
		"songs    1      sh=1 sz=2  60ms/250ms/500ms     sre k=1.5/10s  sliding_window 1000/1s  max 200, wait 500ms  all reasons  /healthz every 1s\n",
		"orders   1      sz=1",
		"/api/songs   GET,HEAD  songs    service\n",
		"/api/orders  POST      orders   service  write\n",
		"header:X-User-Id  1/5s  /api/claim\n",
		"ip in 203.0.113.0/24\n",
		"header User-Agent ~ ^BadBot\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " \n") {
		t.Errorf("summary has trailing spaces:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("summary prints the admin token:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n > 40 {
		t.Errorf("summary is %d lines, more than one screen", n)
	}
}

func TestSummaryVariants(t *testing.T) {
	c := memoryConfig()
	c.TLS = &TLS{Cert: "c.pem", Key: "k.pem"}
	off := false
	s := c.Services["songs"]
	s.Failover = Failover{Enabled: &off}
	s.Breaker = Breaker{Kind: "classic"}
	o := c.Services["orders"]
	o.Failover.On = []string{ReasonTimeout, Reason5xx}
	c.Routes[0].Host = "api.example.com"
	c.Routes[0].Level = 3
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	c.Summary(&b)
	out := b.String()
	for _, want := range []string{"(https)", "(no token)", "classic ratio 0.5/10s", " off ", "timeout,5xx", "api.example.com", "no max, wait 500ms", "passive only"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
