package config

import "testing"

// brokenObserveFiles are broken observability and shadow settings, with the exact text Parse
// must return (FILE:LINE: KEY.PATH: message, sorted by line).
var brokenObserveFiles = []struct {
	name string
	yaml string
	want string
}{
	{"success_sample_range", withService + "log: {success_sample: 1.5}\n",
		"gw.yaml:10: log.success_sample: 1.5 is outside [0, 1]: the share of successful requests' access-log lines written (errors are always written); write a fraction such as 0.5"},
	{"success_sample_negative", withService + "log: {success_sample: -0.1}\n",
		"gw.yaml:10: log.success_sample: -0.1 is negative; write 0 or more"},
	{"tracing_bad", withService + "tracing:\n  protocol: thrift\n  endpoint: collector\n  sample_rate: 2\n  headers: {\"Bad Header\": x}\n  queue: -1\n",
		lines(
			"gw.yaml:11: tracing.protocol: unknown protocol \"thrift\"; write http (OTLP over HTTP) or grpc, or leave it out to follow OTEL_EXPORTER_OTLP_PROTOCOL",
			"gw.yaml:12: tracing.endpoint: \"collector\" is not host:port; write e.g. otel-collector:4317",
			"gw.yaml:13: tracing.sample_rate: 2 is outside [0, 1]: the share of traces started here that are sampled; write a fraction such as 0.5",
			"gw.yaml:14: tracing.headers.Bad Header: \"Bad Header\" is not a header name; write e.g. User-Agent",
			"gw.yaml:15: tracing.queue: -1 is negative; write 0 or more",
		)},
	{"tracing_bad_url", withService + "tracing: {endpoint: \"ftp://collector:21\"}\n",
		"gw.yaml:10: tracing.endpoint: \"ftp://collector:21\" is not an http or https URL with a host; write a URL such as http://otel-collector:4318/v1/traces, or host:port such as otel-collector:4317"},
	{"keywords_bad", withService + "keywords:\n  headers: [X-Order-Id, x-order-id, \"a b\"]\n  query: [user_id, user_id, \"\"]\n",
		lines(
			"gw.yaml:11: keywords.headers[1]: x-order-id is listed twice (header names are case-insensitive)",
			"gw.yaml:11: keywords.headers[2]: \"a b\" is not a header name; write e.g. User-Agent",
			"gw.yaml:12: keywords.query[1]: user_id is listed twice",
			"gw.yaml:12: keywords.query[2]: \"\" is not a query parameter name; write e.g. user_id",
		)},
	{"mask_bad", withService + "mask:\n  keys: [\"\", X-Token]\n  patterns: [\"[0-9\", \"[0-9]*\", \"ok+\"]\n",
		lines(
			"gw.yaml:11: mask.keys[0]: \"\" is not a header or query parameter name; write e.g. X-Api-Key or token",
			"gw.yaml:12: mask.patterns[0]: not a Go regexp: missing closing ]: `[0-9`",
			"gw.yaml:12: mask.patterns[1]: \"[0-9]*\" matches the empty string, so it would mask between every character; make it match at least one character, e.g. [0-9]{16} instead of [0-9]*",
		)},
	{"color_bad", withService + "color:\n  token_header: baggage\n  token: short\n  trusted_cidrs: [10.0.0.0/8, 0.0.0.0/0, nonsense]\n",
		lines(
			"gw.yaml:11: color.token_header: Baggage is used by the gateway, the trace context or the upstreams, and the token header is removed from every request; choose another name, e.g. Bulwark-Color-Token",
			"gw.yaml:12: color.token: the token is 5 characters, fewer than 16; write a long random token, e.g. token: ${BULWARK_COLOR_TOKEN}",
			"gw.yaml:13: color.trusted_cidrs[1]: \"0.0.0.0/0\" trusts every address, so no color would ever be stripped; list the networks of the load generators and the other centers' gateways",
			"gw.yaml:13: color.trusted_cidrs[2]: \"nonsense\" is not a CIDR or IP address; write e.g. 10.1.0.0/16 (the other centers' gateways) or 127.0.0.1",
		)},
	// The token is never repeated in a message.
	{"color_token_space", withService + "color: {token_header: \"X Token\", token: \"0123456789 abcdef\"}\n",
		lines(
			"gw.yaml:10: color.token_header: \"X Token\" is not a header name; write e.g. User-Agent",
			"gw.yaml:10: color.token: the token holds a space, a control or a non-ASCII character, which a header cannot carry intact; write printable ASCII, e.g. token: ${BULWARK_COLOR_TOKEN}",
		)},
	{"profiling_bad", withService + "profiling: {enabled: true, interval: 10s, duration: 10s}\n",
		lines(
			"gw.yaml:10: profiling.dir: required when profiling is enabled; write the directory profiles are written to, e.g. /var/lib/bulwark/profiles",
			"gw.yaml:10: profiling.interval: 10s is not longer than duration 10s; every interval takes one CPU profile of duration, e.g. interval 5m with duration 10s",
		)},
	{"profiling_short", withService + "profiling: {duration: 10ms}\n",
		"gw.yaml:10: profiling.duration: 10ms is under 100ms; a CPU profile samples at 100 Hz, so a shorter one holds next to nothing"},
	// The DSN is never repeated in a message.
	{"sentry_bad", withService + "sentry: {dsn: \"https://sentry.io/42\", environment: \"my env\"}\n",
		lines(
			"gw.yaml:10: sentry.dsn: not a Sentry DSN (no public key before @); write https://PUBLIC_KEY@HOST/PROJECT_ID, e.g. dsn: ${SENTRY_DSN}",
			"gw.yaml:10: sentry.environment: \"my env\" is not a Sentry environment: at most 64 characters, no spaces or /, and not None; write e.g. production",
		)},
	{"shadow_bad_value", withService + "    shadow: mirror\n",
		"gw.yaml:10: services.songs.shadow: unknown value \"mirror\"; write passthrough (a read-only service whose production hosts take colored requests) or leave it out"},
	{"shadow_both", withService + "    shadow: passthrough\n    shadow_upstreams: {sz: [127.0.0.1:7901]}\n",
		"gw.yaml:10: services.songs.shadow: passthrough is for a service without shadow_upstreams, whose colored requests would be refused; with shadow hosts they go there: remove one of the two"},
	{"shadow_bad_hosts", withService + "    shadow_upstreams:\n      sz: [127.0.0.1:7001, nohost]\n      xx: [127.0.0.1:7902]\n",
		lines(
			"gw.yaml:11: services.songs.shadow_upstreams.sz[1]: \"nohost\" is not host:port; write e.g. 10.0.9.5:8080",
			"gw.yaml:11: services.songs.shadow_upstreams.sz[0]: \"127.0.0.1:7001\" is a production host (services.songs.upstreams.sz[0]); a shadow host takes only colored requests, so it must not be one",
			"gw.yaml:12: services.songs.shadow_upstreams.xx: unknown center \"xx\"; known centers: sh, sz",
		)},
	// A shadow host may not be another service's production or fallback host either.
	{"shadow_other_services_host", withService + `    fallback_upstreams: [127.0.0.1:7500]
  albums:
    upstreams: {sz: [127.0.0.1:7600]}
    shadow_upstreams: {sz: [127.0.0.1:7500, 127.0.0.1:7001], sh: [127.0.0.1:7601]}
`,
		lines(
			"gw.yaml:13: services.albums.shadow_upstreams.sz[0]: \"127.0.0.1:7500\" is a production host (services.songs.fallback_upstreams[0]); a shadow host takes only colored requests, so it must not be one",
			"gw.yaml:13: services.albums.shadow_upstreams.sz[1]: \"127.0.0.1:7001\" is a production host (services.songs.upstreams.sz[0]); a shadow host takes only colored requests, so it must not be one",
		)},
	{"shadow_passthrough_write", `center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
routes:
  - {path: /api/songs, service: songs}
  - {path: /api/songs, methods: [POST], service: songs, write: true}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
    shadow: passthrough
`,
		"gw.yaml:10: services.songs.shadow: passthrough is for read-only services, and a write route (write: true) names songs, so colored writes would reach production; give it shadow_upstreams instead"},
}

func TestParseBrokenObserveFiles(t *testing.T) {
	for _, tc := range brokenObserveFiles {
		t.Run(tc.name, func(t *testing.T) { checkParseFails(t, tc.yaml, tc.want) })
	}
}
