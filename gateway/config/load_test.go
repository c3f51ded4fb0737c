package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func ptr[T any](v T) *T { return &v }

// exampleDefaults is what every service gets when it sets nothing but its hosts.
func defaultService(name string, upstreams map[string][]string) *Service {
	return &Service{
		Name:      name,
		Level:     1,
		Upstreams: upstreams,
		Timeout:   Timeout{Tavg: Duration(60 * time.Millisecond), Thwm: Duration(250 * time.Millisecond), Tmax: Duration(500 * time.Millisecond), N: 50},
		Breaker:   Breaker{Kind: "sre", K: 1.5, Window: Duration(10 * time.Second), MinRequests: 20},
		Failover: Failover{
			Enabled: ptr(true),
			On:      []string{"connect_error", "timeout", "5xx", "breaker_open", "rate_limited"},
			Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"},
		},
		Concurrency: Concurrency{MaxWait: Duration(500 * time.Millisecond), Queue: 128},
		Health: Health{Interval: Duration(time.Second), Timeout: Duration(500 * time.Millisecond),
			UnhealthyAfter: 2, HealthyAfter: 2, MaxEjected: 0.5},
		Degrade:  Degrade{Pass: ptr(1.0)},
		Balancer: Balancer{Policy: "p2c_ewma"},
		Passive: PassiveCheck{ConsecutiveFailures: 3, ErrorRatio: 0.5, MinRequests: 10,
			Window: Duration(2 * time.Second), OverloadFor: Duration(time.Second)},
	}
}

// globalDefaults sets the defaults of every section outside services, routes, limits, block.
func globalDefaults(c *Config) {
	c.Retry = Retry{Enabled: ptr(true), Period: Duration(time.Second), HealthyRate: 0.98,
		RemoteCredit: ptr(true), CreditCap: 1000, ReplayBuffer: 1 << 20}
	c.Protection.Adaptive = Adaptive{Enabled: ptr(true), CPUThreshold: 800, Window: Duration(10 * time.Second), Buckets: 100,
		SampleInterval: Duration(250 * time.Millisecond), SampleDecay: 0.95}
	c.Protection.Queue, c.Protection.MaxWait = 128, Duration(100*time.Millisecond)
	c.Protection.Shares = [4]float64{1, 0.9, 0.75, 0.6}
	c.HTTP = HTTP{ReadHeaderTimeout: Duration(10 * time.Second), IdleTimeout: Duration(120 * time.Second),
		MaxHeaderBytes: 1 << 20, MaxBodyBytes: 64 << 20, DialTimeout: Duration(time.Second), MaxIdlePerHost: 256}
	c.Log = Log{Level: "info", Access: ptr(true), SuccessSample: ptr(1.0)}
	c.ShutdownGrace = Duration(10 * time.Second)
	c.Faults = Faults{Enabled: ptr(true), MaxPercent: 50}
	c.Recorder = Recorder{Dir: "/var/lib/bulwark/rec", Sample: 0.01, MaxBody: 64 << 10, MaxFile: 64 << 20,
		MaxFiles: 10, Queue: 1024, Headers: []string{"Accept", "Content-Type", "User-Agent"}}
	c.Tracing = Tracing{SampleRate: ptr(0.01), Queue: 2048}
	c.Mask = Mask{Keys: []string{"Authorization", "Cookie"}}
	c.Color = Color{TokenHeader: "Bulwark-Color-Token"}
	c.Profiling = Profiling{Interval: Duration(5 * time.Minute), Duration: Duration(10 * time.Second), Keep: 288,
		MaxAge: Duration(24 * time.Hour)}
}

func TestLoadExample(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	got, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}

	want := &Config{
		File:     "testdata/example.yaml",
		Center:   "sz",
		Instance: "sz-1",
		Listen:   "127.0.0.1:8080",
		Admin:    Admin{Listen: "127.0.0.1:9901", Token: "s3cret"},
		Centers: map[string]*Center{
			"sz": {Name: "sz", Gateway: "http://127.0.0.1:8080", Primary: true},
			"sh": {Name: "sh", Gateway: "http://127.0.0.1:8081"},
		},
	}
	globalDefaults(want)
	want.Protection.LevelShares = map[int]float64{1: 1, 2: 0.9, 3: 0.75, 4: 0.6}
	songs := defaultService("songs", map[string][]string{"sz": {"127.0.0.1:7001", "127.0.0.1:7002"}, "sh": {"127.0.0.1:7101"}})
	songs.RateLimit = &RateLimit{Algorithm: "sliding_window", Limit: 1000, Per: Duration(time.Second), Scope: ScopeLocal}
	songs.Concurrency.Max = 200
	songs.Health.Path = "/healthz"
	songs.Degrade.Fallback = &Fallback{Status: 200, Body: `{"items":[]}`, Headers: map[string]string{"Content-Type": "application/json"}}
	want.Services = map[string]*Service{
		"songs":  songs,
		"orders": defaultService("orders", map[string][]string{"sz": {"127.0.0.1:7201"}}),
	}
	want.Routes = []*Route{
		{Path: "/api/songs", Methods: []string{"GET", "HEAD"}, Service: "songs", Name: "/api/songs"},
		{Path: "/api/orders", Methods: []string{"POST"}, Service: "orders", Write: true, Name: "/api/orders"},
	}
	want.Limits = []*Limit{{Key: "header:X-User-Id", Limit: 1, Per: Duration(5 * time.Second), Paths: []string{"/api/claim"}, MaxKeys: 100000}}
	_, blockNet, _ := net.ParseCIDR("203.0.113.0/24")
	want.Block = []*Block{{CIDR: "203.0.113.0/24", Net: blockNet}, {Header: "User-Agent", Pattern: "^BadBot"}}

	if got.Block[1].Re == nil || got.Block[1].Re.String() != "^BadBot" || !got.Block[1].Re.MatchString("BadBot/1.0") {
		t.Errorf("block[1].Re = %v, want ^BadBot compiled", got.Block[1].Re)
	}
	got.Block[1].Re = nil
	if got.lines == nil || lineOf(got.lines, "services.songs.timeout.tavg") != 19 {
		t.Errorf("line of services.songs.timeout.tavg = %d, want 19", lineOf(got.lines, "services.songs.timeout.tavg"))
	}
	got.lines = nil
	if !reflect.DeepEqual(got, want) {
		gotY, _ := yaml.Marshal(got)
		wantY, _ := yaml.Marshal(want)
		t.Errorf("Load(example) differs from the expected config\n got:\n%s\nwant:\n%s", gotY, wantY)
	}
	for name, s := range got.Services {
		if !Equal(s, want.Services[name]) {
			t.Errorf("Equal(services.%s, expected) = false", name)
		}
	}
	if err := got.Validate(); err != nil {
		t.Errorf("second Validate: %v", err)
	}
}

func TestParseMinimalDefaults(t *testing.T) {
	const minimal = `
center: sz
centers: {sz: {gateway: http://10.0.0.1:8080}}
services: {api: {upstreams: {sz: [10.0.0.2:80]}}}
routes: [{path: /, service: api, methods: [get, Post]}]
`
	got, err := Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	want := &Config{
		File: "min.yaml", Center: "sz", Instance: host + ":8080", Listen: DefaultListen,
		Admin:    Admin{Listen: DefaultAdminListen},
		Centers:  map[string]*Center{"sz": {Name: "sz", Gateway: "http://10.0.0.1:8080"}},
		Services: map[string]*Service{"api": defaultService("api", map[string][]string{"sz": {"10.0.0.2:80"}})},
		Routes:   []*Route{{Path: "/", Methods: []string{"GET", "POST"}, Service: "api", Name: "/"}},
	}
	globalDefaults(want)
	got.lines = nil
	if !reflect.DeepEqual(got, want) {
		gotY, _ := yaml.Marshal(got)
		wantY, _ := yaml.Marshal(want)
		t.Errorf("defaults differ\n got:\n%s\nwant:\n%s", gotY, wantY)
	}
}

func TestParseSpecificDefaults(t *testing.T) {
	cfg, err := Parse("gw.yaml", []byte(withService+`    rate_limit: {algorithm: token_bucket, limit: 7}
    breaker: {kind: classic}
    degrade: {fallback: {body: busy}}
listen: ":0"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services["songs"]
	if got := s.RateLimit; got.Burst != 7 || got.Per.D() != time.Second {
		t.Errorf("token bucket burst, per = %d, %s; want 7 (the limit), 1s", got.Burst, got.Per)
	}
	if got := s.Breaker; got.K != 0 || got.FailureRatio != 0.5 || got.OpenTimeout.D() != 5*time.Second || got.HalfOpenRequests != 5 {
		t.Errorf("classic breaker defaults = %+v", got)
	}
	if got := s.Degrade.Fallback.Status; got != 200 {
		t.Errorf("fallback status = %d, want 200", got)
	}
	if !strings.HasSuffix(cfg.Instance, ":0") {
		t.Errorf("instance = %q, want hostname:0", cfg.Instance)
	}
}

func TestParseAliases(t *testing.T) {
	cfg, err := Parse("gw.yaml", []byte(withService+`  other:
    upstreams: {sz: &hosts [127.0.0.1:7001, 127.0.0.1:7002], sh: *hosts}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Services["other"].Upstreams["sh"]; len(got) != 2 || got[1] != "127.0.0.1:7002" {
		t.Errorf("aliased hosts = %v", got)
	}

	// A small file whose aliases name one big service many times: decoding stops at maxNodes.
	var b strings.Builder
	b.WriteString("x: &big {upstreams: {sz: [")
	for i := range 1000 {
		fmt.Fprintf(&b, "127.0.0.1:%d, ", 1000+i)
	}
	b.WriteString("]}}\nservices:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  s%d: *big\n", i)
	}
	_, err = Parse("laughs.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "the document is too large or repeats aliases too often") {
		t.Fatalf("alias bomb: %.300v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(missing) = %v; want fs.ErrNotExist and not ErrInvalid", err)
	}
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(withService+"    level: 0.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := path + ":10: services.songs.level: expected a whole number, found the number 0.5"; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
}

func TestErrorsCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(withRoute)
	for range 25 {
		b.WriteString("  - {path: /x, service: nope}\n")
	}
	_, err := Parse("gw.yaml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v", err)
	}
	// 25 unknown services, and 24 duplicates of the first /x route.
	if len(es) != 49 {
		t.Errorf("len(Errors) = %d, want 49", len(es))
	}
	text := err.Error()
	if n := strings.Count(text, "\n"); n != MaxReported {
		t.Errorf("Error() has %d lines, want %d problems and a summary line", n+1, MaxReported)
	}
	if !strings.HasSuffix(text, "\n... and 29 more") {
		t.Errorf("Error() ends %q", text[strings.LastIndex(text, "\n"):])
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		e    Error
		want string
	}{
		{"all", Error{File: "gw.yaml", Line: 3, Path: "a.b", Msg: "bad"}, "gw.yaml:3: a.b: bad"},
		{"no line", Error{File: "gw.yaml", Path: "a.b", Msg: "bad"}, "gw.yaml: a.b: bad"},
		{"no file", Error{Line: 3, Path: "a.b", Msg: "bad"}, "line 3: a.b: bad"},
		{"in memory", Error{Path: "a.b", Msg: "bad"}, "a.b: bad"},
		{"no path", Error{File: "gw.yaml", Line: 1, Msg: "bad"}, "gw.yaml:1: bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.e, ErrInvalid) {
				t.Error("not ErrInvalid")
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	t.Setenv("REDIS_PASSWORD", "s3cret")
	for _, file := range []string{"testdata/example.yaml", "testdata/fleet.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse("printed.yaml", out)
			if err != nil {
				t.Fatalf("the printed config does not load: %v\n%s", err, out)
			}
			for name, s := range cfg.Services {
				if !Equal(s, again.Services[name]) {
					t.Errorf("services.%s changed in the round trip", name)
				}
			}
			if got := RestartChanges(cfg, again); got != nil {
				t.Errorf("%v changed in the round trip", got)
			}
			out2, err := yaml.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(out2) {
				t.Errorf("printing the reloaded config gives another text:\n%s\nthen:\n%s", out, out2)
			}
		})
	}
}
