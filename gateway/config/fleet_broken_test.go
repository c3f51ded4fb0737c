package config

import "testing"

// withFleet is withService with a valid fleet section before services, so that a case can
// append service keys (indented four spaces) from line 11 on, with a fleet in force.
const withFleet = `center: sz
centers:
  sz: {gateway: http://127.0.0.1:8080, primary: true}
  sh: {gateway: http://127.0.0.1:8081}
routes:
  - {path: /api/songs, service: songs}
fleet: {redis: {addrs: [127.0.0.1:6379]}}
services:
  songs:
    upstreams: {sz: [127.0.0.1:7001]}
`

// brokenFleetFiles are broken fleet, cache, dr_cache, fallback and scope settings, with the
// exact text Parse must return (FILE:LINE: KEY.PATH: message, sorted by line).
var brokenFleetFiles = []struct {
	name string
	yaml string
	want string
}{
	{"fleet_no_addrs", withService + `fleet: {sync_interval: 50ms}
`,
		"gw.yaml:10: fleet.redis.addrs: required when fleet is set; list the Redis addresses, e.g. addrs: [127.0.0.1:6379] (or remove fleet to keep all state local)"},
	{"fleet_empty_mapping", withService + `fleet: {}
`,
		"gw.yaml:10: fleet.redis.addrs: required when fleet is set; list the Redis addresses, e.g. addrs: [127.0.0.1:6379] (or remove fleet to keep all state local)"},
	{"fleet_bad_addrs", withService + `fleet:
  redis:
    addrs:
      - localhost
      - 127.0.0.1:0
      - 127.0.0.1:6379
      - 127.0.0.1:6379
      - ":6379"
    db: -1
`,
		lines(
			"gw.yaml:13: fleet.redis.addrs[0]: \"localhost\" is not host:port; write e.g. 127.0.0.1:6379",
			"gw.yaml:14: fleet.redis.addrs[1]: \"127.0.0.1:0\" has no valid port; write a port number 1..65535, e.g. 127.0.0.1:6379",
			"gw.yaml:16: fleet.redis.addrs[3]: \"127.0.0.1:6379\" is listed twice (also fleet.redis.addrs[2])",
			"gw.yaml:17: fleet.redis.addrs[4]: \":6379\" has no host; write e.g. 127.0.0.1:6379",
			"gw.yaml:18: fleet.redis.db: -1 is negative; write 0 or more",
		)},
	{"fleet_addrs_typo", withService + `fleet: {redis: {adrs: [127.0.0.1:6379]}}
`,
		lines(
			"gw.yaml:10: fleet.redis.adrs: unknown key; did you mean addrs?",
			"gw.yaml:10: fleet.redis.addrs: required when fleet is set; list the Redis addresses, e.g. addrs: [127.0.0.1:6379] (or remove fleet to keep all state local)",
		)},
	{"fleet_cluster_db", withService + `fleet: {redis: {addrs: [10.0.0.1:6379, 10.0.0.2:6379], db: 2}}
`,
		"gw.yaml:10: fleet.redis.db: db 2 with 2 addrs and no master_name: several addresses are a Redis Cluster, which has only db 0; write db: 0, or set master_name if the addresses are Sentinels"},
	{"fleet_bounds", withService + `fleet:
  redis: {addrs: [127.0.0.1:6379]}
  sync_interval: 500us
  op_timeout: 10us
  prefix: "bulwark *"
  cache_size: 100
`,
		lines(
			"gw.yaml:12: fleet.sync_interval: 500µs is under 1ms; the fleet would talk to Redis non-stop (default 100ms)",
			"gw.yaml:13: fleet.op_timeout: 10µs is under 1ms; no Redis operation would finish in time (default 250ms)",
			"gw.yaml:14: fleet.prefix: \"bulwark *\" holds \" \"; a prefix may not hold spaces, control characters or * ? [ ] \\ (pub/sub patterns made from it would match other channels), e.g. \"bulwark:\"",
			"gw.yaml:15: fleet.cache_size: 100 is under the minimum of 1KiB",
		)},
	{"fleet_sync_no_unit", withService + `fleet: {redis: {addrs: [127.0.0.1:6379]}, sync_interval: 100}
`,
		"gw.yaml:10: fleet.sync_interval: \"100\" has no unit; write a duration such as 100ms or 1s"},
	{"fleet_password_unset", withService + `fleet: {redis: {addrs: [127.0.0.1:6379], password: "${BULWARK_TEST_NO_SUCH_VAR}"}}
`,
		"gw.yaml:10: fleet.redis.password: environment variable BULWARK_TEST_NO_SUCH_VAR is not set; set it, or write $$ for a literal $"},
	{"fleet_instance_port_0", withService + `listen: 127.0.0.1:0
fleet: {redis: {addrs: [127.0.0.1:6379]}}
`,
		"gw.yaml:10: instance: required with a fleet when listen has port 0: the default, hostname:0, would be the same for every such gateway on this host, and the fleet tells instances apart by name; write instance: NAME, unique in the fleet"},
	{"scope_unknown", withFleet + `    rate_limit: {limit: 10, scope: global}
`,
		"gw.yaml:11: services.songs.rate_limit.scope: unknown scope \"global\"; write local (the limit holds in this gateway) or cluster (in all the fleet's gateways together)"},
	{"scope_cluster_no_fleet", withService + `    rate_limit: {limit: 10, scope: cluster}
`,
		"gw.yaml:10: services.songs.rate_limit.scope: cluster needs the fleet section, which this config does not have: the instances share the limit through Redis; add fleet: {redis: {addrs: [HOST:PORT]}} or write scope: local"},
	{"scope_cluster_token_bucket", withFleet + `    rate_limit: {algorithm: token_bucket, limit: 10, scope: cluster}
`,
		"gw.yaml:11: services.songs.rate_limit.scope: cluster works only with algorithm sliding_window (the fleet keeps the cluster's counts as a sliding window in Redis), not token_bucket; write algorithm: sliding_window or scope: local"},
	{"cache_bad_part_line", withService + `    cache:
      ttl: 30s
      key:
        - path
        - query:page
        - cookie:session
`,
		"gw.yaml:15: services.songs.cache.key[2]: \"cookie:session\": unknown kind \"cookie\"; use query or header"},
	{"cache_part_twice", withService + `    cache: {key: [path, query:page, path]}
`,
		"gw.yaml:10: services.songs.cache.key[2]: \"path\": listed twice"},
	{"cache_no_key", withService + `    cache: {ttl: 10s}
`,
		"gw.yaml:10: services.songs.cache.key: required; list the request parts the cache key is made of, e.g. [path, query:page, header:Accept-Language] (parts: method, host, path, query:NAME, query:NAME~STEP, header:NAME)"},
	{"cache_key_not_list", withService + `    cache: {key: path}
`,
		"gw.yaml:10: services.songs.cache.key: expected a list, found \"path\"; write [a, b] or one \"- item\" per line"},
	{"cache_negative_ttl", withService + `    cache: {ttl: -1s, key: [path]}
`,
		"gw.yaml:10: services.songs.cache.ttl: -1s is negative; write 0 or more"},
	{"dr_cache_bad_step", withService + `    dr_cache: {key: [path, "query:lat~0", query:lng~x]}
`,
		lines(
			"gw.yaml:10: services.songs.dr_cache.key[1]: \"query:lat~0\": step \"0\" is not a positive number",
			"gw.yaml:10: services.songs.dr_cache.key[2]: \"query:lng~x\": step \"x\" is not a positive number",
		)},
	{"dr_cache_empty_key", withService + `    dr_cache: {key: [], ttl: 1h}
`,
		"gw.yaml:10: services.songs.dr_cache.key: required; list the request parts the signature is made of, e.g. [path, query:city, query:lat~0.01, query:lng~0.01] (parts: method, host, path, query:NAME, query:NAME~STEP, header:NAME)"},
	{"dr_cache_unknown_key", withService + `    dr_cache: {key: [path], tll: 1h}
`,
		"gw.yaml:10: services.songs.dr_cache.tll: unknown key; did you mean ttl?"},
	{"fallback_bad", withService + `    fallback_upstreams: [127.0.0.1:7201, nohost, 127.0.0.1:7201]
`,
		lines(
			"gw.yaml:10: services.songs.fallback_upstreams[1]: \"nohost\" is not host:port; write e.g. 10.0.0.9:8080",
			"gw.yaml:10: services.songs.fallback_upstreams[2]: \"127.0.0.1:7201\" is listed twice (also services.songs.fallback_upstreams[0])",
		)},
}

func TestParseBrokenFleetFiles(t *testing.T) {
	for _, tc := range brokenFleetFiles {
		t.Run(tc.name, func(t *testing.T) {
			checkParseFails(t, tc.yaml, tc.want)
		})
	}
}
