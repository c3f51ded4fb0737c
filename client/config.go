package client

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults for the zero values of Config's durations.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultProbeTimeout = time.Second
	DefaultFreezeFor    = 10 * time.Second
)

// Center is one center's gateway as the client sees it.
type Center struct {
	// Name identifies the center in Config.Home, in errors and in metric labels, e.g. "sz".
	// It must be non-empty and unique.
	Name string
	// URL is the gateway's base URL, e.g. "http://127.0.0.1:18080". The scheme must be http
	// or https and the host non-empty; a query, fragment or user info is refused. A path
	// ("http://gw/api") is prefixed to every request's path.
	URL string
}

// Config configures a Client. Centers and Home are required; every other field has a
// documented default for its zero value.
type Config struct {
	// Centers are the two centers' gateways, exactly two.
	Centers []Center
	// Home is the Name of the center every request tries first.
	Home string
	// Transport sends the attempts (and an HTTP probe). nil means a clone of
	// http.DefaultTransport (or http.DefaultTransport itself if it is not an *http.Transport).
	Transport http.RoundTripper
	// Timeout bounds each attempt until its response headers arrive; reading the body is
	// not bounded. 0 means DefaultTimeout (5 s); negative is an error. It cannot be turned
	// off: a client without it could not tell a hung center from a slow one.
	Timeout time.Duration
	// Probe is how the client checks the network when both centers failed without a
	// response: an "http://..." or "https://..." URL (any HTTP response means the network is
	// up) or a "host:port" TCP address (a completed dial means up). "" means no probe and
	// therefore never freeze: such failures return ErrBothDown alone.
	Probe string
	// ProbeTimeout bounds the probe. 0 means DefaultProbeTimeout (1 s); negative is an error.
	ProbeTimeout time.Duration
	// FreezeFor is how long the client refuses every request once the probe found the
	// network up with both centers down. 0 means DefaultFreezeFor (10 s); negative is an error.
	FreezeFor time.Duration
	// Clock times attempts, probes and freezes. nil means the wall clock.
	Clock clock.Clock
}

// center is a validated Center.
type center struct {
	name    string
	scheme  string
	host    string
	prefix  string // path prefix without a trailing slash; "" for none
	rawPref string // escaped form of prefix
}

// probeKind says how the network is probed.
type probeKind int

const (
	probeNone probeKind = iota
	probeHTTP
	probeTCP
)

// settings is a validated Config with defaults applied.
type settings struct {
	centers      [2]center // [0] is home
	base         http.RoundTripper
	timeout      time.Duration
	probeKind    probeKind
	probeTarget  string // the URL or the host:port
	probeTimeout time.Duration
	freezeFor    time.Duration
	clk          clock.Clock
}

func (cfg *Config) validate() (settings, error) {
	var s settings
	if len(cfg.Centers) != 2 {
		return s, fmt.Errorf("client: Config.Centers: want exactly 2 centers, got %d", len(cfg.Centers))
	}
	var parsed [2]center
	for i, c := range cfg.Centers {
		if c.Name == "" {
			return s, fmt.Errorf("client: Config.Centers[%d].Name: must not be empty", i)
		}
		if !utf8.ValidString(c.Name) {
			return s, fmt.Errorf("client: Config.Centers[%d].Name: %q is not valid UTF-8", i, c.Name)
		}
		if i == 1 && c.Name == cfg.Centers[0].Name {
			return s, fmt.Errorf("client: Config.Centers[1].Name: %q is already the name of Centers[0]", c.Name)
		}
		pc, err := parseCenterURL(c.URL)
		if err != nil {
			return s, fmt.Errorf("client: Config.Centers[%d].URL: %w", i, err)
		}
		pc.name = c.Name
		parsed[i] = pc
	}
	switch cfg.Home {
	case parsed[0].name:
		s.centers = parsed
	case parsed[1].name:
		s.centers = [2]center{parsed[1], parsed[0]}
	default:
		return s, fmt.Errorf("client: Config.Home: %q is not the name of a center (%q, %q)",
			cfg.Home, parsed[0].name, parsed[1].name)
	}

	var err error
	if s.timeout, err = duration("Timeout", cfg.Timeout, DefaultTimeout); err != nil {
		return s, err
	}
	if s.probeTimeout, err = duration("ProbeTimeout", cfg.ProbeTimeout, DefaultProbeTimeout); err != nil {
		return s, err
	}
	if s.freezeFor, err = duration("FreezeFor", cfg.FreezeFor, DefaultFreezeFor); err != nil {
		return s, err
	}
	if s.probeKind, err = parseProbe(cfg.Probe); err != nil {
		return s, fmt.Errorf("client: Config.Probe: %w", err)
	}
	s.probeTarget = cfg.Probe

	s.base = cfg.Transport
	if s.base == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			s.base = t.Clone()
		} else {
			s.base = http.DefaultTransport
		}
	}
	s.clk = clock.OrReal(cfg.Clock)
	return s, nil
}

func duration(field string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("client: Config.%s: must be ≥ 0 (0 means %v), got %v", field, def, d)
	case d == 0:
		return def, nil
	}
	return d, nil
}

// parseCenterURL checks a center's base URL and splits it into what a request rewrite needs.
func parseCenterURL(raw string) (center, error) {
	var c center
	u, err := url.Parse(raw)
	if err != nil {
		return c, err
	}
	if err := checkHTTPURL(u); err != nil {
		return c, err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return c, fmt.Errorf("%q: must have no query", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return c, fmt.Errorf("%q: must have no fragment", raw)
	}
	if u.User != nil {
		return c, fmt.Errorf("%q: must have no user info (put credentials in request headers)", raw)
	}
	c.scheme, c.host = u.Scheme, u.Host
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		c.prefix = p
		c.rawPref = strings.TrimSuffix(u.EscapedPath(), "/")
	}
	return c, nil
}

// checkHTTPURL accepts an absolute http or https URL with a host.
func checkHTTPURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", u.Redacted())
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%q: must have a host", u.Redacted())
	}
	return nil
}

// parseProbe tells a probe URL from a TCP address and checks it.
func parseProbe(p string) (probeKind, error) {
	if p == "" {
		return probeNone, nil
	}
	if strings.Contains(p, "://") {
		u, err := url.Parse(p)
		if err != nil {
			return probeNone, err
		}
		if err := checkHTTPURL(u); err != nil {
			return probeNone, err
		}
		return probeHTTP, nil
	}
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		return probeNone, fmt.Errorf("%q: want an http(s) URL or a host:port address: %w", p, err)
	}
	if host == "" || port == "" {
		return probeNone, fmt.Errorf("%q: a host:port address needs both a host and a port", p)
	}
	return probeTCP, nil
}
