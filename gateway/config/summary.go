package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Summary writes a one-screen overview of a validated Config for `bulwark check`: this
// gateway and its fleet, the centers, the services with their protections, their caches and
// fallback pools, the routes, the entry limits and the block rules, in aligned columns. It
// never prints the admin token or the Redis password, only whether one is set. Write errors
// are ignored (the writer is a terminal or a buffer).
func (c *Config) Summary(w io.Writer) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	defer func() {
		tw.Flush()
		// An empty last cell leaves the padding of the one before it; drop it.
		for l := range strings.Lines(buf.String()) {
			io.WriteString(w, strings.TrimRight(l, " \n")+"\n")
		}
	}()
	line := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }

	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	token := "no token"
	if c.Admin.Token != "" {
		token = "token set"
	}
	line("center", c.Center)
	line("instance", c.Instance)
	line("listen", c.Listen+" ("+scheme+")")
	line("admin", c.Admin.Listen+" ("+token+")")
	line("retry", onOff(c.Retry.Enabled)+", period "+c.Retry.Period.String())
	if c.Fleet != nil {
		line("fleet", fleetText(c.Fleet))
	}
	if c.Tracing.Enabled {
		line("tracing", tracingText(&c.Tracing))
	}
	if c.Color.Token != "" || len(c.Color.TrustedCIDRs) > 0 {
		line("color", colorText(&c.Color))
	}
	line("")

	line("CENTER", "PRIMARY", "GATEWAY")
	for _, name := range sortedKeys(c.Centers) {
		ce := c.Centers[name]
		primary := ""
		if ce.Primary {
			primary = "primary"
		}
		if name == c.Center {
			name += " (this)"
		}
		line(name, primary, ce.Gateway)
	}
	line("")

	line("SERVICE", "LEVEL", "HOSTS", "TIMEOUT avg/hwm/max", "BREAKER", "RATE LIMIT", "CONCURRENCY", "FAILOVER", "HEALTH")
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		line(name, strconv.Itoa(s.Level), hostCounts(s.Upstreams),
			s.Timeout.Tavg.String()+"/"+s.Timeout.Thwm.String()+"/"+s.Timeout.Tmax.String(),
			breakerText(&s.Breaker), rateLimitText(s.RateLimit), concurrencyText(&s.Concurrency),
			failoverText(&s.Failover), healthText(&s.Health))
	}
	line("")

	if hasCaches(c.Services) {
		line("SERVICE", "CACHE", "DR CACHE", "FALLBACK")
		for _, name := range sortedKeys(c.Services) {
			s := c.Services[name]
			if s.Cache == nil && s.DRCache == nil && len(s.FallbackUpstreams) == 0 {
				continue
			}
			cache, dr := "-", "-"
			if s.Cache != nil {
				cache = s.Cache.TTL.String() + " " + strings.Join(s.Cache.Key, ",")
			}
			if s.DRCache != nil {
				dr = s.DRCache.TTL.String() + " " + strings.Join(s.DRCache.Key, ",")
			}
			line(name, cache, dr, orNone(strings.Join(s.FallbackUpstreams, ",")))
		}
		line("")
	}

	if hasShadow(c.Services) {
		line("SERVICE", "SHADOW")
		for _, name := range sortedKeys(c.Services) {
			s := c.Services[name]
			switch {
			case len(s.ShadowUpstreams) > 0:
				line(name, hostCounts(s.ShadowUpstreams))
			case s.Shadow != "":
				line(name, s.Shadow)
			}
		}
		line("")
	}

	line("ROUTE", "HOST", "PATH", "METHODS", "SERVICE", "LEVEL", "WRITE")
	for i, r := range c.Routes {
		level := "service"
		if r.Level != 0 {
			level = strconv.Itoa(r.Level)
		}
		write := ""
		if r.Write {
			write = "write"
		}
		line(strconv.Itoa(i), orAny(r.Host), r.Path, orAny(strings.Join(r.Methods, ",")), r.Service, level, write)
	}

	if len(c.Limits) > 0 {
		line("")
		line("LIMIT", "KEY", "RATE", "PATHS")
		for i, l := range c.Limits {
			line(strconv.Itoa(i), l.Key, strconv.Itoa(l.Limit)+"/"+l.Per.String(), orAny(strings.Join(l.Paths, ",")))
		}
	}
	if len(c.Block) > 0 {
		line("")
		line("BLOCK", "MATCH")
		for i, b := range c.Block {
			match := "ip in " + b.CIDR
			if b.Header != "" {
				match = "header " + b.Header + " ~ " + b.Pattern
			}
			line(strconv.Itoa(i), match)
		}
	}
}

func hostCounts(up map[string][]string) string {
	if len(up) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(up))
	for _, center := range sortedKeys(up) {
		parts = append(parts, center+"="+strconv.Itoa(len(up[center])))
	}
	return strings.Join(parts, " ")
}

func breakerText(b *Breaker) string {
	if b.Kind == "classic" {
		return fmt.Sprintf("classic ratio %g/%s", b.FailureRatio, b.Window)
	}
	return fmt.Sprintf("sre k=%g/%s", b.K, b.Window)
}

func rateLimitText(r *RateLimit) string {
	if r == nil {
		return "-"
	}
	if r.Scope == ScopeCluster {
		return fmt.Sprintf("%s %d/%s cluster", r.Algorithm, r.Limit, r.Per)
	}
	return fmt.Sprintf("%s %d/%s", r.Algorithm, r.Limit, r.Per)
}

// fleetText describes the fleet section on one line, without the password.
func fleetText(f *Fleet) string {
	r := &f.Redis
	where := "redis " + strings.Join(r.Addrs, ",")
	if r.MasterName != "" {
		where = "sentinels " + strings.Join(r.Addrs, ",") + " master " + r.MasterName
	}
	auth := "no password"
	if r.Password != "" {
		auth = "password set"
	}
	return fmt.Sprintf("%s db %d (%s), prefix %s, sync %s, op timeout %s, L1 %s",
		where, r.DB, auth, f.Prefix, f.SyncInterval, f.OpTimeout, f.CacheSize)
}

func hasCaches(services map[string]*Service) bool {
	for _, s := range services {
		if s.Cache != nil || s.DRCache != nil || len(s.FallbackUpstreams) > 0 {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func concurrencyText(c *Concurrency) string {
	limit := "no max"
	if c.Max > 0 {
		limit = "max " + strconv.Itoa(c.Max)
	}
	return limit + ", wait " + c.MaxWait.String()
}

func failoverText(f *Failover) string {
	if !Bool(f.Enabled, true) {
		return "off"
	}
	if len(f.On) == len(Reasons) && reflect.DeepEqual(sortedCopy(f.On), sortedCopy(Reasons)) {
		return "all reasons"
	}
	return strings.Join(f.On, ",")
}

func healthText(h *Health) string {
	if h.Path == "" {
		return "passive only"
	}
	return h.Path + " every " + h.Interval.String()
}

func onOff(b *bool) string {
	if Bool(b, true) {
		return "on"
	}
	return "off"
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func sortedCopy(s []string) []string {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return sortedKeys(m)
}

// tracingText describes the tracing section on one line, without the export headers.
func tracingText(t *Tracing) string {
	protocol, endpoint := t.Protocol, t.Endpoint
	if protocol == "" {
		protocol = "protocol from OTEL_*"
	}
	if endpoint == "" {
		endpoint = "endpoint from OTEL_*"
	}
	rate := DefaultTracingSampleRate
	if t.SampleRate != nil {
		rate = *t.SampleRate
	}
	return fmt.Sprintf("%s %s, sample %g", protocol, endpoint, rate)
}

// colorText describes who may send colors, without the token.
func colorText(c *Color) string {
	token := "no token"
	if c.Token != "" {
		token = "token set (" + c.TokenHeader + ")"
	}
	return token + ", trusted " + orNone(strings.Join(c.TrustedCIDRs, ","))
}

func hasShadow(services map[string]*Service) bool {
	for _, s := range services {
		if len(s.ShadowUpstreams) > 0 || s.Shadow != "" {
			return true
		}
	}
	return false
}
