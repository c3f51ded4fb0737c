package config

import (
	"errors"
	"math"
	"testing"
	"time"
)

// memoryConfig is a small valid Config built in memory, as the demo builds one.
func memoryConfig() *Config {
	return &Config{
		Center: "sz",
		Centers: map[string]*Center{
			"sz": {Gateway: "http://127.0.0.1:8080", Primary: true},
			"sh": {Gateway: "http://127.0.0.1:8081"},
		},
		Services: map[string]*Service{
			"songs":  {Upstreams: map[string][]string{"sz": {"127.0.0.1:7001"}}},
			"orders": {Upstreams: map[string][]string{"sz": {"127.0.0.1:7002"}}},
		},
		Routes: []*Route{
			{Path: "/api/songs", Service: "songs"},
			{Path: "/api/orders", Service: "orders", Write: true},
		},
	}
}

func TestValidateInMemory(t *testing.T) {
	c := memoryConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Centers["sh"].Name != "sh" || c.Services["songs"].Name != "songs" || c.Routes[0].Name != "/api/songs" {
		t.Errorf("names not filled: %q %q %q", c.Centers["sh"].Name, c.Services["songs"].Name, c.Routes[0].Name)
	}
	if c.Services["songs"].Timeout.Tmax.D() != 500*time.Millisecond || c.Protection.Shares != defaultShares {
		t.Errorf("defaults not filled")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate is not idempotent: %v", err)
	}
}

func TestValidateInMemoryErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"nil service entry", func(c *Config) { c.Services["x"] = nil },
			"services.x.upstreams: no hosts in center sz (this gateway's center); write upstreams: {sz: [HOST:PORT, ...]}"},
		{"nil route", func(c *Config) { c.Routes = append(c.Routes, nil) },
			lines("routes[2].path: required; write the path prefix this route serves, e.g. /api/songs",
				"routes[2].service: required: the route names no service; write service: NAME (known services: orders, songs)")},
		{"nan", func(c *Config) { c.Retry.HealthyRate = math.NaN() },
			"retry.healthy_success_rate: NaN is not a finite number"},
		{"negative duration", func(c *Config) { c.HTTP.DialTimeout = Duration(-time.Second) },
			"http.dial_timeout: -1s is negative; write 0 or more"},
		{"negative size", func(c *Config) { c.HTTP.MaxBodyBytes = -1 },
			"http.max_body_bytes: -1 is negative; write 0 or more"},
		{"admin on all interfaces", func(c *Config) { c.Admin.Listen = "0.0.0.0:9901" },
			`admin.listen: "0.0.0.0:9901" is not a loopback address, so admin.token is required; set a token (e.g. token: ${BULWARK_ADMIN_TOKEN}) or listen on 127.0.0.1`},
		{"duplicate route methods in another order", func(c *Config) {
			c.Routes[0].Methods = []string{"GET", "head"}
			c.Routes[0].Headers = map[string]string{"x-tenant": "a"}
			c.Routes = append(c.Routes, &Route{Path: "/api/songs", Service: "songs", Methods: []string{"HEAD", "GET"}, Headers: map[string]string{"X-Tenant": "a"}})
		}, "routes[2]: same host, path, methods and headers as routes[0]; the second can never match"},
		{"block without rule", func(c *Config) { c.Block = []*Block{nil} },
			"block[0]: set exactly one of cidr (e.g. 203.0.113.0/24) or header (with pattern); neither is set"},
		{"limit without key", func(c *Config) { c.Limits = []*Limit{{Limit: 1}} },
			"limits[0].key: required; write what is counted: ip, header:NAME, query:NAME or cookie:NAME"},
		{"write route, no primary", func(c *Config) { c.Centers["sz"].Primary = false },
			"routes[1].write: a write route needs a primary center, and none is; mark the center that takes writes with primary: true"},
		{"upstream in unknown center", func(c *Config) { c.Services["songs"].Upstreams["bj"] = []string{"10.0.0.1:80"} },
			`services.songs.upstreams.bj: unknown center "bj"; known centers: sh, sz`},
		{"fault percent cap over 100", func(c *Config) { c.Faults.MaxPercent = 101 },
			"faults.max_percent: 101 is outside (0, 100]; write a percentage such as 50"},
		{"recorder sample over 1", func(c *Config) { c.Recorder.Sample = 2 },
			"recorder.sample: 2 is outside (0, 1]; write a fraction such as 0.01"},
		{"recorder file too small", func(c *Config) { c.Recorder.MaxFile = 100 },
			"recorder.max_file: 100 is under the minimum of 1KiB"},
		{"recorder records a redacted header", func(c *Config) {
			c.Recorder.Headers = []string{"Accept", "cookie", "X-Tenant"}
			c.Recorder.Redact = []string{"x-tenant"}
		}, lines("recorder.headers[1]: cookie is redacted (Authorization, Cookie, Set-Cookie, Proxy-Authorization are never recorded, plus recorder.redact); remove it from headers",
			"recorder.headers[2]: X-Tenant is redacted (Authorization, Cookie, Set-Cookie, Proxy-Authorization are never recorded, plus recorder.redact); remove it from headers")},
		{"recorder bad header name", func(c *Config) { c.Recorder.Redact = []string{"bad name"} },
			`recorder.redact[0]: "bad name" is not a header name; write e.g. User-Agent`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := memoryConfig()
			tc.change(c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("Validate() =\n%v\nwant:\n%s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("not ErrInvalid")
			}
		})
	}

	c := memoryConfig()
	c.File = "demo"
	c.Center = ""
	if err := c.Validate(); err == nil || err.Error() != "demo: center: required; name this gateway's own center, one of: sh, sz" {
		t.Errorf("with File set: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9901", true},
		{"127.3.4.5:9901", true},
		{"[::1]:9901", true},
		{"localhost:9901", true},
		{"LOCALHOST:9901", true},
		{":9901", false},
		{"0.0.0.0:9901", false},
		{"[::]:9901", false},
		{"10.0.0.1:9901", false},
		{"admin.internal:9901", false},
		{"127.0.0.1", false}, // not host:port
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if got := isLoopback(tc.addr); got != tc.want {
				t.Errorf("isLoopback(%q) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

func TestBlockParsing(t *testing.T) {
	c := memoryConfig()
	c.Block = []*Block{{CIDR: "203.0.113.7"}, {CIDR: "2001:db8::1"}, {CIDR: "2001:db8::/32"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"203.0.113.7/32", "2001:db8::1/128", "2001:db8::/32"} {
		if got := c.Block[i].Net.String(); got != want {
			t.Errorf("block[%d].Net = %s, want %s", i, got, want)
		}
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	allowed := []string{"tavg", "thwm", "tmax", "n"}
	tests := []struct{ key, want string }{
		{"tvag", "unknown key; did you mean tavg?"},
		{"TAVG", "unknown key; did you mean tavg?"},
		{"thw", "unknown key; did you mean thwm?"},
		{"timeout", "unknown key; allowed keys: n, tavg, thwm, tmax"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := unknownKey(tc.key, allowed); got != tc.want {
				t.Errorf("unknownKey(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
	if got := unknownKey("min-requests", []string{"kind", "k", "window", "min_requests"}); got != "unknown key; did you mean min_requests?" {
		t.Errorf("dash for underscore: %q", got)
	}
}
