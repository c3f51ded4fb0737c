package client

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	two := func(a, b string) []Center { return []Center{{Name: "sz", URL: a}, {Name: "bj", URL: b}} }
	ok := two("http://127.0.0.1:18080", "https://gw.bj.example/api")
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" means valid
	}{
		{"valid", Config{Centers: ok, Home: "sz"}, ""},
		{"valid, home second", Config{Centers: ok, Home: "bj"}, ""},
		{"valid tcp probe", Config{Centers: ok, Home: "sz", Probe: "10.0.0.1:53"}, ""},
		{"valid http probe", Config{Centers: ok, Home: "sz", Probe: "http://probe.example/ping"}, ""},
		{"valid durations", Config{Centers: ok, Home: "sz", Timeout: time.Second, ProbeTimeout: time.Second,
			FreezeFor: time.Minute}, ""},
		{"no centers", Config{Home: "sz"}, "Config.Centers: want exactly 2 centers, got 0"},
		{"one center", Config{Centers: ok[:1], Home: "sz"}, "Config.Centers: want exactly 2 centers, got 1"},
		{"three centers", Config{Centers: append(ok, Center{Name: "sh", URL: "http://x"}), Home: "sz"},
			"got 3"},
		{"empty name", Config{Centers: []Center{{URL: "http://a"}, {Name: "bj", URL: "http://b"}}, Home: "bj"},
			"Config.Centers[0].Name: must not be empty"},
		{"bad UTF-8 name", Config{Centers: []Center{{Name: "\xff", URL: "http://a"}, {Name: "bj", URL: "http://b"}},
			Home: "bj"}, "Config.Centers[0].Name"},
		{"duplicate name", Config{Centers: []Center{{Name: "sz", URL: "http://a"}, {Name: "sz", URL: "http://b"}},
			Home: "sz"}, "Config.Centers[1].Name"},
		{"unknown home", Config{Centers: ok, Home: "sh"}, `Config.Home: "sh" is not the name of a center`},
		{"empty home", Config{Centers: ok}, "Config.Home"},
		{"no scheme", Config{Centers: two("127.0.0.1:80", "http://b"), Home: "sz"}, "Config.Centers[0].URL"},
		{"ftp scheme", Config{Centers: two("http://a", "ftp://b"), Home: "sz"}, "Config.Centers[1].URL"},
		{"no host", Config{Centers: two("http:///path", "http://b"), Home: "sz"}, "must have a host"},
		{"query", Config{Centers: two("http://a/?x=1", "http://b"), Home: "sz"}, "must have no query"},
		{"empty query", Config{Centers: two("http://a/?", "http://b"), Home: "sz"}, "must have no query"},
		{"fragment", Config{Centers: two("http://a/#f", "http://b"), Home: "sz"}, "must have no fragment"},
		{"user info", Config{Centers: two("http://u:p@a/", "http://b"), Home: "sz"}, "must have no user info"},
		{"unparsable URL", Config{Centers: two("http://a b", "http://b"), Home: "sz"}, "Config.Centers[0].URL"},
		{"negative Timeout", Config{Centers: ok, Home: "sz", Timeout: -1}, "Config.Timeout: must be ≥ 0"},
		{"negative ProbeTimeout", Config{Centers: ok, Home: "sz", ProbeTimeout: -1}, "Config.ProbeTimeout"},
		{"negative FreezeFor", Config{Centers: ok, Home: "sz", FreezeFor: -time.Second}, "Config.FreezeFor"},
		{"probe without port", Config{Centers: ok, Home: "sz", Probe: "10.0.0.1"}, "Config.Probe"},
		{"probe without host", Config{Centers: ok, Home: "sz", Probe: ":53"}, "Config.Probe"},
		{"probe with other scheme", Config{Centers: ok, Home: "sz", Probe: "tcp://10.0.0.1:53"}, "Config.Probe"},
		{"probe URL without host", Config{Centers: ok, Home: "sz", Probe: "http:///ping"}, "Config.Probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "client: Config.") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to start with \"client: Config.\" and contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{Centers: []Center{{Name: "sz", URL: "http://a"}, {Name: "bj", URL: "http://b"}}, Home: "bj"})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != DefaultTimeout || c.probeTimeout != DefaultProbeTimeout || c.freezeFor != DefaultFreezeFor {
		t.Errorf("durations %v %v %v, want the defaults", c.timeout, c.probeTimeout, c.freezeFor)
	}
	if c.centers[0].name != "bj" || c.probeKind != probeNone || c.clk == nil {
		t.Errorf("home %q, probe %v, clock %v", c.centers[0].name, c.probeKind, c.clk)
	}
	if tr, ok := c.base.(*http.Transport); !ok || tr == http.DefaultTransport {
		t.Errorf("base transport %T, want a clone of http.DefaultTransport", c.base)
	}
}

// FuzzCenterURL: New never panics on any center URL or probe, and an accepted center URL
// rewrites a request to exactly that center.
func FuzzCenterURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:18080", "https://gw/api/", "http://a/%2F", "http://[::1]:80/x y",
		"http://a?", "http://a#", "//a", "http:", "HTTP://A/B", "http://a/\x00"} {
		f.Add(s, "127.0.0.1:9")
	}
	f.Fuzz(func(t *testing.T, raw, probe string) {
		c, err := New(Config{Centers: []Center{{Name: "sz", URL: raw}, {Name: "bj", URL: "http://b"}},
			Home: "sz", Probe: probe})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "client: Config.") {
				t.Fatalf("error %q does not name the field", err)
			}
			return
		}
		u, _ := url.Parse(raw)
		req, _ := http.NewRequest(http.MethodGet, "http://bulwark/p?q=1", nil)
		out := outbound(req.Context(), req, &c.centers[0], nil)
		if out.URL.Scheme != u.Scheme || out.URL.Host != u.Host || out.Host != u.Host || out.URL.RawQuery != "q=1" {
			t.Fatalf("%q rewrote to %s (Host %q)", raw, out.URL, out.Host)
		}
		if !strings.HasPrefix(out.URL.Path, strings.TrimSuffix(u.Path, "/")+"/") || !strings.HasSuffix(out.URL.Path, "/p") {
			t.Fatalf("%q: path %q, want the prefix %q then /p", raw, out.URL.Path, u.Path)
		}
	})
}
