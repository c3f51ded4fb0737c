package config

import (
	"errors"
	"strings"
	"testing"
)

// withService is a valid config that ends inside services.songs, so that a case can append
// service keys (indented four spaces) from line 10 on.
const withService = `center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
routes:
  - {path: /api/songs, service: songs}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
`

// withRoute is a valid config that ends inside routes, so that a case can append routes
// from line 10 on.
const withRoute = `center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`

func lines(s ...string) string { return strings.Join(s, "\n") }

// brokenFiles pairs broken configs with the exact text Parse must return: every problem,
// one per line, as FILE:LINE: KEY.PATH: message, sorted by line.
var brokenFiles = []struct {
	name string
	yaml string
	want string
}{
	{"duration_no_unit",
		withService + `    timeout: {tavg: 60}
`,
		"gw.yaml:10: services.songs.timeout.tavg: \"60\" has no unit; write a duration such as 60ms or 1s"},
	{"unknown_key_suggest",
		withService + `    timout: {tavg: 60ms}
`,
		"gw.yaml:10: services.songs.timout: unknown key; did you mean timeout?"},
	{"unknown_key_list",
		withService + `    frobnicate: 1
`,
		"gw.yaml:10: services.songs.frobnicate: unknown key; allowed keys: balancer, breaker, cache, concurrency, degrade, dr_cache, failover, fallback_upstreams, health, level, passive, rate_limit, shadow, shadow_upstreams, timeout, upstreams"},
	{"wrong_type",
		withService + `    level: high
`,
		"gw.yaml:10: services.songs.level: expected a whole number, found \"high\""},
	{"route_no_service",
		withRoute + `  - {path: /api/x}
`,
		"gw.yaml:10: routes[1].service: required: the route names no service; write service: NAME (known services: songs)"},
	{"route_unknown_service",
		withRoute + `  - {path: /api/x, service: nope}
`,
		"gw.yaml:10: routes[1].service: unknown service \"nope\"; known services: songs"},
	{"no_upstreams_own_center",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
services:
  songs:
    upstreams: {sh: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:7: services.songs.upstreams: no hosts in center sz (this gateway's center); write upstreams: {sz: [HOST:PORT, ...]}"},
	{"write_route_no_primary",
		`center: sh
centers:
  sz: {gateway: http://127.0.0.1:8080}
  sh: {gateway: http://127.0.0.1:8081}
services:
  orders:
    upstreams: {sh: [127.0.0.1:7001]}
routes:
  - {path: /api/orders, service: orders, write: true}
`,
		"gw.yaml:9: routes[0].write: a write route needs a primary center, and none is; mark the center that takes writes with primary: true"},
	{"write_only_service_needs_primary_hosts",
		`center: sh
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
services:
  orders:
    upstreams: {sh: [127.0.0.1:7001]}
routes:
  - {path: /api/orders, service: orders, write: true}
`,
		"gw.yaml:7: services.orders.upstreams: no hosts in center sz (the primary center; a service that only write routes use is served there); write upstreams: {sz: [HOST:PORT, ...]}"},
	{"admin_non_loopback",
		withService + `admin: {listen: ":9901"}
`,
		"gw.yaml:10: admin.listen: \":9901\" is not a loopback address, so admin.token is required; set a token (e.g. token: ${BULWARK_ADMIN_TOKEN}) or listen on 127.0.0.1"},
	{"level_range",
		withService + `    level: 5
`,
		"gw.yaml:10: services.songs.level: level 5 is outside 1..4; 1 is the most important, 4 the least"},
	{"failover_reason",
		withService + `    failover: {on: [timeout, 4xx]}
`,
		"gw.yaml:10: services.songs.failover.on[1]: unknown failover reason \"4xx\"; write any of connect_error, timeout, 5xx, breaker_open, rate_limited"},
	{"breaker_kind",
		withService + `    breaker: {kind: fancy}
`,
		"gw.yaml:10: services.songs.breaker.kind: unknown breaker kind \"fancy\"; write sre or classic"},
	{"algo",
		withService + `    rate_limit: {algorithm: gcra, limit: 10}
`,
		"gw.yaml:10: services.songs.rate_limit.algorithm: unknown algorithm \"gcra\"; write sliding_window, fixed_window, token_bucket or leaky_bucket"},
	{"policy",
		withService + `    balancer: {policy: random}
`,
		"gw.yaml:10: services.songs.balancer.policy: unknown policy \"random\"; write p2c_ewma or round_robin"},
	{"two_primaries",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081, primary: true}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:4: centers.sh.primary: more than one primary center (sz, sh); exactly one center takes writes"},
	{"center_not_in_centers",
		`center: bj
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:1: center: \"bj\" is not in centers; known centers: sh, sz"},
	{"center_no_gateway",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {primary: false}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:4: centers.sh.gateway: required; every center needs the base URL of its gateway, e.g. http://10.0.0.1:8080"},
	{"bad_cidr",
		withService + `block:
  - {cidr: 10.0.0.0/33}
`,
		"gw.yaml:11: block[0].cidr: \"10.0.0.0/33\" is not a CIDR or IP address; write e.g. 203.0.113.0/24, 2001:db8::/32 or 203.0.113.7"},
	{"bad_regexp",
		withService + `block:
  - {header: User-Agent, pattern: "(["}
`,
		"gw.yaml:11: block[0].pattern: \"([\" is not a valid regexp: missing closing ]: `[`"},
	{"block_both",
		withService + `block:
  - {cidr: 10.0.0.0/8, header: X-A, pattern: x}
  - {pattern: x}
`,
		lines(
			"gw.yaml:11: block[0]: set exactly one of cidr or header, not both; write two rules",
			"gw.yaml:12: block[1]: set exactly one of cidr (e.g. 203.0.113.0/24) or header (with pattern); neither is set",
		)},
	{"limit_key",
		withService + `limits:
  - {key: user, limit: 1}
  - {key: "header:", limit: 1}
`,
		lines(
			"gw.yaml:11: limits[0].key: \"user\" is not a limit key; write ip, header:NAME, query:NAME or cookie:NAME",
			"gw.yaml:12: limits[1].key: \"header:\" is not a limit key; write ip, header:NAME, query:NAME or cookie:NAME",
		)},
	{"bad_hostport",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
routes:
  - {path: /api/songs, service: songs}
services:
  songs:
    upstreams:
      sz: [127.0.0.1:7001, 127.0.0.1, "host:99999", 127.0.0.1:7001]
      bj: [127.0.0.1:7002]
`,
		lines(
			"gw.yaml:9: services.songs.upstreams.sz[1]: \"127.0.0.1\" is not host:port; write e.g. 10.0.0.5:8080",
			"gw.yaml:9: services.songs.upstreams.sz[2]: \"host:99999\" has no valid port; write a port number 1..65535, e.g. 10.0.0.5:8080",
			"gw.yaml:9: services.songs.upstreams.sz[3]: \"127.0.0.1:7001\" is listed twice (also services.songs.upstreams.sz[0])",
			"gw.yaml:10: services.songs.upstreams.bj: unknown center \"bj\"; known centers: sz",
		)},
	{"dup_route",
		withRoute + `  - {path: /api/songs, service: songs}
`,
		"gw.yaml:10: routes[1]: same host, path, methods and headers as routes[0] (line 9); the second can never match"},
	{"negative",
		withService + `    concurrency: {max: -1, max_wait: -5ms}
`,
		lines(
			"gw.yaml:10: services.songs.concurrency.max: -1 is negative; write 0 or more",
			"gw.yaml:10: services.songs.concurrency.max_wait: -5ms is negative; write 0 or more",
		)},
	{"shares_outside",
		withService + `protection:
  level_shares: {1: 1.5, 5: 0.5}
`,
		lines(
			"gw.yaml:11: protection.level_shares.1: 1.5 is outside (0, 1]; write a fraction such as 0.9",
			"gw.yaml:11: protection.level_shares.5: level 5 is outside 1..4",
		)},
	{"shares_increasing",
		withService + `protection:
  level_shares: {3: 0.95}
`,
		"gw.yaml:11: protection.level_shares.3: level 3's share 0.95 is more than level 2's 0.9; shares must not increase with level (level 1 ≥ 2 ≥ 3 ≥ 4; defaults 1.0, 0.9, 0.75, 0.6)"},
	{"tls_missing",
		withService + `tls: {cert: a.pem}
`,
		"gw.yaml:10: tls.key: required when tls is set; write the path of the private key file (PEM)"},
	{"multi_errors_sorted",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
services:
  songs:
    level: 9
    upstreams: {sz: [127.0.0.1:7001]}
    timeout: {tavg: 5}
routes:
  - {path: api/songs, service: song}
extra: 1
`,
		lines(
			"gw.yaml:6: services.songs.level: level 9 is outside 1..4; 1 is the most important, 4 the least",
			"gw.yaml:8: services.songs.timeout.tavg: \"5\" has no unit; write a duration such as 5ms or 1s",
			"gw.yaml:10: routes[0].path: \"api/songs\" does not start with /; write a path prefix such as /api/songs",
			"gw.yaml:10: routes[0].service: unknown service \"song\"; known services: songs",
			"gw.yaml:11: extra: unknown key; allowed keys: admin, block, center, centers, color, faults, fleet, http, instance, keywords, limits, listen, log, mask, profiling, protection, recorder, retry, routes, sentry, services, shutdown_grace, tls, tracing",
		)},
	{"empty",
		``,
		"gw.yaml: the file is empty; a config needs at least center, centers, services and routes"},
	{"comment_only",
		`# nothing
`,
		"gw.yaml: the file is empty; a config needs at least center, centers, services and routes"},
	{"multidoc",
		withService + `---
center: sh
`,
		"gw.yaml:10: a second YAML document starts here; put the whole config in one document"},
	{"syntax",
		`center: sz
centers: [
`,
		"gw.yaml:2: invalid YAML: did not find expected node content"},
	{"root_list",
		`- a
- b
`,
		"gw.yaml:1: expected a mapping of keys (center, centers, services, routes, ...), found a list"},
	{"dup_key",
		withService + `center: sh
`,
		"gw.yaml:10: center: duplicate key; center is already set on line 1"},
	{"missing_var",
		withService + `admin: {token: "${NOPE_NOT_SET}"}
`,
		"gw.yaml:10: admin.token: environment variable NOPE_NOT_SET is not set; set it, or write $$ for a literal $"},
	{"merge",
		`center: sz
centers:
  sz: &c {gateway: http://127.0.0.1:8080, primary: true}
  sh:
    <<: *c
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:5: centers.sh.<<: merge keys (<<) are not supported; write the keys out"},
	{"bool_wrong",
		withService + `    failover: {enabled: yes}
`,
		"gw.yaml:10: services.songs.failover.enabled: expected true or false, found \"yes\""},
	{"int_as_float",
		withService + `    level: 1.5
`,
		"gw.yaml:10: services.songs.level: expected a whole number, found the number 1.5"},
	{"null_service",
		`center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
services:
  songs:
routes:
  - {path: /api/songs, service: songs}
`,
		"gw.yaml:5: services.songs.upstreams: no hosts in center sz (this gateway's center); write upstreams: {sz: [HOST:PORT, ...]}"},
	{"nan_and_huge",
		withService + `    level: 99999999999999999999
    passive: {error_ratio: .nan}
`,
		lines(
			"gw.yaml:10: services.songs.level: 99999999999999999999 is out of range",
			"gw.yaml:11: services.songs.passive.error_ratio: .nan is not a finite number",
		)},
	{"percent_and_size",
		withService + `    health: {max_ejected: 150%}
http: {max_body_bytes: 12XB, max_header_bytes: 1.5MiB}
`,
		lines(
			"gw.yaml:10: services.songs.health.max_ejected: 150% is over 100%; write a share such as 50% or 0.5",
			"gw.yaml:11: http.max_body_bytes: \"12XB\" is not a size; write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB",
			"gw.yaml:11: http.max_header_bytes: \"1.5MiB\" is not a size; write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB",
		)},
	{"expected_mapping",
		withService + `    timeout: 60ms
    rate_limit: [a]
`,
		lines(
			"gw.yaml:10: services.songs.timeout: expected a mapping with keys tavg, thwm, tmax, n, found \"60ms\"",
			"gw.yaml:11: services.songs.rate_limit: expected a mapping with keys algorithm, limit, per, burst, scope, found a list",
		)},
	{"expected_list",
		withService + `    failover: {methods: GET}
`,
		"gw.yaml:10: services.songs.failover.methods: expected a list, found \"GET\"; write [a, b] or one \"- item\" per line"},
	{"tag",
		withService + `    level: !custom 1
`,
		"gw.yaml:10: services.songs.level: unsupported tag !custom; remove it"},
	{"missing_center_and_centers",
		`routes:
  - {path: /x, service: s}
services:
  s: {upstreams: {sz: [127.0.0.1:1]}}
`,
		lines(
			"gw.yaml: centers: at least one center is required; write centers: {NAME: {gateway: http://HOST:PORT, primary: true}}",
			"gw.yaml: center: required; name this gateway's own center, a key of centers",
		)},
	{"bad_names",
		`center: sz
centers:
  sz: {gateway: "ftp://x", primary: true}
  s.h: {gateway: http://127.0.0.1:8081}
routes:
  - {path: /api/songs, service: songs, host: "http://a", methods: [GE T], level: 5}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
`,
		lines(
			"gw.yaml:3: centers.sz.gateway: \"ftp://x\" is not a gateway URL; write http://HOST:PORT or https://HOST:PORT",
			"gw.yaml:4: centers.s.h: center name \"s.h\" may use only letters, digits, - and _",
			"gw.yaml:6: routes[0].host: \"http://a\" is not a host name; write the host only, e.g. api.example.com",
			"gw.yaml:6: routes[0].methods[0]: \"GE T\" is not an HTTP method; write e.g. GET",
			"gw.yaml:6: routes[0].level: level 5 is outside 1..4 (0 or no level: the service's level)",
		)},
	{"breaker_kinds",
		withService + `    breaker: {kind: classic, k: 2, failure_ratio: 1.5}
  other:
    upstreams: {sz: [127.0.0.1:7001]}
    breaker: {k: 0.5, open_timeout: 1s}
    rate_limit: {burst: 5}
`,
		lines(
			"gw.yaml:10: services.songs.breaker.k: applies only to kind sre; remove it or set kind: sre",
			"gw.yaml:10: services.songs.breaker.failure_ratio: 1.5 is outside (0, 1]; write a fraction such as 0.9",
			"gw.yaml:13: services.other.breaker.k: 0.5 is less than 1; K below 1 drops requests even when all succeed (typical 1.5..2)",
			"gw.yaml:13: services.other.breaker.open_timeout: applies only to kind classic; remove it or set kind: classic",
			"gw.yaml:14: services.other.rate_limit.limit: required, > 0: the requests allowed per period (per, default 1s)",
			"gw.yaml:14: services.other.rate_limit.burst: applies only to algorithm token_bucket; remove it",
		)},
	{"timeouts_order",
		withService + `    timeout: {tavg: 300ms}
  other:
    upstreams: {sz: [127.0.0.1:7001]}
    timeout: {tmax: 100ms}
`,
		lines(
			"gw.yaml:10: services.songs.timeout.tavg: tavg 300ms must be less than thwm 250ms (0 < tavg < thwm ≤ tmax)",
			"gw.yaml:13: services.other.timeout.tmax: tmax 100ms must be at least thwm 250ms (0 < tavg < thwm ≤ tmax)",
		)},
	{"degrade",
		withService + `    degrade: {pass: 1.5, fallback: {status: 42, headers: {"Bad Header": x}}}
    health: {path: healthz}
`,
		lines(
			"gw.yaml:10: services.songs.degrade.pass: 1.5 is outside [0, 1]; write the share of calls that go ahead (1 = all, 0 = service off)",
			"gw.yaml:10: services.songs.degrade.fallback.status: 42 is not a final HTTP status; write 200..599",
			"gw.yaml:10: services.songs.degrade.fallback.headers.Bad Header: \"Bad Header\" is not a header name; write e.g. User-Agent",
			"gw.yaml:11: services.songs.health.path: \"healthz\" does not start with /; write the probe path, e.g. /healthz",
		)},
	{"log_and_adaptive",
		withService + `log: {level: verbose}
protection: {adaptive: {cpu_threshold: 1200, buckets: 100000, sample_decay: 1}}
retry: {healthy_success_rate: 1.5}
`,
		lines(
			"gw.yaml:10: log.level: unknown level \"verbose\"; write debug, info, warn or error",
			"gw.yaml:11: protection.adaptive.cpu_threshold: 1200 is outside 1..1000 (per mille of the CPU the process may use)",
			"gw.yaml:11: protection.adaptive.sample_decay: 1 is outside (0, 1): the weight of the old average in each sample",
			"gw.yaml:11: protection.adaptive.buckets: 100000 buckets in a 10s window are shorter than 1ms each; use fewer buckets or a longer window",
			"gw.yaml:12: retry.healthy_success_rate: 1.5 is outside (0, 1]; write a fraction such as 0.9",
		)},
	{"limits_more",
		withService + `limits:
  - {key: ip, limit: 0, paths: [claim]}
  - {key: "cookie:a b", limit: 1}
`,
		lines(
			"gw.yaml:11: limits[0].limit: required, > 0: the requests each key may make per period",
			"gw.yaml:11: limits[0].paths[0]: \"claim\" does not start with /; write a path prefix such as /api/claim",
			"gw.yaml:12: limits[1].key: \"cookie:a b\" is not a limit key; write ip, header:NAME, query:NAME or cookie:NAME",
		)},
	{"listen_bad",
		withService + `listen: localhost
admin: {listen: "127.0.0.1:http"}
`,
		lines(
			"gw.yaml:10: listen: \"localhost\" is not host:port; write e.g. 127.0.0.1:8080",
			"gw.yaml:11: admin.listen: \"127.0.0.1:http\" has no valid port; write a port number 0..65535, e.g. 127.0.0.1:9901",
		)},
	{"unterminated_var",
		withService + `instance: "${HOME"
`,
		"gw.yaml:10: instance: unterminated ${ in \"${HOME\"; write ${NAME}, or $$ for a literal $"},
	{"bad_var_name",
		withService + `instance: "${1X}"
`,
		"gw.yaml:10: instance: ${1X} is not a variable reference; a name is letters, digits and _, not starting with a digit (write $$ for a literal $)"},
}

func TestParseBrokenFiles(t *testing.T) {
	t.Setenv("HOME", "/home/x") // referenced by a case; its value does not matter
	for _, tc := range brokenFiles {
		t.Run(tc.name, func(t *testing.T) { checkParseFails(t, tc.yaml, tc.want) })
	}
}

// checkParseFails checks that Parse refuses data with exactly the text want, as Errors that
// match ErrInvalid, sorted by line, and without a Config.
func checkParseFails(t *testing.T, data, want string) {
	t.Helper()
	cfg, err := Parse("gw.yaml", []byte(data))
	if err == nil {
		t.Fatalf("Parse accepted the config:\n%s", data)
	}
	if cfg != nil {
		t.Errorf("Parse returned a Config with its error")
	}
	if got := err.Error(); got != want {
		t.Errorf("error text\n got: %s\nwant: %s", got, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false for %T", err)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error is %T, want a non-empty Errors", err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("problems not sorted by line: %d after %d", es[i].Line, es[i-1].Line)
		}
	}
}
