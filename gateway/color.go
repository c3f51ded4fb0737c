package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// Traffic coloring and shadow routing (issue 7; SEEDS.md C4).
//
// A request's color is the Bulwark-Color header, or the W3C baggage member bulwark.color. At
// the entry, right after routing, colorEntry keeps it only when the request proves it may
// carry one: config color.token in color.token_header (compared in constant time, as SHA-256
// sums, so that not even the token's length leaks), or a peer address in color.trusted_cidrs.
// Otherwise both are stripped and bulwark_color_stripped_total counts the request. The token
// header is removed from every request, so it never reaches an upstream. A kept color is then
// routed:
//   - to a service with shadow_upstreams: only to the shadow hosts of this center, a pool of
//     its own with its own breakers, EMA timeout and retry windows, so load-test traffic
//     changes no production state (a failing shadow pool neither fails production requests
//     over nor stops the credit this gateway grants). When they fail, the request fails over
//     under the service's rules to the other center's gateway, color kept, where it again
//     goes only to shadow hosts. A center without shadow hosts fails every colored request
//     over (no_host);
//   - to a shadow: passthrough service: to the production hosts, color kept, for the safe
//     methods (GET, HEAD, OPTIONS, TRACE) only;
//   - otherwise: refused, 503 with Bulwark-Reject: no-shadow and Retry-After (fail closed).
//
// Colored requests never meet the proxy cache (lookup or store), the DR cache (record or
// lookup) or the fallback pool, passthrough ones included: an answer computed from shadow
// storage must not be served to production, and a load test must reach its backends. The
// traffic recorder skips them too: it samples real traffic. bulwark_colored_requests_total
// counts every kept color by service and result (shadow, passthrough, rejected).
//
// Decisions where the issue is silent:
//   - The header wins over baggage when both are present, as in httpmw. A color that came in
//     baggage alone is also set as Bulwark-Color, and every attempt of a colored request
//     sets Bulwark-Color last (after the hop-by-hop headers are dropped, so `Connection:
//     Bulwark-Color` cannot remove it), so the service's httpmw always sees it.
//   - An invalid color (color.Valid) is stripped even from a trusted peer: it is no color.
//     Only the first Bulwark-Color value counts; a kept one is rewritten as that one value.
//     Baggage keys are matched case-insensitively, values percent-decoded.
//   - Bulwark_Color (underscore) is removed from every request and counted as stripped:
//     CGI-style upstreams read it as Bulwark-Color.
//   - A colored request that says it comes from another gateway (Bulwark-Failover or
//     Bulwark-Instance) and cannot prove its color is refused with no-shadow instead of
//     stripped: stripping would send the other center's load test to production here. Such a
//     gateway's address belongs in trusted_cidrs.
//   - The refusal is counted with outcome blocked (a refusal by rule, like the block list; not
//     shed, which the overload alerts watch), and Retry-After is a minute: a retry helps only
//     after the config changes.
//   - Colored requests share the entry checks, rate limits and admission with production:
//     they load the gateway as the traffic they imitate would. Attempts at shadow hosts are
//     not in bulwark_upstream_duration_seconds, like the fallback pool's.

// headerColorSmuggle is the underscore spelling of Bulwark-Color as Go canonicalizes it.
const headerColorSmuggle = "Bulwark_color"

// headerBaggage is the W3C baggage header, canonical.
const headerBaggage = "Baggage"

// baggageColorKey is the baggage member that carries the color.
const baggageColorKey = "bulwark.color"

// rejNoShadow refuses a colored request that has nowhere safe to go.
var rejNoShadow = rejection{http.StatusServiceUnavailable, "no-shadow", metrics.OutcomeBlocked, time.Minute}

// colorGate decides whether a request may keep its color. It is part of entryRules, so it
// reloads with the config.
type colorGate struct {
	tokenHeader string   // canonical
	tokenSum    [32]byte // SHA-256 of color.token
	hasToken    bool
	trusted     []netip.Prefix
}

func newColorGate(c config.Color) (colorGate, error) {
	g := colorGate{tokenHeader: http.CanonicalHeaderKey(c.TokenHeader)}
	if g.tokenHeader == "" {
		g.tokenHeader = config.DefaultColorTokenHeader // a config built in memory
	}
	if c.Token != "" {
		g.tokenSum, g.hasToken = sha256.Sum256([]byte(c.Token)), true
	}
	for i, s := range c.TrustedCIDRs {
		pfx, ok := config.ParsePrefix(s)
		if !ok {
			return colorGate{}, fmt.Errorf("color.trusted_cidrs[%d]: %q is not a CIDR or IP address", i, s)
		}
		g.trusted = append(g.trusted, pfx)
	}
	return g, nil
}

// proves reports whether a request from r's peer that sent token in the token header may
// carry a color.
func (cg *colorGate) proves(r *http.Request, token string) bool {
	if cg.hasToken && token != "" {
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], cg.tokenSum[:]) == 1 {
			return true
		}
	}
	if len(cg.trusted) == 0 {
		return false
	}
	ip := clientIP(r)
	if !ip.IsValid() {
		return false
	}
	for _, p := range cg.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// colorEntry applies the color rules to r right after routing (see the comment at the top of
// this file): it strips an unproven color, sets x.color and x.shadow for a kept one, and
// refuses a kept color that has nowhere to go. It reports false when it answered r.
func (g *Gateway) colorEntry(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	gate, h := &x.st.entry.color, r.Header
	token := ""
	if v, ok := h[gate.tokenHeader]; ok {
		if len(v) > 0 {
			token = v[0]
		}
		delete(h, gate.tokenHeader)
	}
	hv, inHeader := h[color.Header]
	bv, hasBaggage := h[headerBaggage]
	_, smuggled := h[headerColorSmuggle]
	if !inHeader && !hasBaggage && !smuggled {
		return true
	}
	delete(h, headerColorSmuggle)
	c, inBaggage := "", false
	if hasBaggage {
		c, inBaggage = baggageColor(bv)
	}
	if inHeader {
		c = ""
		if len(hv) > 0 {
			c = hv[0]
		}
	}
	if !inHeader && !inBaggage {
		if smuggled { // the underscore spelling alone
			g.metrics.ColorStripped().Inc()
		}
		return true
	}
	proven := gate.proves(r, token)
	if !color.Valid(c) || !proven && !fromGateway(r, x) {
		delete(h, color.Header)
		if inBaggage {
			if rest := stripBaggage(bv); len(rest) > 0 {
				h[headerBaggage] = rest
			} else {
				delete(h, headerBaggage)
			}
		}
		g.metrics.ColorStripped().Inc()
		return true
	}
	x.color = c
	svc := x.route.svc
	switch {
	case !proven: // another gateway's colored request that this gateway does not trust
	case svc.shadow != nil:
		x.shadow = svc.shadow
		svc.colored[coloredShadow].Inc()
		setColorHeader(h, c)
		return true
	case svc.cfg.Shadow == config.ShadowPassthrough && safeMethod(r.Method):
		svc.colored[coloredPassthrough].Inc()
		setColorHeader(h, c)
		return true
	}
	svc.colored[coloredRejected].Inc()
	g.reject(w, x, rejNoShadow)
	return false
}

// fromGateway reports whether r says it comes from another center's gateway: a failover, or
// a write forwarded to the primary.
func fromGateway(r *http.Request, x *exchange) bool {
	return x.from != "" || len(r.Header[HeaderInstance]) > 0
}

// setColorHeader makes c the one value of Bulwark-Color.
func setColorHeader(h http.Header, c string) {
	if v := h[color.Header]; len(v) != 1 || v[0] != c {
		h[color.Header] = []string{c}
	}
}

// safeMethod reports whether m is a method that reads only (RFC 9110 safe methods).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// baggageColor returns the value of the first bulwark.color member in the baggage header
// values (percent-decoded; "" when it cannot be decoded), and whether there is one. It does
// not allocate unless the value is percent-encoded.
func baggageColor(values []string) (string, bool) {
	for _, v := range values {
		for rest := v; rest != ""; {
			var member string
			member, rest, _ = strings.Cut(rest, ",")
			key, val, _ := strings.Cut(member, "=")
			if !strings.EqualFold(strings.TrimSpace(key), baggageColorKey) {
				continue
			}
			val, _, _ = strings.Cut(val, ";") // properties follow the value
			val = strings.TrimSpace(val)
			if strings.IndexByte(val, '%') >= 0 {
				dec, err := url.PathUnescape(val)
				if err != nil {
					return "", true
				}
				val = dec
			}
			return val, true
		}
	}
	return "", false
}

// stripBaggage returns the baggage header values without their bulwark.color members, leaving
// out values that hold nothing else. It allocates only when there is something to remove.
func stripBaggage(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		var kept []string
		for rest := v; rest != ""; {
			var member string
			member, rest, _ = strings.Cut(rest, ",")
			key, _, _ := strings.Cut(member, "=")
			if strings.EqualFold(strings.TrimSpace(key), baggageColorKey) || strings.TrimSpace(member) == "" {
				continue
			}
			kept = append(kept, strings.TrimSpace(member))
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, ","))
		}
	}
	return out
}

// withColor returns hdrs plus Bulwark-Color for a colored request, for the headers an
// attempt sets last; hdrs itself for an uncolored one. It allocates only for a colored one.
func withColor(hdrs [][2]string, x *exchange) [][2]string {
	if x.color == "" {
		return hdrs
	}
	return append(hdrs[:len(hdrs):len(hdrs)], [2]string{color.Header, x.color})
}

// setColor makes sc.req carry Bulwark-Color for a colored request, in sc's own memory, so
// that a colored attempt at a host allocates nothing more than an uncolored one.
func (sc *scratch) setColor(x *exchange) {
	if x.color == "" {
		return
	}
	hdrs := sc.req.SetHeader
	if len(hdrs) >= len(sc.set) {
		sc.req.SetHeader = withColor(hdrs, x)
		return
	}
	n := copy(sc.set[:], hdrs)
	sc.set[n] = [2]string{color.Header, x.color}
	sc.req.SetHeader = sc.set[:n+1]
}

// cacheKey is r's proxy cache key for svc, or "" when r is not cached: colored requests never
// meet the caches.
func (x *exchange) cacheKey(svc *service, r *http.Request) string {
	if x.color != "" {
		return ""
	}
	k, _ := svc.fleet.cacheKeyOf(svc.name, r)
	return k
}

// drSignature is r's DR signature for svc, or "" when r has none or is colored.
func (x *exchange) drSignature(svc *service, r *http.Request) string {
	if x.color != "" {
		return ""
	}
	sig, _ := svc.fleet.drSignature(r)
	return sig
}

// Indexes of service.colored, by result.
const (
	coloredShadow = iota
	coloredPassthrough
	coloredRejected
)

// coloredCounters resolves the service's bulwark_colored_requests_total series, exported at 0.
func coloredCounters(m *metrics.Metrics, service string) [3]prometheus.Counter {
	return [3]prometheus.Counter{
		m.Colored(service, metrics.ColorShadow),
		m.Colored(service, metrics.ColorPassthrough),
		m.Colored(service, metrics.ColorRejected),
	}
}

// shadowPool is where a service's colored requests go: this center's shadow hosts, with
// an EMA timeout and retry windows of their own, so that load-test traffic changes no
// production state.
type shadowPool struct {
	pool    *upstream.Pool // this center's shadow hosts; nil when it has none
	timeout *timeout.Dynamic
	windows map[string]*retry.Window // one per remote center
}

// shadowHosts is the service's pool of shadow hosts in this center, or nil.
func (s *service) shadowHosts() *upstream.Pool {
	if s.shadow == nil {
		return nil
	}
	return s.shadow.pool
}

// newShadowPool makes sc's shadow pool, or nil when sc has no shadow hosts in any center.
func newShadowPool(g *Gateway, cfg *config.Config, sc *config.Service) (*shadowPool, error) {
	has := false
	for _, hosts := range sc.ShadowUpstreams {
		has = has || len(hosts) > 0
	}
	if !has {
		return nil, nil
	}
	sp := &shadowPool{}
	if hosts := sc.ShadowUpstreams[cfg.Center]; len(hosts) > 0 {
		pool, err := upstream.New(upstream.Options{
			Service: sc.Name, Center: cfg.Center, Hosts: hosts,
			Breaker: sc.Breaker, Health: sc.Health, Passive: sc.Passive, Policy: sc.Balancer.Policy,
			Clock: g.clkOpt, OnStateChange: g.hostStateChanged(sc.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("shadow_upstreams: %w", err)
		}
		sp.pool = pool
	}
	var err error
	if sp.timeout, err = newTimeout(g, sc); err != nil {
		return nil, fmt.Errorf("shadow timeout: %w", err)
	}
	if sp.windows, err = newRetryWindows(g, cfg); err != nil {
		return nil, err
	}
	return sp, nil
}

func (sp *shadowPool) start() {
	if sp != nil && sp.pool != nil {
		sp.pool.Start()
	}
}

func (sp *shadowPool) stop() {
	if sp != nil && sp.pool != nil {
		sp.pool.Stop()
	}
}

// windowsFor returns the retry windows x's failovers use: the shadow pool's for a request
// sent to shadow hosts, the service's for any other.
func (s *service) windowsFor(x *exchange) map[string]*retry.Window {
	if x.shadow != nil {
		return x.shadow.windows
	}
	return s.windows
}
