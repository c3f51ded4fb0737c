package config

import (
	"strings"
)

// validateShadow checks a service's shadow and shadow_upstreams (SEEDS.md C4). u says how
// routes use the service: a passthrough service must be read-only.
func (c *Config) validateShadow(p *problems, path string, s *Service, u usage) {
	s.Shadow = strings.ToLower(s.Shadow)
	spath := join(path, "shadow")
	switch {
	case s.Shadow != "" && s.Shadow != ShadowPassthrough:
		p.add(spath, "unknown value %q; write passthrough (a read-only service whose production hosts take colored requests) or leave it out", s.Shadow)
	case s.Shadow == ShadowPassthrough && len(s.ShadowUpstreams) > 0:
		p.add(spath, "passthrough is for a service without shadow_upstreams, whose colored requests would be refused; with shadow hosts they go there: remove one of the two")
	case s.Shadow == ShadowPassthrough && u.write:
		p.add(spath, "passthrough is for read-only services, and a write route (write: true) names %s, so colored writes would reach production; give it shadow_upstreams instead", s.Name)
	}
	c.checkCenterHosts(p, join(path, "shadow_upstreams"), s.ShadowUpstreams, "10.0.9.5:8080")
}

// checkShadowHosts reports every shadow host that is also a production host, of any service:
// colored requests sent there would reach production.
func (c *Config) checkShadowHosts(p *problems) {
	prod := map[string]string{} // host -> the key path that makes it a production host
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		for _, center := range sortedKeys(s.Upstreams) {
			for i, h := range s.Upstreams[center] {
				if _, ok := prod[h]; !ok {
					prod[h] = index(join(join(join("services", name), "upstreams"), center), i)
				}
			}
		}
		for i, h := range s.FallbackUpstreams {
			if _, ok := prod[h]; !ok {
				prod[h] = index(join(join("services", name), "fallback_upstreams"), i)
			}
		}
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		for _, center := range sortedKeys(s.ShadowUpstreams) {
			for i, h := range s.ShadowUpstreams[center] {
				if where, ok := prod[h]; ok {
					p.add(index(join(join(join("services", name), "shadow_upstreams"), center), i),
						"%q is a production host (%s); a shadow host takes only colored requests, so it must not be one", h, where)
				}
			}
		}
	}
}
