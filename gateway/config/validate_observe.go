package config

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// validateObservability fills and checks log.success_sample, tracing, keywords, mask,
// color, profiling and sentry.
func (c *Config) validateObservability(p *problems) {
	defShare(&c.Log.SuccessSample, 1)
	checkShareZero(p, "log.success_sample", *c.Log.SuccessSample, "the share of successful requests' access-log lines written (errors are always written)")
	c.validateTracing(p)
	c.validateKeywords(p)
	c.validateMask(p)
	c.validateColor(p)
	c.validateProfiling(p)
	c.validateSentry(p)
}

// validateTracing fills and checks the tracing section, enabled or not.
func (c *Config) validateTracing(p *problems) {
	t := &c.Tracing
	t.Protocol = strings.ToLower(t.Protocol)
	switch t.Protocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	case "http/protobuf":
		t.Protocol = ProtocolHTTP
	default:
		p.add("tracing.protocol", "unknown protocol %q; write http (OTLP over HTTP) or grpc, or leave it out to follow OTEL_EXPORTER_OTLP_PROTOCOL", t.Protocol)
	}
	if t.Endpoint != "" {
		checkEndpoint(p, "tracing.endpoint", t.Endpoint)
	}
	defShare(&t.SampleRate, DefaultTracingSampleRate)
	checkShareZero(p, "tracing.sample_rate", *t.SampleRate, "the share of traces started here that are sampled")
	for _, name := range sortedKeys(t.Headers) {
		checkHeaderName(p, join("tracing.headers", name), name)
	}
	defInt(&t.Queue, DefaultTracingQueue)
}

// checkEndpoint checks an OTLP endpoint: an http or https URL with a host, or host:port.
func checkEndpoint(p *problems, path, s string) {
	const want = "write a URL such as http://otel-collector:4318/v1/traces, or host:port such as otel-collector:4317"
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(path, "%q is not an http or https URL with a host; %s", s, want)
		}
		return
	}
	checkHostPort(p, path, s, false, "otel-collector:4317")
}

// validateKeywords checks the keyword headers and query parameters: names, each once.
func (c *Config) validateKeywords(p *problems) {
	k := &c.Keywords
	seen := map[string]bool{}
	for i, h := range k.Headers {
		path := index("keywords.headers", i)
		checkHeaderName(p, path, h)
		if canon := http.CanonicalHeaderKey(h); seen[canon] {
			p.add(path, "%s is listed twice (header names are case-insensitive)", h)
		} else {
			seen[canon] = true
		}
	}
	clear(seen)
	for i, q := range k.Query {
		path := index("keywords.query", i)
		switch {
		case q == "" || strings.IndexFunc(q, badNameRune) >= 0:
			p.add(path, "%q is not a query parameter name; write e.g. user_id", q)
		case seen[q]:
			p.add(path, "%s is listed twice", q)
		}
		seen[q] = true
	}
}

// validateMask fills mask.keys (AlwaysMasked first, then each key written, once) and checks
// the keys and patterns.
func (c *Config) validateMask(p *problems) {
	m := &c.Mask
	keys := append(make([]string, 0, len(AlwaysMasked)+len(m.Keys)), AlwaysMasked...)
	seen := map[string]bool{}
	for _, k := range AlwaysMasked {
		seen[strings.ToLower(k)] = true
	}
	for i, k := range m.Keys {
		if k == "" || strings.IndexFunc(k, badNameRune) >= 0 {
			p.add(index("mask.keys", i), "%q is not a header or query parameter name; write e.g. X-Api-Key or token", k)
			continue
		}
		if !seen[strings.ToLower(k)] {
			seen[strings.ToLower(k)] = true
			keys = append(keys, k)
		}
	}
	m.Keys = keys
	for i, pat := range m.Patterns {
		path := index("mask.patterns", i)
		re, err := regexp.Compile(pat)
		switch {
		case err != nil:
			p.add(path, "not a Go regexp: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		case re.MatchString(""):
			p.add(path, "%q matches the empty string, so it would mask between every character; make it match at least one character, e.g. [0-9]{16} instead of [0-9]*", pat)
		}
	}
}

// reservedTokenHeaders are headers that color.token_header may not name: the token header is
// removed from every request, and these carry the color itself, the gateways' contracts, the
// trace context, or what upstreams need.
var reservedTokenHeaders = []string{"Bulwark-Color", "Bulwark-Center", "Bulwark-Failover", "Bulwark-Instance",
	"Bulwark-Credit", "Bulwark-Reject", "Bulwark-Deadline", "Bulwark-Overload", "Bulwark-Level",
	"Baggage", "Traceparent", "Tracestate", "Authorization", "Cookie", "Host", "Connection", "Content-Length",
	"Content-Type", "Transfer-Encoding", "Upgrade"}

// validateColor fills and checks the color section.
func (c *Config) validateColor(p *problems) {
	co := &c.Color
	defStr(&co.TokenHeader, DefaultColorTokenHeader)
	if !isHeaderName(co.TokenHeader) {
		checkHeaderName(p, "color.token_header", co.TokenHeader)
	} else if canon := http.CanonicalHeaderKey(co.TokenHeader); oneOf(canon, reservedTokenHeaders...) {
		p.add("color.token_header", "%s is used by the gateway, the trace context or the upstreams, and the token header is removed from every request; choose another name, e.g. %s", canon, DefaultColorTokenHeader)
	}
	switch t := co.Token; {
	case t == "":
	case strings.IndexFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f || r > unicode.MaxASCII }) >= 0:
		p.add("color.token", "the token holds a space, a control or a non-ASCII character, which a header cannot carry intact; write printable ASCII, e.g. token: ${BULWARK_COLOR_TOKEN}")
	case len(t) < MinColorToken:
		p.add("color.token", "the token is %d characters, fewer than %d; write a long random token, e.g. token: ${BULWARK_COLOR_TOKEN}", len(t), MinColorToken)
	}
	for i, s := range co.TrustedCIDRs {
		path := index("color.trusted_cidrs", i)
		pfx, ok := ParsePrefix(s)
		switch {
		case !ok:
			p.add(path, "%q is not a CIDR or IP address; write e.g. 10.1.0.0/16 (the other centers' gateways) or 127.0.0.1", s)
		case pfx.Bits() == 0:
			p.add(path, "%q trusts every address, so no color would ever be stripped; list the networks of the load generators and the other centers' gateways", s)
		}
	}
}

// ParsePrefix reads a CIDR, or a single IP address as a /32 or /128, as the network it
// names (host bits cleared). An IPv4-mapped IPv6 network is returned as IPv4, since the
// gateway compares peers' addresses unmapped. ok is false when s is neither.
func ParsePrefix(s string) (pfx netip.Prefix, ok bool) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		addr, aerr := netip.ParseAddr(s)
		if aerr != nil || addr.Zone() != "" {
			return netip.Prefix{}, false
		}
		pfx = netip.PrefixFrom(addr, addr.BitLen())
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), true
}

// validateProfiling fills and checks continuous profiling, enabled or not.
func (c *Config) validateProfiling(p *problems) {
	pr := &c.Profiling
	defDur(&pr.Interval, DefaultProfileInterval)
	defDur(&pr.Duration, DefaultProfileDuration)
	defInt(&pr.Keep, DefaultProfileKeep)
	defDur(&pr.MaxAge, DefaultProfileMaxAge)
	if pr.Enabled && pr.Dir == "" {
		p.add("profiling.dir", "required when profiling is enabled; write the directory profiles are written to, e.g. /var/lib/bulwark/profiles")
	}
	if pr.Duration.D() < MinProfileDuration {
		p.add("profiling.duration", "%s is under %s; a CPU profile samples at 100 Hz, so a shorter one holds next to nothing", pr.Duration, MinProfileDuration)
	} else if pr.Interval <= pr.Duration {
		p.add("profiling.interval", "%s is not longer than duration %s; every interval takes one CPU profile of duration, e.g. interval 5m with duration 10s", pr.Interval, pr.Duration)
	}
}

// validateSentry checks the Sentry DSN (without repeating it) and environment.
func (c *Config) validateSentry(p *problems) {
	s := &c.Sentry
	if s.DSN != "" {
		if why := dsnProblem(s.DSN); why != "" {
			p.add("sentry.dsn", "not a Sentry DSN (%s); write https://PUBLIC_KEY@HOST/PROJECT_ID, e.g. dsn: ${SENTRY_DSN}", why)
		}
	}
	if e := s.Environment; e != "" {
		if len(e) > 64 || e == "None" || strings.ContainsAny(e, " /\t\r\n") {
			p.add("sentry.environment", "%q is not a Sentry environment: at most 64 characters, no spaces or /, and not None; write e.g. production", e)
		}
	}
}

// dsnProblem says what makes dsn unusable as a Sentry DSN, by the rules of sentry-go's
// NewDsn, or "" when it is one. It never quotes the DSN, which holds the project's key.
func dsnProblem(dsn string) string {
	u, err := url.Parse(dsn)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "the scheme is not http or https"
	case u.User == nil || u.User.Username() == "":
		return "no public key before @"
	case u.Hostname() == "":
		return "no host"
	}
	if u.Path == "" || u.Path == "/" || strings.HasSuffix(u.Path, "/") {
		return "no project id at the end of the path"
	}
	return ""
}

// defShare fills a share that may be 0.
func defShare(f **float64, def float64) {
	if *f == nil {
		*f = &def
	}
}

// checkShareZero reports a share outside [0, 1]; what says what the share is.
func checkShareZero(p *problems, path string, f float64, what string) {
	if f > 1 {
		p.add(path, "%g is outside [0, 1]: %s; write a fraction such as 0.5", f, what)
	}
}

// badNameRune reports a rune that a header or query parameter name in the config may not
// hold: spaces and control characters.
func badNameRune(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
