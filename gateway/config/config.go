// Package config is the gateway's configuration: the Go types of the YAML file, the strict
// loader that turns a file into a validated Config, and the defaults.
//
// The loader is strict: an unknown key, a wrong type, a duration without a unit or a reference
// to something that does not exist is an error that names the file, the line and the key path,
// says what is wrong and what is allowed, e.g.
//
//	gateway.yaml:14: services.songs.timeout.tavg: "60" has no unit; write a duration such as 60ms or 1s
//
// ${VAR} in any scalar expands from the environment; a variable that is not set is an error.
// A Config built in memory (by the demo, or by tests) goes through Validate, which applies the
// same rules and fills the same defaults.
//
// # How loading works
//
// Parse reads the file into a yaml.Node tree and walks it against these types by reflection
// (yaml tags, maps, slices, pointers and the Duration, Size and Percent scalars), so that it
// knows the key path and line of every value and keeps going after a problem. It records
// path → line in the Config, and Validate's checks, which run on the decoded structs, look
// their lines up there. Every problem is reported, one per key path, sorted by line; a check
// whose value already failed to decode is skipped, as it would only restate that problem.
//
// Decisions where the issue is silent:
//   - ${VAR} expands in values, never in keys. $$ is a literal $, and a $ followed by anything
//     but { or $ is kept, so regexps ending in $ need no escape. An expanded value reads as if
//     written plain even when quoted (flow mappings need the quotes), unless tagged !!str; a
//     text field keeps the variable's value exactly, even "null" or "~".
//   - A bare 0 is accepted as a duration (its unit does not matter); any other bare number is not.
//   - Zero means "the default" for every field with a non-zero default; there is no way to write
//     an explicit zero there (write a small value instead).
//   - Anchors and aliases work; merge keys (<<) do not. A decode visits at most 131072 values.
//   - A null map entry or list item (songs: with nothing after it) is an entry with defaults.
//   - Settings of the other kind are errors: k with a classic breaker, failure_ratio,
//     open_timeout or half_open_requests with sre, burst with any algorithm but token_bucket.
//     Defaults are filled only for the kind in use.
//   - Service and center names use letters, digits, - and _: they go into headers, metric
//     labels and key paths. Route hosts are lower-cased; methods are upper-cased.
//   - A block cidr may be a bare IP (one address). A header rule needs a pattern.
//   - tls needs cert and key to be set; the files themselves are read when the gateway starts.
//   - An unused service still needs hosts in this gateway's center.
//   - fleet: written with nothing after it is no fleet (like tls:); a fleet section needs
//     redis.addrs. Several addrs without master_name are a Redis Cluster, which has only db 0,
//     so db must be 0 there. fleet.prefix may not hold spaces, control or glob characters
//     (* ? [ ] \): pub/sub patterns built from it would match other channels.
//     sync_interval and op_timeout are at least 1ms, cache_size at least 1KiB.
//   - With a fleet, a listen port of 0 needs an explicit instance: the default would be
//     hostname:0 for every such gateway on the host, and the fleet tells instances apart by
//     name.
//   - cache and dr_cache need a key (no default: a key that leaves out a part the answer
//     depends on serves one client's answer to another). cache.ttl defaults to 30s,
//     dr_cache.ttl to 72h. Without a fleet both work on this gateway alone: the proxy cache
//     is L1 only, the DR cache local only. The L1 size is fleet.cache_size, or its default
//     without a fleet.
//   - A reload cannot apply a change of the fleet section, or of instance while there is a
//     fleet: see RestartChanges. The per-service cache, dr_cache, fallback_upstreams and
//     rate_limit.scope reload like every other service setting.
package config

import (
	"net"
	"regexp"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
)

// Config is a whole gateway configuration. After Load or Validate every default is filled in
// and every reference has been checked, so consumers read fields without re-checking them.
type Config struct {
	// File is the path the config was loaded from ("" when built in memory). Not a YAML key.
	File string `yaml:"-"`

	Center   string `yaml:"center"`   // this gateway's own center; a key of Centers
	Instance string `yaml:"instance"` // sent as Bulwark-Instance; default hostname:port of Listen
	Listen   string `yaml:"listen"`   // host:port of the proxy listener
	TLS      *TLS   `yaml:"tls"`      // serve HTTPS (and HTTP/2 via ALPN) when set

	Admin   Admin              `yaml:"admin"`
	Centers map[string]*Center `yaml:"centers"` // every center, this one included

	Retry      Retry      `yaml:"retry"`
	Protection Protection `yaml:"protection"`
	HTTP       HTTP       `yaml:"http"`
	Log        Log        `yaml:"log"`
	Faults     Faults     `yaml:"faults"`   // the fault-injection admin API (SEEDS.md C1)
	Recorder   Recorder   `yaml:"recorder"` // the traffic recorder (SEEDS.md C4)

	// Observability (issue 7; observe.go): traces, the business keywords and masking they
	// and the access log share, traffic color, continuous profiling and panic reports.
	Tracing   Tracing   `yaml:"tracing"`
	Keywords  Keywords  `yaml:"keywords"`
	Mask      Mask      `yaml:"mask"`
	Color     Color     `yaml:"color"`
	Profiling Profiling `yaml:"profiling"`
	Sentry    Sentry    `yaml:"sentry"`

	// Fleet shares state with the other instances of this center through Redis (cluster rate
	// limits, switches, the two-level and DR caches). nil = everything is local to this
	// gateway.
	Fleet *Fleet `yaml:"fleet"`

	// ShutdownGrace bounds how long a stopping gateway drains in-flight requests. Default 10s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`

	Services map[string]*Service `yaml:"services"`
	Routes   []*Route            `yaml:"routes"`
	Limits   []*Limit            `yaml:"limits"` // entry-layer frequency limits (B13)
	Block    []*Block            `yaml:"block"`

	// lines maps key paths (services.songs.timeout.tavg, routes[1].service) to the line
	// they were read from, so that Validate's problems can name the line. nil in memory.
	lines map[string]int
}

// TLS names the certificate and key files of an HTTPS listener.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Admin is the admin API listener. Token is required when Listen is not a loopback address.
type Admin struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9901; "" after Validate never happens
	Token  string `yaml:"token"`  // bearer token; compared in constant time
}

// Center is one data center's gateway.
type Center struct {
	Name    string `yaml:"-"`       // the map key, filled by Validate
	Gateway string `yaml:"gateway"` // base URL of that center's gateway, e.g. http://10.0.0.1:8080
	Primary bool   `yaml:"primary"` // the one center that takes writes (at most one)
}

// Retry configures the gateway failover window (SEEDS.md A2) and Bulwark's remote credit.
type Retry struct {
	Enabled      *bool    `yaml:"enabled"`              // global retry switch at start; default true
	Period       Duration `yaml:"period"`               // default 1s
	HealthyRate  float64  `yaml:"healthy_success_rate"` // default 0.98; in (0, 1]
	RemoteCredit *bool    `yaml:"remote_credit"`        // default true
	CreditCap    int      `yaml:"credit_cap"`           // default 1000
	ResetToOne   bool     `yaml:"reset_to_one"`         // failing remote resets f to 1 instead of halving
	ReplayBuffer Size     `yaml:"replay_buffer"`        // request bodies kept for replay; default 1MiB
}

// Protection configures gateway-wide admission.
type Protection struct {
	Adaptive Adaptive `yaml:"adaptive"`
	// LevelShares maps a level (1..4) to the share of the limit that level may use under
	// pressure. Missing levels keep their defaults 1.0, 0.9, 0.75, 0.6.
	LevelShares map[int]float64 `yaml:"level_shares"`
	// Queue and MaxWait bound the priority queue of the gateway-wide admission: a request
	// that finds its level's share used up waits up to MaxWait for a slot, level 1 first,
	// instead of being shed at once. With small limits (a fast gateway holds a handful of
	// requests in flight) this is what keeps level 1 whole. Defaults 128 and 100ms.
	Queue   int      `yaml:"queue"`
	MaxWait Duration `yaml:"max_wait"`
	// Shares is LevelShares resolved to an array (index 0 = level 1). Filled by Validate.
	Shares [4]float64 `yaml:"-"`
}

// Adaptive configures the gateway's CPU-based BBR limiter (SEEDS.md B3).
type Adaptive struct {
	Enabled      *bool    `yaml:"enabled"`       // default true
	CPUThreshold int64    `yaml:"cpu_threshold"` // per mille; default 800
	Window       Duration `yaml:"window"`        // default 10s
	Buckets      int      `yaml:"buckets"`       // default 100
	// CPU pins the CPU reading in per mille instead of sampling it (tests, drills). 0 = sample.
	CPU int64 `yaml:"cpu"`
	// SampleInterval is how often the CPU is sampled; default 250ms. SampleDecay is the weight
	// β of the old average in each sample's moving average, in (0, 1); default 0.95. Together
	// they set how fast the reading follows the CPU: with the defaults it takes about 8 s of
	// full load to reach 800 ‰.
	SampleInterval Duration `yaml:"sample_interval"`
	SampleDecay    float64  `yaml:"sample_decay"`
}

// HTTP holds the proxy listener's HTTP limits.
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // default 10s
	ReadTimeout       Duration `yaml:"read_timeout"`        // whole request; default 0 (none: bodies stream)
	WriteTimeout      Duration `yaml:"write_timeout"`       // default 0 (none: responses stream)
	IdleTimeout       Duration `yaml:"idle_timeout"`        // default 120s
	MaxHeaderBytes    Size     `yaml:"max_header_bytes"`    // default 1MiB
	MaxBodyBytes      Size     `yaml:"max_body_bytes"`      // default 64MiB; larger bodies get 413
	DialTimeout       Duration `yaml:"dial_timeout"`        // upstream connect timeout; default 1s
	MaxIdlePerHost    int      `yaml:"max_idle_per_host"`   // upstream keep-alive pool; default 256
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Access *bool  `yaml:"access"` // one JSON line per request; default true
	// SuccessSample is the share of access-log lines of successful requests that are written,
	// in [0, 1]; default 1 (all). Lines of failed or refused requests are always written.
	// A pointer so that 0 (no success lines) can be written; never nil after Validate.
	SuccessSample *float64 `yaml:"success_sample"`
}

// Faults configures the fault-injection admin API (POST /faults). Faults themselves are
// run-time state, never config.
type Faults struct {
	Enabled *bool `yaml:"enabled"` // default true; false answers the /faults endpoints 403
	// MaxPercent caps a fault's percent of matching requests, in (0, 100]. Default 50.
	MaxPercent float64 `yaml:"max_percent"`
}

// Recorder configures the traffic recorder, which samples requests to JSONL files for load
// tests built from real traffic. It is off until started through the admin API, or at Start
// when Enabled.
type Recorder struct {
	Enabled  bool    `yaml:"enabled"`   // start recording when the gateway starts
	Dir      string  `yaml:"dir"`       // default /var/lib/bulwark/rec
	Sample   float64 `yaml:"sample"`    // share of requests recorded, in (0, 1]; default 0.01
	MaxBody  Size    `yaml:"max_body"`  // body bytes kept per request; default 64KiB
	MaxFile  Size    `yaml:"max_file"`  // a file rotates past this size; default 64MiB, ≥ 1KiB
	MaxFiles int     `yaml:"max_files"` // traffic-*.jsonl files kept in Dir; default 10
	Queue    int     `yaml:"queue"`     // lines waiting for the writer; default 1024
	// Headers are the request headers recorded; default Accept, Content-Type, User-Agent.
	Headers []string `yaml:"headers"`
	// Redact are headers never recorded, on top of Authorization, Cookie, Set-Cookie and
	// Proxy-Authorization, which are never recorded whatever the config says.
	Redact []string `yaml:"redact"`
}

// Fleet is how this gateway reaches the fleet's shared state in Redis. After Validate every
// default is filled. A reload cannot change it (see RestartChanges).
type Fleet struct {
	Redis Redis `yaml:"redis"`
	// SyncInterval is how often shared state is synchronized with Redis; default 100ms
	// (fleet.DefaultSyncInterval), at least 1ms.
	SyncInterval Duration `yaml:"sync_interval"`
	// Prefix starts every Redis key and channel; default "bulwark:" (fleet.DefaultPrefix).
	Prefix string `yaml:"prefix"`
	// OpTimeout bounds each Redis operation; default 250ms (fleet.DefaultOpTimeout), ≥ 1ms.
	OpTimeout Duration `yaml:"op_timeout"`
	// CacheSize bounds the bytes of the proxy cache's L1 in this gateway; default 64MiB
	// (DefaultCacheSize), at least 1KiB.
	CacheSize Size `yaml:"cache_size"`
}

// Redis says how to reach Redis: one address is a single node, several a Cluster, and with
// MasterName the addresses are Sentinels'. It maps onto fleet.RedisConfig.
type Redis struct {
	Addrs      []string `yaml:"addrs"` // host:port each; required, no address twice
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"` // write ${REDIS_PASSWORD}; never printed by Summary
	DB         int      `yaml:"db"`       // ≥ 0; must be 0 for a Cluster
	MasterName string   `yaml:"master_name"`
}

// Service is one upstream service.
type Service struct {
	Name  string `yaml:"-"`     // the map key, filled by Validate
	Level int    `yaml:"level"` // 1 (most important) .. 4; default 1
	// Upstreams maps a center name to that center's hosts (host:port). A service used only by
	// write routes needs hosts in the primary center; any other needs hosts in this center.
	Upstreams map[string][]string `yaml:"upstreams"`

	Timeout     Timeout      `yaml:"timeout"`
	Breaker     Breaker      `yaml:"breaker"`
	Failover    Failover     `yaml:"failover"`
	RateLimit   *RateLimit   `yaml:"rate_limit"` // nil = no route rate limit
	Concurrency Concurrency  `yaml:"concurrency"`
	Health      Health       `yaml:"health"`
	Degrade     Degrade      `yaml:"degrade"`
	Balancer    Balancer     `yaml:"balancer"`
	Passive     PassiveCheck `yaml:"passive"`

	Cache   *Cache   `yaml:"cache"`    // proxy-layer cache (SEEDS.md B14); nil = not cached
	DRCache *DRCache `yaml:"dr_cache"` // DR cache (SEEDS.md B11a); nil = none
	// FallbackUpstreams is the fallback pool (SEEDS.md B11b, a stable older deployment):
	// host:port each, no host twice, tried after this center and the remote failover.
	FallbackUpstreams []string `yaml:"fallback_upstreams"`

	// ShadowUpstreams maps a center name to that center's shadow hosts (host:port), which
	// take the service's colored (load-test) requests, and only those (SEEDS.md C4). None of
	// them may be a production host (upstreams or fallback_upstreams) of any service.
	ShadowUpstreams map[string][]string `yaml:"shadow_upstreams"`
	// Shadow is "" or ShadowPassthrough. A colored request to a service without shadow
	// upstreams is refused (503, Bulwark-Reject: no-shadow) unless the service is
	// passthrough: a read-only service whose production hosts may take colored reads.
	Shadow string `yaml:"shadow"`
}

// ShadowPassthrough is the services.NAME.shadow value of a read-only service that serves
// colored requests on its production hosts.
const ShadowPassthrough = "passthrough"

// Cache is a service's proxy-layer cache: L1 in this gateway, L2 in Redis when there is a
// fleet (L1 only without one).
type Cache struct {
	TTL Duration `yaml:"ttl"` // how long an answer is kept; default 30s
	// Key lists the request parts the cache key is made of (fleet.KeySpec); required.
	Key []string `yaml:"key"`
	// Spec is Key parsed, filled by Validate.
	Spec fleet.KeySpec `yaml:"-"`
}

// DRCache is a service's disaster-recovery cache: answers stored under a generalized
// signature, served when every upstream has failed. Shared through Redis when there is a
// fleet, local to this gateway without one.
type DRCache struct {
	// Key lists the request parts the signature is made of (fleet.KeySpec, where query:NAME~STEP
	// rounds to a grid); required.
	Key []string `yaml:"key"`
	TTL Duration `yaml:"ttl"` // how long an answer is kept; default 72h
	// Spec is Key parsed, filled by Validate.
	Spec fleet.KeySpec `yaml:"-"`
}

// Timeout is the EMA dynamic timeout of SEEDS.md B6.
type Timeout struct {
	Tavg Duration `yaml:"tavg"` // default 60ms
	Thwm Duration `yaml:"thwm"` // default 250ms
	Tmax Duration `yaml:"tmax"` // default 500ms
	N    int      `yaml:"n"`    // EMA window in requests; default 50
}

// Breaker is the per-host circuit breaker.
type Breaker struct {
	Kind        string   `yaml:"kind"`         // sre (default) or classic
	K           float64  `yaml:"k"`            // SRE sensitivity; default 1.5
	Window      Duration `yaml:"window"`       // default 10s
	MinRequests int      `yaml:"min_requests"` // default 20
	// Classic only.
	FailureRatio     float64  `yaml:"failure_ratio"`      // default 0.5
	OpenTimeout      Duration `yaml:"open_timeout"`       // default 5s
	HalfOpenRequests int      `yaml:"half_open_requests"` // default 5
}

// Failover reasons: the ways a local attempt can fail.
const (
	ReasonConnectError = "connect_error" // the request was never sent, or no host could take it
	ReasonTimeout      = "timeout"       // no response headers within the dynamic timeout
	Reason5xx          = "5xx"           // the upstream answered 5xx
	ReasonBreakerOpen  = "breaker_open"  // every candidate host's breaker refused
	ReasonRateLimited  = "rate_limited"  // the route rate limit refused
)

// Failover configures retries at the remote center (SEEDS.md A2).
type Failover struct {
	Enabled *bool    `yaml:"enabled"` // default true
	On      []string `yaml:"on"`      // default all five reasons
	// Methods that may fail over. Default the idempotent ones: GET HEAD OPTIONS PUT DELETE TRACE.
	Methods []string `yaml:"methods"`
}

// RateLimit is a route rate limit for the whole service: in this gateway (scope local), or
// in all the fleet's instances together (scope cluster).
type RateLimit struct {
	Algorithm string   `yaml:"algorithm"` // sliding_window (default), fixed_window, token_bucket, leaky_bucket
	Limit     int      `yaml:"limit"`     // requests per Per; required, > 0
	Per       Duration `yaml:"per"`       // default 1s
	Burst     int      `yaml:"burst"`     // token_bucket only; default Limit
	// Scope is local (default: the limit holds in this gateway) or cluster (the limit holds
	// for all the fleet's instances together; needs the fleet section and sliding_window).
	Scope string `yaml:"scope"`
}

// Rate limit scopes.
const (
	ScopeLocal   = "local"
	ScopeCluster = "cluster"
)

// Concurrency bounds a service's requests in flight, with the queue-wait drop of SEEDS.md B12.
type Concurrency struct {
	Max     int      `yaml:"max"`      // 0 = no fixed bound (pool pressure still applies)
	MaxWait Duration `yaml:"max_wait"` // default 500ms
	Queue   int      `yaml:"queue"`    // waiting requests; default 128
}

// Health configures active probes and host ejection.
type Health struct {
	Path           string   `yaml:"path"`            // "" = no active probes
	Interval       Duration `yaml:"interval"`        // default 1s
	Timeout        Duration `yaml:"timeout"`         // default 500ms
	UnhealthyAfter int      `yaml:"unhealthy_after"` // failed probes to mark a host unavailable; default 2
	HealthyAfter   int      `yaml:"healthy_after"`   // good probes to bring it back; default 2
	MaxEjected     Percent  `yaml:"max_ejected"`     // share of hosts that may be out at once; default 50%
}

// PassiveCheck configures detection from live traffic.
type PassiveCheck struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures"` // default 3
	ErrorRatio          float64  `yaml:"error_ratio"`          // default 0.5
	MinRequests         int      `yaml:"min_requests"`         // volume for the ratio; default 10
	Window              Duration `yaml:"window"`               // default 2s
	OverloadFor         Duration `yaml:"overload_for"`         // how long Bulwark-Overload marks a host; default 1s
}

// Balancer configures host selection.
type Balancer struct {
	Policy string `yaml:"policy"` // p2c_ewma (default) or round_robin
}

// Degrade configures the service's degrade switch (SEEDS.md B8).
type Degrade struct {
	Pass     *float64  `yaml:"pass"` // share of calls that go ahead; default 1.0; 0 turns the service off
	Fallback *Fallback `yaml:"fallback"`
}

// Fallback is the response served to a degraded call. Without one a degraded call gets 503.
type Fallback struct {
	Status  int               `yaml:"status"` // default 200
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// Route maps requests to a service.
type Route struct {
	Host    string            `yaml:"host"`    // "" = any host; exact match, port ignored
	Path    string            `yaml:"path"`    // path prefix; required, starts with /
	Methods []string          `yaml:"methods"` // empty = any method
	Headers map[string]string `yaml:"headers"` // exact header values that must match
	Service string            `yaml:"service"` // required; a key of services
	Write   bool              `yaml:"write"`   // served by the primary center
	Level   int               `yaml:"level"`   // overrides the service level; 0 = the service's
	Name    string            `yaml:"name"`    // metrics label; default the path
}

// Limit is an entry-layer frequency limit (SEEDS.md B13).
type Limit struct {
	// Key says what is counted: ip, header:NAME, query:NAME or cookie:NAME. Requests without
	// the key are not limited by this rule.
	Key   string   `yaml:"key"`
	Limit int      `yaml:"limit"` // requests per Per; > 0
	Per   Duration `yaml:"per"`   // default 1s
	Paths []string `yaml:"paths"` // path prefixes; empty = every path
	// MaxKeys bounds memory; the least recently used keys are dropped. Default 100000.
	MaxKeys int `yaml:"max_keys"`
}

// Block is a rule that refuses requests at the entry. Exactly one of CIDR or Header is set.
type Block struct {
	CIDR    string `yaml:"cidr"`
	Header  string `yaml:"header"`
	Pattern string `yaml:"pattern"` // a Go regexp matched against the header value

	// Filled by Validate.
	Net *net.IPNet     `yaml:"-"`
	Re  *regexp.Regexp `yaml:"-"`
}

// Duration is a time.Duration written with a unit ("250ms", "1s"). A bare number is an error.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as a number or with a unit: 512, 64KiB, 1MiB, 1GiB (KB, MB and
// GB are accepted as the same binary units).
type Size int64

// Percent is a share written as "50%" or as a fraction 0.5. It holds the fraction.
type Percent float64

// Bool returns *b, or def when b is nil.
func Bool(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
