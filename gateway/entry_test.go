package gateway

import (
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/config"
)

func TestBlockRules(t *testing.T) {
	cfg := testConfig("sz", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	addService(cfg, "songs", 1, map[string][]string{"sz": {"127.0.0.1:7001"}}, false)
	cfg.Block = []*config.Block{
		{CIDR: "203.0.113.0/24"},
		{CIDR: "198.51.100.7"},
		{CIDR: "2001:db8::/32"},
		{Header: "User-Agent", Pattern: "^BadBot"},     // an anchored literal: checked as a prefix
		{Header: "Referer", Pattern: `spam\.example$`}, // a real regexp
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := newEntryRules(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, ua, referer string
		want                      bool
	}{
		{"clean", "192.0.2.1:1234", "curl/8", "", false},
		{"in the /24", "203.0.113.77:1234", "", "", true},
		{"next to the /24", "203.0.114.1:1234", "", "", false},
		{"the single address", "198.51.100.7:99", "", "", true},
		{"its neighbour", "198.51.100.8:99", "", "", false},
		{"IPv6 in the /32", "[2001:db8::1]:443", "", "", true},
		{"IPv4-mapped IPv6 of a blocked address", "[::ffff:203.0.113.5]:80", "", "", true},
		{"bot prefix", "192.0.2.1:1", "BadBot/2.0", "", true},
		{"bot later in the string", "192.0.2.1:1", "GoodBot BadBot", "", false},
		{"referer regexp", "192.0.2.1:1", "", "http://spam.example", true},
		{"referer regexp, no match", "192.0.2.1:1", "", "http://spam.example.org", false},
		{"unparsable peer", "pipe", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/songs", nil)
			r.RemoteAddr = tc.remote
			if tc.ua != "" {
				r.Header.Set("User-Agent", tc.ua)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			if got := e.blocked(r); got != tc.want {
				t.Fatalf("blocked = %v, want %v", got, tc.want)
			}
		})
	}
}
