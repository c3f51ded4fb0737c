package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Default values that are not in a floor-2 package. Every default is also written in the field
// comment in config.go and in reference.md.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:9901"
)

// Reasons lists the five failover reasons in the order they are documented, the default of
// Failover.On. Callers must not modify it.
var Reasons = []string{ReasonConnectError, ReasonTimeout, Reason5xx, ReasonBreakerOpen, ReasonRateLimited}

// defaultShares are the level shares of levels 1..4 when level_shares leaves them out.
var defaultShares = [4]float64{1.0, 0.9, 0.75, 0.6}

// Validate fills every default written in the field comments of config.go and checks the
// whole configuration: ranges, references between sections (routes to services, upstreams and
// center to centers), and the rules of the issue. It returns nil or Errors with every problem
// found, sorted by line; a Config from Load or Parse knows the lines, one built in memory does
// not. Validate is idempotent: a Config it accepted passes again unchanged. It fills in place,
// so it must not run while another goroutine reads the Config.
func (c *Config) Validate() error {
	p := newProblems(c.File, c.lines)
	c.validate(p)
	return p.result()
}

func (c *Config) validate(p *problems) {
	checkNumbers(p, reflect.ValueOf(c).Elem(), "")
	c.validateListeners(p)
	c.validateGlobal(p)
	c.validateFleet(p)
	primary := c.validateCenters(p)
	c.validateProtection(p)
	usage := c.validateRoutes(p, primary)
	c.validateServices(p, usage, primary)
	c.validateLimits(p)
	c.validateBlock(p)
	c.validateRuntime(p)
	c.validateObservability(p)
}

// validateListeners checks listen, instance, tls and admin.
func (c *Config) validateListeners(p *problems) {
	defStr(&c.Listen, DefaultListen)
	if checkHostPort(p, "listen", c.Listen, true, DefaultListen) && c.Instance == "" {
		c.checkFleetInstance(p)
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		_, port, _ := net.SplitHostPort(c.Listen)
		c.Instance = host + ":" + port
	}
	if c.TLS != nil {
		if c.TLS.Cert == "" {
			p.add("tls.cert", "required when tls is set; write the path of the certificate file (PEM)")
		}
		if c.TLS.Key == "" {
			p.add("tls.key", "required when tls is set; write the path of the private key file (PEM)")
		}
	}
	defStr(&c.Admin.Listen, DefaultAdminListen)
	if checkHostPort(p, "admin.listen", c.Admin.Listen, true, DefaultAdminListen) &&
		!isLoopback(c.Admin.Listen) && c.Admin.Token == "" {
		p.add("admin.listen", "%q is not a loopback address, so admin.token is required; set a token (e.g. token: ${BULWARK_ADMIN_TOKEN}) or listen on 127.0.0.1", c.Admin.Listen)
	}
}

// validateGlobal fills and checks retry, http, log and shutdown_grace.
func (c *Config) validateGlobal(p *problems) {
	r := &c.Retry
	defBool(&r.Enabled, true)
	defDur(&r.Period, time.Second)
	defFloat(&r.HealthyRate, 0.98)
	checkShare(p, "retry.healthy_success_rate", r.HealthyRate)
	defBool(&r.RemoteCredit, true)
	defInt(&r.CreditCap, 1000)
	if r.ReplayBuffer == 0 {
		r.ReplayBuffer = 1 << 20
	}

	h := &c.HTTP
	defDur(&h.ReadHeaderTimeout, 10*time.Second)
	defDur(&h.IdleTimeout, 120*time.Second)
	if h.MaxHeaderBytes == 0 {
		h.MaxHeaderBytes = 1 << 20
	}
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = 64 << 20
	}
	defDur(&h.DialTimeout, time.Second)
	defInt(&h.MaxIdlePerHost, 256)

	c.Log.Level = strings.ToLower(c.Log.Level)
	defStr(&c.Log.Level, "info")
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		p.add("log.level", "unknown level %q; write debug, info, warn or error", c.Log.Level)
	}
	defBool(&c.Log.Access, true)
	defDur(&c.ShutdownGrace, 10*time.Second)
}

// validateCenters checks centers and center, and returns the primary center ("" if none).
func (c *Config) validateCenters(p *problems) string {
	if len(c.Centers) == 0 {
		p.add("centers", "at least one center is required; write centers: {NAME: {gateway: http://HOST:PORT, primary: true}}")
	}
	var primaries []string
	for _, name := range sortedKeys(c.Centers) {
		path := join("centers", name)
		ce := c.Centers[name]
		if ce == nil {
			ce = &Center{}
			c.Centers[name] = ce
		}
		ce.Name = name
		checkName(p, path, "center", name)
		if ce.Gateway == "" {
			p.add(join(path, "gateway"), "required; every center needs the base URL of its gateway, e.g. http://10.0.0.1:8080")
		} else if u, err := url.Parse(ce.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(join(path, "gateway"), "%q is not a gateway URL; write http://HOST:PORT or https://HOST:PORT", ce.Gateway)
		}
		if ce.Primary {
			primaries = append(primaries, name)
		}
	}
	if len(primaries) > 1 {
		// Blame every primary but the first in the file.
		sort.SliceStable(primaries, func(i, j int) bool {
			return lineOf(p.lines, join("centers", primaries[i])) < lineOf(p.lines, join("centers", primaries[j]))
		})
		for _, name := range primaries[1:] {
			p.add(join(join("centers", name), "primary"), "more than one primary center (%s); exactly one center takes writes", strings.Join(primaries, ", "))
		}
	}
	known := strings.Join(sortedKeys(c.Centers), ", ")
	switch _, ok := c.Centers[c.Center]; {
	case c.Center == "" && known == "":
		p.add("center", "required; name this gateway's own center, a key of centers")
	case c.Center == "":
		p.add("center", "required; name this gateway's own center, one of: %s", known)
	case !ok && len(c.Centers) > 0:
		p.add("center", "%q is not in centers; known centers: %s", c.Center, known)
	}
	if len(primaries) == 0 {
		return ""
	}
	return primaries[0]
}

// validateProtection fills and checks the adaptive limiter and the level shares.
func (c *Config) validateProtection(p *problems) {
	a := &c.Protection.Adaptive
	defBool(&a.Enabled, true)
	defInt64(&a.CPUThreshold, 800)
	if a.CPUThreshold > 1000 {
		p.add("protection.adaptive.cpu_threshold", "%d is outside 1..1000 (per mille of the CPU the process may use)", a.CPUThreshold)
	}
	if a.CPU > 1000 {
		p.add("protection.adaptive.cpu", "%d is outside 0..1000 (per mille; 0 = sample the CPU)", a.CPU)
	}
	defInt(&c.Protection.Queue, 128)
	defDur(&c.Protection.MaxWait, 100*time.Millisecond)
	defDur(&a.SampleInterval, 250*time.Millisecond)
	defFloat(&a.SampleDecay, 0.95)
	if a.SampleDecay >= 1 {
		p.add("protection.adaptive.sample_decay", "%v is outside (0, 1): the weight of the old average in each sample", a.SampleDecay)
	}
	defDur(&a.Window, 10*time.Second)
	defInt(&a.Buckets, 100)
	if a.Window.D()/time.Duration(max(a.Buckets, 1)) < time.Millisecond {
		p.add("protection.adaptive.buckets", "%d buckets in a %s window are shorter than 1ms each; use fewer buckets or a longer window", a.Buckets, a.Window)
	}

	shares := defaultShares
	for _, level := range sortedKeys(c.Protection.LevelShares) {
		path := join("protection.level_shares", strconv.Itoa(level))
		if level < 1 || level > 4 {
			p.add(path, "level %d is outside 1..4", level)
			continue
		}
		share := c.Protection.LevelShares[level]
		if checkShare(p, path, share) {
			shares[level-1] = share
		}
	}
	for i := 1; i < 4; i++ {
		if shares[i] > shares[i-1] {
			p.add(join("protection.level_shares", strconv.Itoa(i+1)),
				"level %d's share %g is more than level %d's %g; shares must not increase with level (level 1 ≥ 2 ≥ 3 ≥ 4; defaults 1.0, 0.9, 0.75, 0.6)",
				i+1, shares[i], i, shares[i-1])
		}
	}
	c.Protection.Shares = shares
}

// checkNumbers reports every negative or non-finite number under v, whose key path is path.
func checkNumbers(p *problems, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			checkNumbers(p, v.Elem(), path)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if name, ok := yamlName(t.Field(i)); ok {
				checkNumbers(p, v.Field(i), join(path, name))
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			checkNumbers(p, iter.Value(), join(path, key))
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkNumbers(p, v.Index(i), index(path, i))
		}
	case reflect.Int, reflect.Int64:
		if v.Int() < 0 {
			p.add(path, "%v is negative; write 0 or more", v.Interface())
		}
	case reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			p.add(path, "%v is not a finite number", v.Interface())
		} else if f < 0 {
			p.add(path, "%v is negative; write 0 or more", v.Interface())
		}
	}
}

// checkHostPort checks that s is host:port with a numeric port (0 allowed for listeners, where
// it picks a free port). The host may be empty (all interfaces) only when listening.
func checkHostPort(p *problems, path, s string, listener bool, example string) bool {
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil:
		p.add(path, "%q is not host:port; write e.g. %s", s, example)
	case perr != nil || n < 0 || n > 65535 || (!listener && n == 0):
		lo := "1"
		if listener {
			lo = "0" // a free port, for tests
		}
		p.add(path, "%q has no valid port; write a port number %s..65535, e.g. %s", s, lo, example)
	case host == "" && !listener:
		p.add(path, "%q has no host; write e.g. %s", s, example)
	case strings.ContainsAny(host, "/ "):
		p.add(path, "%q is not host:port; write e.g. %s", s, example)
	default:
		return true
	}
	return false
}

// isLoopback reports whether a host:port listens on loopback only: 127.0.0.0/8, ::1 or the
// name localhost. An empty host (":9901") and 0.0.0.0 listen on every interface.
func isLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkShare reports a share outside (0, 1]; zero and negative values are reported too, as
// the callers fill defaults before they check.
func checkShare(p *problems, path string, f float64) bool {
	if f <= 0 || f > 1 {
		p.add(path, "%g is outside (0, 1]; write a fraction such as 0.9", f)
		return false
	}
	return true
}

// checkName reports a service or center name that would not be safe in headers, metrics
// labels and key paths.
func checkName(p *problems, path, what, name string) {
	ok := name != ""
	for _, r := range name {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			ok = false
		}
	}
	if !ok {
		p.add(path, "%s name %q may use only letters, digits, - and _", what, name)
	}
}

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func defStr(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func defInt(i *int, def int) {
	if *i == 0 {
		*i = def
	}
}

func defInt64(i *int64, def int64) {
	if *i == 0 {
		*i = def
	}
}

func defFloat(f *float64, def float64) {
	if *f == 0 {
		*f = def
	}
}

func defDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func defBool(b **bool, def bool) {
	if *b == nil {
		*b = &def
	}
}
