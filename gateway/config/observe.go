package config

import "time"

// The observability sections of issue 7. The config only validates them and fills their
// defaults; the gateway builds the tracer, masker, profiler and Sentry reporter from them.
//
// Decisions where the issue is silent:
//   - Shares where 0 means something (log.success_sample, tracing.sample_rate) are pointers,
//     so that 0 can be written; every other zero means "the default", as elsewhere.
//   - tracing.endpoint and tracing.protocol may be left out: then the standard OTEL_* variables
//     decide (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT and the _PROTOCOL
//     ones), else the exporter's defaults (http on localhost:4318). Validate reads no OTEL_*
//     variable itself. http/protobuf is accepted as another name of http.
//   - Authorization and Cookie are always masked; mask.keys adds to them, like
//     recorder.redact. A mask pattern that matches the empty string is an error: it would put
//     the mask between every character of every value.
//   - A color needs proof: a token of at least MinColorToken characters in color.token_header,
//     or a peer address in color.trusted_cidrs. A /0 network is refused (it would trust every
//     address, and strip nothing). The token header may not be a header the gateway or the
//     trace context uses (Bulwark-*, Baggage, Traceparent, Authorization, ...), since it is
//     removed from every request before proxying.
//   - Secrets (color.token, sentry.dsn, tracing.headers values) are never repeated in a
//     problem's message or in Summary.

// Defaults and bounds of the observability sections.
const (
	DefaultTracingSampleRate = 0.01 // tracing.sample_rate: 1 % of the traces that start here
	DefaultTracingQueue      = 2048 // tracing.queue: spans waiting for the exporter
	// DefaultColorTokenHeader is color.token_header: the request header that carries
	// color.token.
	DefaultColorTokenHeader = "Bulwark-Color-Token"
	// MinColorToken is the shortest color.token accepted: the token is all that stands
	// between a client and the shadow hosts' colored treatment of its requests.
	MinColorToken          = 16
	DefaultProfileInterval = 5 * time.Minute // profiling.interval
	DefaultProfileDuration = 10 * time.Second
	DefaultProfileKeep     = 288 // profiles of each kind: a day at the default interval
	DefaultProfileMaxAge   = 24 * time.Hour
	// MinProfileDuration is the shortest profiling.duration: a CPU profile samples at 100 Hz,
	// so a shorter one holds next to nothing.
	MinProfileDuration = 100 * time.Millisecond
	// Tracing protocols, the values of tracing.protocol after Validate ("" = from the
	// environment, else http).
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
)

// AlwaysMasked are the keys whose values are always masked, whatever mask.keys says. Callers
// must not modify it.
var AlwaysMasked = []string{"Authorization", "Cookie"}

// Tracing configures OpenTelemetry traces (SEEDS.md D3): a server span per request and a
// client span per upstream attempt, exported over OTLP. Off by default.
type Tracing struct {
	Enabled bool `yaml:"enabled"`
	// Endpoint is where spans go: a URL (http://collector:4318/v1/traces, https://...) or
	// host:port. "" = the OTEL_* variables, else the exporter's default.
	Endpoint string `yaml:"endpoint"`
	// Protocol is ProtocolHTTP (OTLP/HTTP protobuf) or ProtocolGRPC; "" = the OTEL_*
	// variables, else http.
	Protocol string `yaml:"protocol"`
	// SampleRate is the share of traces started here that are sampled, in [0, 1]; a request
	// with a sampled parent is always sampled (ParentBased). Default 0.01. The admin API can
	// change it at run time. Never nil after Validate.
	SampleRate *float64          `yaml:"sample_rate"`
	Headers    map[string]string `yaml:"headers"`  // sent with every export (e.g. an API key)
	Insecure   bool              `yaml:"insecure"` // plain HTTP or gRPC without TLS to a host:port endpoint
	Queue      int               `yaml:"queue"`    // spans waiting for export; past it they are dropped and counted; default 2048
}

// Keywords lists the request headers and query parameters whose values are recorded on spans
// and in access-log lines (masked), so that a trace can be found from a complaint (D3).
type Keywords struct {
	Headers []string `yaml:"headers"` // header names, e.g. X-Order-Id; case-insensitive
	Query   []string `yaml:"query"`   // query parameter names, e.g. user_id; case-sensitive
}

// Mask says which values are replaced by *** before anything leaves the process (spans,
// logs, panic reports).
type Mask struct {
	// Keys are header and query parameter names (case-insensitive) whose whole value is
	// masked. After Validate it starts with AlwaysMasked, then the keys written, each once.
	Keys []string `yaml:"keys"`
	// Patterns are Go regexps; every match in any recorded value is masked.
	Patterns []string `yaml:"patterns"`
}

// Color configures who may send colored (load-test) traffic (SEEDS.md C4). A request's color
// (the Bulwark-Color header, or the baggage member bulwark.color) is removed at the entry
// unless the request carries Token in TokenHeader, or comes from an address in TrustedCIDRs.
// The other centers' gateways must be in TrustedCIDRs: their failovers and forwarded writes
// keep their color, and a colored request from a gateway that is not trusted is refused
// rather than sent to production.
type Color struct {
	TokenHeader  string   `yaml:"token_header"`  // default DefaultColorTokenHeader; removed from every request
	Token        string   `yaml:"token"`         // "" = no token proves a color; else ≥ MinColorToken characters
	TrustedCIDRs []string `yaml:"trusted_cidrs"` // CIDRs or single IPs of peers trusted to send colors
}

// Profiling configures continuous profiling (D5): every Interval, a CPU profile of Duration
// and a heap profile are written to Dir. Off by default.
type Profiling struct {
	Enabled  bool     `yaml:"enabled"`
	Dir      string   `yaml:"dir"`      // required when enabled
	Interval Duration `yaml:"interval"` // default 5m; longer than duration
	Duration Duration `yaml:"duration"` // length of each CPU profile; default 10s, ≥ 100ms
	Keep     int      `yaml:"keep"`     // profiles of each kind kept, newest first; default 288
	MaxAge   Duration `yaml:"max_age"`  // older profiles are deleted; default 24h
}

// Sentry configures panic reports to Sentry (D5), active only when DSN is set.
type Sentry struct {
	DSN string `yaml:"dsn"` // https://KEY@HOST/PROJECT; write ${SENTRY_DSN}
	// Environment names the deployment in Sentry; "" = the SENTRY_ENVIRONMENT variable.
	Environment string `yaml:"environment"`
}
