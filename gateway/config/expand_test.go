package config

import (
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret", "EMPTY": "", "PORT": "9901", "DOLLAR": "$X"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${TOKEN}", want: "s3cret"},
		{in: "Bearer ${TOKEN}!", want: "Bearer s3cret!"},
		{in: "127.0.0.1:${PORT}", want: "127.0.0.1:9901"},
		{in: "${TOKEN}${PORT}", want: "s3cret9901"},
		{in: "${EMPTY}", want: ""},
		{in: "$${TOKEN}", want: "${TOKEN}"},
		{in: "a$$b", want: "a$b"},
		{in: "$$$$", want: "$$"},
		{in: "^BadBot$", want: "^BadBot$"},
		{in: "$HOME", want: "$HOME"},
		{in: "$", want: "$"},
		{in: "${DOLLAR}", want: "$X"}, // values are not expanded again
		{in: "${MISSING}", err: "environment variable MISSING is not set; set it, or write $$ for a literal $"},
		{in: "x ${TOKEN", err: `unterminated ${ in "x ${TOKEN"; write ${NAME}, or $$ for a literal $`},
		{in: "${}", err: "${} is not a variable reference; a name is letters, digits and _, not starting with a digit (write $$ for a literal $)"},
		{in: "${A-B}", err: "${A-B} is not a variable reference; a name is letters, digits and _, not starting with a digit (write $$ for a literal $)"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expand(tc.in, lookup)
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Errorf("expand(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
				}
			case err != nil || got != tc.want:
				t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	t.Setenv("GW_LEVEL", "2")
	t.Setenv("GW_TAVG", "70ms")
	t.Setenv("GW_HOST", "127.0.0.1:7009")
	t.Setenv("GW_ON", "true")
	cfg, err := Parse("gw.yaml", []byte(withService+`    level: ${GW_LEVEL}
    timeout: {tavg: "${GW_TAVG}"}
    failover:
      enabled: ${GW_ON}
  other:
    upstreams: {sz: ["${GW_HOST}"]}
block:
  - {header: X-Price, pattern: '^\$$[0-9]+$'}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services["songs"]
	if s.Level != 2 || s.Timeout.Tavg.D() != 70*time.Millisecond || !*s.Failover.Enabled {
		t.Errorf("level %d, tavg %s, failover %v; want 2, 70ms, true", s.Level, s.Timeout.Tavg, *s.Failover.Enabled)
	}
	if got := cfg.Services["other"].Upstreams["sz"][0]; got != "127.0.0.1:7009" {
		t.Errorf("host = %q", got)
	}
	if re := cfg.Block[0].Re; re.String() != `^\$[0-9]+$` || !re.MatchString("$12") {
		t.Errorf("pattern = %q, want ^\\$[0-9]+$", re)
	}

	// A quoted reference reads as its value written plain (flow mappings need the quotes);
	// an explicit !!str keeps it text.
	cfg, err = Parse("gw.yaml", []byte(withService+"    concurrency: {max: \"${GW_LEVEL}\"}\n"))
	if err != nil || cfg.Services["songs"].Concurrency.Max != 2 {
		t.Errorf("quoted reference: %v", err)
	}
	_, err = Parse("gw.yaml", []byte(withService+"    level: !!str ${GW_LEVEL}\n"))
	if want := `gw.yaml:10: services.songs.level: expected a whole number, found "2"`; err == nil || err.Error() != want {
		t.Errorf("!!str reference: %v; want %s", err, want)
	}
	// Text from the environment is kept as it is, even when it reads as null.
	for _, token := range []string{"null", "~", "true", "12"} {
		t.Setenv("GW_TOKEN", token)
		cfg, err = Parse("gw.yaml", []byte(withService+"admin: {token: \"${GW_TOKEN}\"}\n"))
		if err != nil || cfg.Admin.Token != token {
			t.Errorf("token from %q = %q, %v", token, cfg.Admin.Token, err)
		}
	}
	// Keys are never expanded.
	_, err = Parse("gw.yaml", []byte(withService+"    ${GW_LEVEL}: 1\n"))
	if err == nil || err.Error() != "gw.yaml:10: services.songs.${GW_LEVEL}: unknown key; allowed keys: balancer, breaker, cache, concurrency, degrade, dr_cache, failover, fallback_upstreams, health, level, passive, rate_limit, shadow, shadow_upstreams, timeout, upstreams" {
		t.Errorf("reference in a key: %v", err)
	}
}
