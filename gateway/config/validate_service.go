package config

import (
	"strings"
	"time"
)

// defaultFailoverMethods are the idempotent methods, which may be replayed in another center.
var defaultFailoverMethods = []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}

// validateServices fills and checks every service. used says how routes use each service,
// which decides the center that must have its hosts.
func (c *Config) validateServices(p *problems, used map[string]usage, primary string) {
	if len(c.Services) == 0 && len(c.Routes) > 0 {
		p.add("services", "at least one service is required; the routes name services")
	}
	for _, name := range sortedKeys(c.Services) {
		path := join("services", name)
		s := c.Services[name]
		if s == nil {
			s = &Service{}
			c.Services[name] = s
		}
		s.Name = name
		checkName(p, path, "service", name)
		defInt(&s.Level, 1)
		if s.Level > 4 {
			p.add(join(path, "level"), "level %d is outside 1..4; 1 is the most important, 4 the least", s.Level)
		}
		c.validateUpstreams(p, path, s, used[name], primary)
		validateTimeout(p, join(path, "timeout"), &s.Timeout)
		validateBreaker(p, join(path, "breaker"), &s.Breaker)
		validateFailover(p, join(path, "failover"), &s.Failover)
		if s.RateLimit != nil {
			validateRateLimit(p, join(path, "rate_limit"), s.RateLimit, c.Fleet != nil)
		}
		defDur(&s.Concurrency.MaxWait, 500*time.Millisecond)
		defInt(&s.Concurrency.Queue, 128)
		validateHealth(p, join(path, "health"), &s.Health)
		validateDegrade(p, join(path, "degrade"), &s.Degrade)
		defStr(&s.Balancer.Policy, "p2c_ewma")
		if !oneOf(s.Balancer.Policy, "p2c_ewma", "round_robin") {
			p.add(join(path, "balancer.policy"), "unknown policy %q; write p2c_ewma or round_robin", s.Balancer.Policy)
		}
		ps := &s.Passive
		defInt(&ps.ConsecutiveFailures, 3)
		defFloat(&ps.ErrorRatio, 0.5)
		checkShare(p, join(path, "passive.error_ratio"), ps.ErrorRatio)
		defInt(&ps.MinRequests, 10)
		defDur(&ps.Window, 2*time.Second)
		defDur(&ps.OverloadFor, time.Second)
		validateServiceFleet(p, path, s)
		c.validateShadow(p, path, s, used[name])
	}
	c.checkShadowHosts(p)
}

// checkCenterHosts checks a map of center → hosts (upstreams, shadow_upstreams): every center
// is known and every host list is valid.
func (c *Config) checkCenterHosts(p *problems, path string, hosts map[string][]string, example string) {
	for _, center := range sortedKeys(hosts) {
		cpath := join(path, center)
		if _, ok := c.Centers[center]; !ok && len(c.Centers) > 0 {
			p.add(cpath, "unknown center %q; known centers: %s", center, strings.Join(sortedKeys(c.Centers), ", "))
		}
		checkHostList(p, cpath, hosts[center], example)
	}
}

// validateUpstreams checks a service's hosts, and that the center that serves it has some: the
// primary for a service that only write routes use, this gateway's center for any other.
func (c *Config) validateUpstreams(p *problems, path string, s *Service, u usage, primary string) {
	up := join(path, "upstreams")
	c.checkCenterHosts(p, up, s.Upstreams, "10.0.0.5:8080")
	need, why := c.Center, "this gateway's center"
	if u.write && !u.read {
		need, why = primary, "the primary center; a service that only write routes use is served there"
	}
	if _, known := c.Centers[need]; need == "" || !known {
		return // reported at center, or at the write routes
	}
	if len(s.Upstreams[need]) == 0 {
		p.add(up, "no hosts in center %s (%s); write upstreams: {%s: [HOST:PORT, ...]}", need, why, need)
	}
}

// validateTimeout fills and checks the EMA timeout: 0 < tavg < thwm ≤ tmax, n ≥ 1.
func validateTimeout(p *problems, path string, t *Timeout) {
	defDur(&t.Tavg, 60*time.Millisecond)
	defDur(&t.Thwm, 250*time.Millisecond)
	defDur(&t.Tmax, 500*time.Millisecond)
	defInt(&t.N, 50)
	switch {
	case t.Tavg >= t.Thwm:
		p.add(join(path, "tavg"), "tavg %s must be less than thwm %s (0 < tavg < thwm ≤ tmax)", t.Tavg, t.Thwm)
	case t.Thwm > t.Tmax:
		p.add(join(path, "tmax"), "tmax %s must be at least thwm %s (0 < tavg < thwm ≤ tmax)", t.Tmax, t.Thwm)
	}
}

// validateBreaker fills and checks a breaker. The settings of the other kind are errors, so
// that a switch of kind does not silently keep settings that no longer apply.
func validateBreaker(p *problems, path string, b *Breaker) {
	defStr(&b.Kind, "sre")
	defDur(&b.Window, 10*time.Second)
	defInt(&b.MinRequests, 20)
	switch b.Kind {
	case "sre":
		defFloat(&b.K, 1.5)
		if b.K < 1 {
			p.add(join(path, "k"), "%g is less than 1; K below 1 drops requests even when all succeed (typical 1.5..2)", b.K)
		}
		classicOnly := []struct {
			key string
			set bool
		}{{"failure_ratio", b.FailureRatio != 0}, {"open_timeout", b.OpenTimeout != 0}, {"half_open_requests", b.HalfOpenRequests != 0}}
		for _, f := range classicOnly {
			if f.set {
				p.add(join(path, f.key), "applies only to kind classic; remove it or set kind: classic")
			}
		}
	case "classic":
		if b.K != 0 {
			p.add(join(path, "k"), "applies only to kind sre; remove it or set kind: sre")
		}
		defFloat(&b.FailureRatio, 0.5)
		checkShare(p, join(path, "failure_ratio"), b.FailureRatio)
		defDur(&b.OpenTimeout, 5*time.Second)
		defInt(&b.HalfOpenRequests, 5)
	default:
		p.add(join(path, "kind"), "unknown breaker kind %q; write sre or classic", b.Kind)
	}
}

// validateFailover fills and checks the failover reasons and methods.
func validateFailover(p *problems, path string, f *Failover) {
	defBool(&f.Enabled, true)
	if len(f.On) == 0 {
		f.On = append([]string(nil), Reasons...)
	}
	for i, r := range f.On {
		if !oneOf(r, Reasons...) {
			p.add(index(join(path, "on"), i), "unknown failover reason %q; write any of %s", r, strings.Join(Reasons, ", "))
		}
	}
	if len(f.Methods) == 0 {
		f.Methods = append([]string(nil), defaultFailoverMethods...)
	}
	for i, m := range f.Methods {
		f.Methods[i] = strings.ToUpper(m)
		checkMethod(p, index(join(path, "methods"), i), m)
	}
}

// validateRateLimit fills and checks a route rate limit. hasFleet says whether the config
// has a fleet section, which scope cluster needs.
func validateRateLimit(p *problems, path string, r *RateLimit, hasFleet bool) {
	defStr(&r.Algorithm, "sliding_window")
	if !oneOf(r.Algorithm, "sliding_window", "fixed_window", "token_bucket", "leaky_bucket") {
		p.add(join(path, "algorithm"), "unknown algorithm %q; write sliding_window, fixed_window, token_bucket or leaky_bucket", r.Algorithm)
	}
	if r.Limit == 0 {
		p.add(join(path, "limit"), "required, > 0: the requests allowed per period (per, default 1s)")
	}
	defDur(&r.Per, time.Second)
	if r.Algorithm == "token_bucket" {
		defInt(&r.Burst, r.Limit)
	} else if r.Burst != 0 {
		p.add(join(path, "burst"), "applies only to algorithm token_bucket; remove it")
	}
	checkRateLimitScope(p, path, r, hasFleet)
}

// validateHealth fills and checks active health checking.
func validateHealth(p *problems, path string, h *Health) {
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		p.add(join(path, "path"), "%q does not start with /; write the probe path, e.g. /healthz", h.Path)
	}
	defDur(&h.Interval, time.Second)
	defDur(&h.Timeout, 500*time.Millisecond)
	defInt(&h.UnhealthyAfter, 2)
	defInt(&h.HealthyAfter, 2)
	if h.MaxEjected == 0 {
		h.MaxEjected = 0.5
	}
	if h.MaxEjected > 1 {
		p.add(join(path, "max_ejected"), "%s is over 100%%; write a share such as 50%% or 0.5", h.MaxEjected)
	}
}

// validateDegrade fills and checks the degrade switch and its fallback.
func validateDegrade(p *problems, path string, d *Degrade) {
	if d.Pass == nil {
		one := 1.0
		d.Pass = &one
	}
	if *d.Pass > 1 {
		p.add(join(path, "pass"), "%g is outside [0, 1]; write the share of calls that go ahead (1 = all, 0 = service off)", *d.Pass)
	}
	if f := d.Fallback; f != nil {
		defInt(&f.Status, 200)
		if f.Status < 200 || f.Status > 599 {
			p.add(join(path, "fallback.status"), "%d is not a final HTTP status; write 200..599", f.Status)
		}
		for name := range f.Headers {
			checkHeaderName(p, join(join(path, "fallback.headers"), name), name)
		}
	}
}
